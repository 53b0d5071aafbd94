//! Lexer, parser, syntax tree and errors of Personalize filter expressions.
//!
//! [`FilterExpr::parse`] turns the text given to CreateFilter into a validated tree. Everything AWS
//! documents as invalid is rejected here, once, so that binding and per-item evaluation never meet a
//! malformed tree. Every error carries the 0-based character offset of the offending token and a reason
//! that says what to write instead.

use std::fmt;

/// Longest filter expression CreateFilter accepts, in characters (`filterExpression` length constraint).
pub const MAX_EXPRESSION_CHARS: usize = 2500;
/// Most distinct dataset fields one filter may use, across all of its expressions (Personalize guideline).
pub const MAX_DISTINCT_FIELDS: usize = 10;
/// Most placeholder parameters one filter may have: GetRecommendations' `filterValues` map holds at
/// most 25 entries, so a filter with more could never be given all its values.
pub const MAX_PARAMETERS: usize = 25;
/// Longest parameter name, in characters (the `filterValues` key length constraint).
pub const MAX_PARAMETER_NAME_CHARS: usize = 50;
/// Longest `filterValues` value, in characters (the `filterValues` value length constraint).
pub const MAX_PARAMETER_VALUE_CHARS: usize = 1000;
/// Deepest nesting of parenthesised conditions; the grammar is recursive, and a bound keeps hostile input
/// from exhausting the stack.
pub const MAX_NESTING: usize = 32;

/// Fields of the Actions dataset that Personalize applies by itself and that filters can't use.
const AUTOMATIC_ACTION_FIELDS: [&str; 2] = ["ACTION_EXPIRATION_TIMESTAMP", "REPEAT_FREQUENCY"];

/// Why a filter expression or its parameter values were rejected.
///
/// One type serves both CreateFilter (expression errors, with a position) and recommendation requests
/// (parameter errors, naming the parameter), because both end up as an `InvalidInputException`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    position: Option<usize>,
    parameter: Option<String>,
    reason: String,
}

impl FilterError {
    /// An error in the expression text at character `position` (0-based).
    pub(crate) fn at(position: usize, reason: impl Into<String>) -> FilterError {
        FilterError { position: Some(position), parameter: None, reason: reason.into() }
    }

    /// An error in the value given for parameter `name` (without the `$`).
    pub(crate) fn parameter(name: &str, reason: impl Into<String>) -> FilterError {
        FilterError { position: None, parameter: Some(name.to_string()), reason: reason.into() }
    }

    /// An error in the filter values as a whole.
    pub(crate) fn values(reason: impl Into<String>) -> FilterError {
        FilterError { position: None, parameter: None, reason: reason.into() }
    }

    /// The 0-based character offset into the expression, for errors in the expression text.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The parameter (without `$`) whose value is at fault, for errors in filter values.
    pub fn parameter_name(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// What is wrong and what to do instead, without the position prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.position, &self.parameter) {
            (Some(p), _) => write!(f, "at {p}: {}", self.reason),
            (None, Some(name)) => write!(f, "parameter ${name}: {}", self.reason),
            (None, None) => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for FilterError {}

/// Whether an expression keeps or removes what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `INCLUDE`: recommend only what matches (together with other INCLUDE expressions).
    Include,
    /// `EXCLUDE`: never recommend what matches.
    Exclude,
}

/// What a filter filters: the element after INCLUDE/EXCLUDE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `ItemID`: items in item recommendations.
    Item,
    /// `UserID`: users in user segments.
    User,
    /// `ActionID`: actions in action recommendations.
    Action,
}

impl Target {
    /// The keyword as AWS spells it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Item => "ItemID",
            Target::User => "UserID",
            Target::Action => "ActionID",
        }
    }

    fn from_word(word: &str) -> Option<Target> {
        [Target::Item, Target::User, Target::Action].into_iter().find(|t| t.name().eq_ignore_ascii_case(word))
    }
}

/// The dataset part of `dataset.field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    /// `Items`: the candidate item's metadata.
    Items,
    /// `Users`: the candidate user's metadata (user segments).
    Users,
    /// `Interactions`: the item interactions dataset; only `EVENT_TYPE` can be filtered.
    Interactions,
    /// `Actions`: the candidate action's metadata.
    Actions,
    /// `Action_Interactions`: the action interactions dataset; only `EVENT_TYPE` can be filtered.
    ActionInteractions,
    /// `CurrentItem`: the item a related-items request names (an Items record), used as a value.
    CurrentItem,
    /// `CurrentUser`: the user a recommendation is for (a Users record), used in IF conditions.
    CurrentUser,
}

impl Dataset {
    const ALL: [Dataset; 7] = [
        Dataset::Items,
        Dataset::Users,
        Dataset::Interactions,
        Dataset::Actions,
        Dataset::ActionInteractions,
        Dataset::CurrentItem,
        Dataset::CurrentUser,
    ];

    /// The name as written in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Items => "Items",
            Dataset::Users => "Users",
            Dataset::Interactions => "Interactions",
            Dataset::Actions => "Actions",
            Dataset::ActionInteractions => "Action_Interactions",
            Dataset::CurrentItem => "CurrentItem",
            Dataset::CurrentUser => "CurrentUser",
        }
    }

    /// The dataset whose records a reference reads: `CurrentItem` is an Items record and `CurrentUser` a
    /// Users record. Field limits and schema checks count fields by this.
    pub fn stored(self) -> Dataset {
        match self {
            Dataset::CurrentItem => Dataset::Items,
            Dataset::CurrentUser => Dataset::Users,
            other => other,
        }
    }

    /// Whether this is an interactions dataset, where only `EVENT_TYPE` can be filtered.
    pub fn is_interactions(self) -> bool {
        matches!(self, Dataset::Interactions | Dataset::ActionInteractions)
    }

    /// Dataset names are a fixed vocabulary, so like keywords they match regardless of case.
    fn from_word(word: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.name().eq_ignore_ascii_case(word))
    }
}

/// A field of a dataset, as `dataset.field`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldRef {
    /// The dataset.
    pub dataset: Dataset,
    /// The field name, case-sensitive as in the schema (`EVENT_TYPE` is normalised to upper case).
    pub name: String,
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.dataset.name(), self.name)
    }
}

/// The operator of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `IN`: some value of the field is in the list.
    In,
    /// `NOT IN`: no value of the field is in the list.
    NotIn,
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl Op {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether this is `IN` or `NOT IN` (as opposed to a comparison).
    pub fn is_membership(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }

    /// Whether this orders numbers (`<`, `<=`, `>`, `>=`), which only makes sense for numbers.
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

/// A fixed value written in the expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A double-quoted string, e.g. `"shoes"`.
    Text(String),
    /// An unquoted number, e.g. `18` or `9.99`.
    Number(f64),
}

/// The right-hand side of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// Fixed values: the list of `IN (...)`, or the single value of a comparison.
    Values(Vec<Literal>),
    /// `("*")`: every event type (only for `EVENT_TYPE`).
    AllEventTypes,
    /// `$NAME` (the name is stored without `$`): values given with each request.
    Parameter(String),
    /// `CurrentItem.FIELD` (the field name): values of the item a related-items request names.
    CurrentItem(String),
}

/// One condition: `dataset.field OP operand`.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    /// The field tested.
    pub field: FieldRef,
    /// The operator.
    pub op: Op,
    /// What the field is tested against.
    pub operand: Operand,
    /// Character offset of the field in the expression text.
    pub position: usize,
}

/// Conditions joined by AND and OR (AND binds tighter; parentheses group).
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// One condition.
    Predicate(Predicate),
    /// All must hold.
    And(Vec<Condition>),
    /// At least one must hold.
    Or(Vec<Condition>),
}

impl Condition {
    /// Every condition, left to right.
    pub fn predicates(&self) -> Vec<&Predicate> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Predicate>) {
        match self {
            Condition::Predicate(p) => out.push(p),
            Condition::And(parts) | Condition::Or(parts) => parts.iter().for_each(|c| c.collect(out)),
        }
    }
}

/// One `INCLUDE|EXCLUDE target WHERE condition [IF guard]` expression of a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    /// INCLUDE or EXCLUDE.
    pub action: Action,
    /// What is filtered.
    pub target: Target,
    /// The WHERE condition.
    pub condition: Condition,
    /// The `IF CurrentUser...` conditions (joined by AND); empty when there is no IF. The expression
    /// applies only to users for whom all of them hold.
    pub guard: Vec<Predicate>,
    /// Character offset of the expression's first keyword.
    pub position: usize,
}

impl Expression {
    /// Whether this is an INCLUDE expression.
    pub fn is_include(&self) -> bool {
        self.action == Action::Include
    }

    /// Whether this is an EXCLUDE expression.
    pub fn is_exclude(&self) -> bool {
        self.action == Action::Exclude
    }

    /// Every condition: the WHERE conditions, then the IF conditions.
    pub fn predicates(&self) -> Vec<&Predicate> {
        let mut out = self.condition.predicates();
        out.extend(self.guard.iter());
        out
    }

    /// Names (without `$`) of the parameters this expression uses, in order of first use.
    pub fn parameters(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in self.predicates() {
            if let Operand::Parameter(name) = &p.operand {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        out
    }
}

/// A parsed and validated filter expression: one or more expressions joined by `|`.
///
/// Parse once at CreateFilter, keep it with the filter, and [`bind`](FilterExpr::bind) it to each
/// request's filter values.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterExpr {
    text: String,
    expressions: Vec<Expression>,
}

impl FilterExpr {
    /// Parses and validates `text`, reporting the first problem with its character position.
    pub fn parse(text: &str) -> Result<FilterExpr, FilterError> {
        let chars = text.chars().count();
        if chars > MAX_EXPRESSION_CHARS {
            return Err(FilterError::at(
                MAX_EXPRESSION_CHARS,
                format!(
                    "a filter expression can be at most {MAX_EXPRESSION_CHARS} characters long; this one has {chars}"
                ),
            ));
        }
        let tokens = lex(text)?;
        let mut parser = Parser { tokens, i: 0, first_dataset: None, params: Vec::new(), fields: Vec::new() };
        let expressions = parser.filter()?;
        Ok(FilterExpr { text: text.to_string(), expressions })
    }

    /// The expression text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The expressions joined by `|`, in order.
    pub fn expressions(&self) -> &[Expression] {
        &self.expressions
    }

    /// What the filter filters (all expressions of a filter share it).
    pub fn target(&self) -> Target {
        self.expressions.first().map_or(Target::Item, |e| e.target)
    }

    /// Names (without `$`) of all placeholder parameters, in order of first use: the keys a request's
    /// `filterValues` may carry.
    pub fn parameters(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in self.expressions.iter().flat_map(Expression::parameters) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// The distinct dataset fields the filter reads, by stored dataset (`CurrentItem.X` counts as
    /// `Items.X`, `CurrentUser.X` as `Users.X`), in order of first use. The engine checks them against the
    /// schemas at CreateFilter: Personalize rejects unknown fields, boolean fields and textual fields.
    pub fn fields(&self) -> Vec<FieldRef> {
        let mut out: Vec<FieldRef> = Vec::new();
        for p in self.expressions.iter().flat_map(Expression::predicates) {
            let mut refs = vec![FieldRef { dataset: p.field.dataset.stored(), name: p.field.name.clone() }];
            if let Operand::CurrentItem(name) = &p.operand {
                refs.push(FieldRef { dataset: Dataset::Items, name: name.clone() });
            }
            for r in refs {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Whether evaluation asks [`interacted`](crate::filter::FilterContext::interacted): the engine then
    /// needs the requesting user's (or candidate user's) event history.
    pub fn needs_interactions(&self) -> bool {
        self.expressions.iter().flat_map(Expression::predicates).any(|p| p.field.dataset.is_interactions())
    }

    /// Whether the filter uses `CurrentItem`, which only related-items requests have: Personalize only
    /// applies such filters to related-items recipes.
    pub fn needs_current_item(&self) -> bool {
        self.expressions.iter().flat_map(Expression::predicates).any(|p| matches!(p.operand, Operand::CurrentItem(_)))
    }

    /// Whether the filter has IF conditions on `CurrentUser`, so the engine needs the user's record.
    pub fn needs_current_user(&self) -> bool {
        self.expressions.iter().any(|e| !e.guard.is_empty())
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a number the way the expression grammar writes one: `-?digits(.digits)?([eE][+-]?digits)?`,
/// finite. Used for quoted values too, so `"10"` from `filterValues` compares with numeric fields, while
/// Rust's own parser would also accept `inf`, `NaN` or `+5`.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

// ---------------------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Param(String),
    LParen,
    RParen,
    Comma,
    Dot,
    Pipe,
    Star,
    Cmp(Op),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Character offset of the first character.
    pos: usize,
    /// The characters as written, for messages.
    text: String,
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '|' => Tok::Pipe,
            '*' => Tok::Star,
            '=' if at(i) == Some('=') => {
                return Err(FilterError::at(start, "use = (one equals sign) to compare for equality"));
            }
            '=' => Tok::Cmp(Op::Eq),
            '!' if at(i) == Some('=') => {
                i += 1;
                Tok::Cmp(Op::Ne)
            }
            '!' => return Err(FilterError::at(start, "unexpected !; write != for not equal, or NOT IN for lists")),
            '<' if at(i) == Some('>') => return Err(FilterError::at(start, "use != for not equal")),
            '<' if at(i) == Some('=') => {
                i += 1;
                Tok::Cmp(Op::Le)
            }
            '<' => Tok::Cmp(Op::Lt),
            '>' if at(i) == Some('=') => {
                i += 1;
                Tok::Cmp(Op::Ge)
            }
            '>' => Tok::Cmp(Op::Gt),
            '"' => {
                let (value, next) = lex_string(&chars, start)?;
                i = next;
                Tok::Str(value)
            }
            '\'' => return Err(FilterError::at(start, "write values in double quotes, e.g. (\"shoes\")")),
            '\u{201C}' | '\u{201D}' | '\u{2018}' | '\u{2019}' => {
                return Err(FilterError::at(start, "curly quotes aren't quotes here; use straight double quotes (\")"));
            }
            '$' => {
                while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    i += 1;
                }
                let name: String = chars[start + 1..i].iter().collect();
                if name.is_empty() {
                    return Err(FilterError::at(
                        start,
                        "expected a parameter name after $ (letters, digits and _), e.g. $GENRE",
                    ));
                }
                if name.chars().count() > MAX_PARAMETER_NAME_CHARS {
                    return Err(FilterError::at(
                        start,
                        format!("parameter names can be at most {MAX_PARAMETER_NAME_CHARS} characters long"),
                    ));
                }
                Tok::Param(name)
            }
            c if c == '-' || c.is_ascii_digit() => {
                while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')) {
                    // Take the longest run that could belong to the number (including an exponent's sign),
                    // then validate it as a whole, so `12abc` or `1.2.3` is one clear error.
                    if matches!(at(i), Some('+' | '-')) && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                let written: String = chars[start..i].iter().collect();
                match parse_number(&written) {
                    Some(v) => Tok::Num(v),
                    None if written == "-" => {
                        return Err(FilterError::at(start, "expected a number after -"));
                    }
                    None => {
                        return Err(FilterError::at(
                            start,
                            format!("{written} is not a number; write numbers like 18, -2 or 9.99"),
                        ));
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
            other => return Err(FilterError::at(start, format!("unexpected character {other:?}"))),
        };
        out.push(Token { tok, pos: start, text: chars[start..i].iter().collect() });
    }
    out.push(Token { tok: Tok::Eof, pos: chars.len(), text: String::new() });
    Ok(out)
}

/// Reads the string starting at the `"` at `start`; returns its value and the offset after the closing quote.
fn lex_string(chars: &[char], start: usize) -> Result<(String, usize), FilterError> {
    scan_quoted(chars, start).ok_or_else(|| FilterError::at(start, "unterminated string; add the closing \""))
}

/// Reads the quoted string starting at the `"` at `start` (in expressions and in `filterValues` alike);
/// returns its value and the offset after the closing quote, or `None` if it is never closed. `\"` and `\\`
/// are the only escapes; any other backslash is kept, so Windows-like paths survive.
pub(crate) fn scan_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return None,
            Some('"') => return Some((value, i + 1)),
            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                value.push(chars[i + 1]);
                i += 2;
            }
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parser

/// Where a condition stands: the WHERE part or the IF part of an expression.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Where,
    If,
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    /// Dataset of the first WHERE condition of the current expression: the others must use the same.
    first_dataset: Option<Dataset>,
    /// Distinct parameter names, for the limit.
    params: Vec<String>,
    /// Distinct stored fields, for the limit.
    fields: Vec<FieldRef>,
}

type Parsed<T> = Result<T, FilterError>;

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof and the parser never moves past it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    /// How a token is named in messages.
    fn found(t: &Token) -> String {
        let shown = |s: &str| {
            if s.chars().count() > 30 {
                format!("{}…", s.chars().take(30).collect::<String>())
            } else {
                s.to_string()
            }
        };
        match &t.tok {
            Tok::Eof => "the end of the filter".to_string(),
            _ => shown(&t.text),
        }
    }

    fn expected(&self, what: &str) -> FilterError {
        let t = self.peek();
        FilterError::at(t.pos, format!("expected {what}, found {}", Parser::found(t)))
    }

    fn filter(&mut self) -> Parsed<Vec<Expression>> {
        if self.peek().tok == Tok::Eof {
            return Err(FilterError::at(0, "the filter expression is empty; start it with INCLUDE or EXCLUDE"));
        }
        let mut expressions = vec![self.expression()?];
        loop {
            match self.peek().tok {
                Tok::Eof => break,
                Tok::Pipe => {
                    self.advance();
                    let e = self.expression()?;
                    let first = expressions[0].target;
                    if e.target != first {
                        return Err(FilterError::at(
                            e.position,
                            format!(
                                "all expressions of a filter must filter the same thing: \
                                 the first uses {}, this one {}",
                                first.name(),
                                e.target.name()
                            ),
                        ));
                    }
                    expressions.push(e);
                }
                // `expression` stops only at `|` or the end, or returns an error.
                _ => return Err(self.expected("| or the end of the filter")),
            }
        }
        Ok(expressions)
    }

    fn expression(&mut self) -> Parsed<Expression> {
        let position = self.peek().pos;
        let action = if self.is_keyword("INCLUDE") {
            Action::Include
        } else if self.is_keyword("EXCLUDE") {
            Action::Exclude
        } else if self.peek().tok == Tok::Eof {
            return Err(self.expected("INCLUDE or EXCLUDE after |"));
        } else {
            return Err(self.expected("INCLUDE or EXCLUDE at the start of an expression"));
        };
        let action_word = self.advance().text;
        let target = match &self.peek().tok {
            Tok::Word(w) => Target::from_word(w),
            _ => None,
        };
        let Some(target) = target else {
            return Err(self.expected(&format!("ItemID, UserID or ActionID after {action_word}")));
        };
        let target_word = self.advance().text;
        if !self.is_keyword("WHERE") {
            return Err(self.expected(&format!("WHERE after {target_word}")));
        }
        self.advance();
        self.first_dataset = None;
        let condition = self.or_condition(target, 0)?;
        let mut guard = Vec::new();
        if self.is_keyword("IF") {
            self.advance();
            guard.push(self.predicate(target, Place::If)?);
            while self.is_keyword("AND") {
                self.advance();
                guard.push(self.predicate(target, Place::If)?);
            }
            if self.is_keyword("OR") {
                return Err(FilterError::at(
                    self.peek().pos,
                    "IF conditions can only be joined with AND (Personalize has no OR in IF)",
                ));
            }
            if self.is_keyword("IF") {
                return Err(FilterError::at(
                    self.peek().pos,
                    "an expression can have only one IF; join more CurrentUser conditions with AND",
                ));
            }
            self.end_of_expression("AND, | or the end of the filter after the IF condition")?;
        } else {
            self.end_of_expression("AND, OR, IF, | or the end of the filter after the condition")?;
        }
        Ok(Expression { action, target, condition, guard, position })
    }

    fn end_of_expression(&self, what: &str) -> Parsed<()> {
        match self.peek().tok {
            Tok::Pipe | Tok::Eof => Ok(()),
            _ if self.is_keyword("INCLUDE") || self.is_keyword("EXCLUDE") => Err(FilterError::at(
                self.peek().pos,
                format!("expected | before the next expression, found {}", Parser::found(self.peek())),
            )),
            Tok::RParen => Err(FilterError::at(self.peek().pos, "unmatched ); no ( is open here")),
            _ => Err(self.expected(what)),
        }
    }

    fn or_condition(&mut self, target: Target, depth: usize) -> Parsed<Condition> {
        let mut parts = vec![self.and_condition(target, depth)?];
        while self.is_keyword("OR") {
            self.advance();
            parts.push(self.and_condition(target, depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Condition::Or(parts) })
    }

    fn and_condition(&mut self, target: Target, depth: usize) -> Parsed<Condition> {
        let mut parts = vec![self.primary(target, depth)?];
        while self.is_keyword("AND") {
            self.advance();
            parts.push(self.primary(target, depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Condition::And(parts) })
    }

    fn primary(&mut self, target: Target, depth: usize) -> Parsed<Condition> {
        if self.peek().tok == Tok::LParen {
            let open = self.advance().pos;
            if depth >= MAX_NESTING {
                return Err(FilterError::at(open, format!("conditions are nested more than {MAX_NESTING} deep")));
            }
            let inner = self.or_condition(target, depth + 1)?;
            if self.peek().tok != Tok::RParen {
                return Err(self.expected(&format!("AND, OR or ) to close the ( at {open}")));
            }
            self.advance();
            return Ok(inner);
        }
        Ok(Condition::Predicate(self.predicate(target, Place::Where)?))
    }

    /// The `.FIELD` after a dataset name that was just consumed.
    fn field_name(&mut self, dataset: Dataset) -> Parsed<String> {
        if self.peek().tok != Tok::Dot {
            return Err(self.expected(&format!(". and a field name after {}", dataset.name())));
        }
        self.advance();
        match &self.peek().tok {
            Tok::Word(w) => {
                let w = w.clone();
                self.advance();
                Ok(w)
            }
            _ => Err(self.expected(&format!("a field name after {}.", dataset.name()))),
        }
    }

    fn predicate(&mut self, target: Target, place: Place) -> Parsed<Predicate> {
        let position = self.peek().pos;
        let dataset = match &self.peek().tok {
            Tok::Word(w) => match Dataset::from_word(w) {
                Some(d) => d,
                None => {
                    return Err(FilterError::at(
                        position,
                        format!(
                            "unknown dataset {w}; use Items, Interactions, Users, Actions, Action_Interactions, \
                             CurrentItem or CurrentUser, as in Items.GENRE"
                        ),
                    ));
                }
            },
            _ if place == Place::If => return Err(self.expected("a CurrentUser condition, e.g. CurrentUser.AGE > 18")),
            _ => return Err(self.expected("a condition such as Items.GENRE IN (\"comedy\")")),
        };
        self.advance();
        let mut name = self.field_name(dataset)?;
        self.check_dataset(dataset, &name, target, place, position)?;
        if dataset.is_interactions() {
            // EVENT_TYPE is the only field Personalize filters interactions by; it is a reserved name, so
            // any spelling of it means the same field.
            if !name.eq_ignore_ascii_case("EVENT_TYPE") {
                return Err(FilterError::at(
                    position,
                    format!(
                        "{}.{name} can't be filtered: Personalize filters interactions only by EVENT_TYPE",
                        dataset.name()
                    ),
                ));
            }
            name = "EVENT_TYPE".to_string();
        }
        if dataset == Dataset::Actions && AUTOMATIC_ACTION_FIELDS.contains(&name.as_str()) {
            return Err(FilterError::at(
                position,
                format!(
                    "Actions.{name} can't be used in a filter; \
                     Personalize applies it to action recommendations by itself"
                ),
            ));
        }
        let field = FieldRef { dataset, name };
        self.count_field(FieldRef { dataset: dataset.stored(), name: field.name.clone() }, position)?;

        let op_token = self.peek().clone();
        let op = match &op_token.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("IN") => Op::In,
            Tok::Word(w) if w.eq_ignore_ascii_case("NOT") => {
                self.advance();
                if !self.is_keyword("IN") {
                    return Err(self.expected("IN after NOT"));
                }
                Op::NotIn
            }
            Tok::Cmp(op) => *op,
            _ => return Err(self.expected(&format!("IN, NOT IN or a comparison operator after {field}"))),
        };
        self.advance();
        let operand = if op.is_membership() {
            self.membership_operand(&field, op, place)?
        } else {
            if field.dataset.is_interactions() {
                return Err(FilterError::at(
                    op_token.pos,
                    format!("event types are matched with IN or NOT IN, not {}", op.symbol()),
                ));
            }
            self.comparison_operand(&field, op, place)?
        };
        Ok(Predicate { field, op, operand, position })
    }

    /// Which datasets a condition may use, by what the filter filters and where the condition stands.
    fn check_dataset(&mut self, dataset: Dataset, name: &str, target: Target, place: Place, at: usize) -> Parsed<()> {
        let reason = match (place, dataset) {
            (Place::If, Dataset::CurrentUser) => return Ok(()),
            (Place::If, _) => {
                format!("IF conditions can only check the user getting recommendations, e.g. IF CurrentUser.{name} ...")
            }
            (Place::Where, Dataset::CurrentUser) => format!(
                "CurrentUser can only be checked in an IF condition at the end of the expression: \
                 ... IF CurrentUser.{name} ..."
            ),
            (Place::Where, Dataset::CurrentItem) => format!(
                "CurrentItem can only be a value compared with an Items field, e.g. Items.{name} IN CurrentItem.{name}"
            ),
            (Place::Where, _) => {
                let allowed: &[Dataset] = match target {
                    Target::Item => &[Dataset::Items, Dataset::Interactions],
                    Target::User => &[Dataset::Users, Dataset::Interactions],
                    Target::Action => &[Dataset::Actions, Dataset::ActionInteractions],
                };
                if !allowed.contains(&dataset) {
                    let hint = match (target, dataset) {
                        (Target::Item | Target::Action, Dataset::Users) => {
                            format!("; to check the user getting recommendations, add IF CurrentUser.{name} ...")
                        }
                        _ => String::new(),
                    };
                    let article = if target == Target::User { "a" } else { "an" };
                    format!(
                        "{article} {} filter can't use {} fields; it can use {} and {}{hint}",
                        target.name(),
                        dataset.name(),
                        allowed[0].name(),
                        allowed[1].name()
                    )
                } else if let Some(first) = self.first_dataset {
                    if first == dataset {
                        return Ok(());
                    }
                    format!(
                        "conditions joined by AND or OR must use the dataset of the first condition ({}); \
                         put {} conditions in a separate expression joined with |",
                        first.name(),
                        dataset.name()
                    )
                } else {
                    self.first_dataset = Some(dataset);
                    return Ok(());
                }
            }
        };
        Err(FilterError::at(at, reason))
    }

    fn count_field(&mut self, field: FieldRef, at: usize) -> Parsed<()> {
        if !self.fields.contains(&field) {
            if self.fields.len() == MAX_DISTINCT_FIELDS {
                return Err(FilterError::at(
                    at,
                    format!(
                        "a filter can use at most {MAX_DISTINCT_FIELDS} distinct dataset fields; {field} is one more"
                    ),
                ));
            }
            self.fields.push(field);
        }
        Ok(())
    }

    fn count_parameter(&mut self, name: &str, at: usize) -> Parsed<()> {
        if !self.params.iter().any(|p| p == name) {
            if self.params.len() == MAX_PARAMETERS {
                return Err(FilterError::at(
                    at,
                    format!(
                        "a filter can have at most {MAX_PARAMETERS} parameters (the filterValues limit); \
                         ${name} is one more"
                    ),
                ));
            }
            self.params.push(name.to_string());
        }
        Ok(())
    }

    fn parameter(&mut self, field: &FieldRef, op: Op) -> Parsed<Operand> {
        let t = self.advance();
        let name = match t.tok {
            Tok::Param(name) => name,
            // The callers peeked a parameter; this keeps a mistake an error rather than a panic.
            _ => return Err(FilterError::at(t.pos, format!("expected a $PARAMETER, found {}", Parser::found(&t)))),
        };
        if op == Op::NotIn {
            // Personalize guideline: NOT IN can't take a placeholder parameter.
            return Err(FilterError::at(
                t.pos,
                format!(
                    "NOT IN can't take a parameter; write {field} IN (${name}) and swap INCLUDE and EXCLUDE \
                     (or list fixed values)"
                ),
            ));
        }
        self.count_parameter(&name, t.pos)?;
        Ok(Operand::Parameter(name))
    }

    fn current_item(&mut self, field: &FieldRef, place: Place) -> Parsed<Operand> {
        let t = self.advance();
        if field.dataset != Dataset::Items || place == Place::If {
            return Err(FilterError::at(
                t.pos,
                format!(
                    "CurrentItem values can only be compared with Items fields in WHERE, not with {field}; \
                     they describe the item of a related-items request"
                ),
            ));
        }
        let name = self.field_name(Dataset::CurrentItem)?;
        self.count_field(FieldRef { dataset: Dataset::Items, name: name.clone() }, t.pos)?;
        Ok(Operand::CurrentItem(name))
    }

    fn is_current_item(&self) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if Dataset::from_word(w) == Some(Dataset::CurrentItem))
    }

    fn membership_operand(&mut self, field: &FieldRef, op: Op, place: Place) -> Parsed<Operand> {
        let event_type = field.dataset.is_interactions();
        // `IN $P` and `IN CurrentItem.F` are accepted without parentheses, as AWS's own examples write
        // `Items.GENRE IN CurrentItem.GENRE`.
        if matches!(self.peek().tok, Tok::Param(_)) {
            return self.parameter(field, op);
        }
        if self.is_current_item() {
            return self.current_item(field, place);
        }
        if self.peek().tok != Tok::LParen {
            return Err(self.expected(&format!("( and a list of values after {}", op.symbol())));
        }
        let open = self.advance().pos;
        if self.peek().tok == Tok::RParen {
            return Err(FilterError::at(self.peek().pos, format!("{} needs at least one value", op.symbol())));
        }
        // A parameter or CurrentItem must be alone in its list.
        let alone = if matches!(self.peek().tok, Tok::Param(_)) {
            Some(self.parameter(field, op)?)
        } else if self.is_current_item() {
            Some(self.current_item(field, place)?)
        } else {
            None
        };
        if let Some(operand) = alone {
            return match self.peek().tok {
                Tok::RParen => {
                    self.advance();
                    Ok(operand)
                }
                Tok::Comma => Err(FilterError::at(
                    self.peek().pos,
                    format!("{} must be the only value in its list", operand_name(&operand)),
                )),
                _ => Err(self.expected(&format!(") to close the list opened at {open}"))),
            };
        }
        let mut values = Vec::new();
        let mut star = false;
        loop {
            let t = self.advance();
            match t.tok {
                Tok::Str(s) if s == "*" => {
                    star_allowed(field, t.pos)?;
                    star = true;
                }
                Tok::Str(s) => values.push(Literal::Text(s)),
                Tok::Star => {
                    star_allowed(field, t.pos)?;
                    star = true;
                }
                Tok::Num(_) if event_type => {
                    return Err(FilterError::at(t.pos, format!("event types are strings; write \"{}\"", t.text)));
                }
                Tok::Num(v) => values.push(Literal::Number(v)),
                Tok::Param(name) => {
                    return Err(FilterError::at(t.pos, format!("${name} must be the only value in its list")));
                }
                Tok::Word(w) if Dataset::from_word(&w) == Some(Dataset::CurrentItem) => {
                    return Err(FilterError::at(t.pos, "CurrentItem.FIELD must be the only value in its list"));
                }
                Tok::Word(w) => {
                    return Err(FilterError::at(t.pos, format!("values must be in double quotes, e.g. \"{w}\"")));
                }
                _ => {
                    return Err(FilterError::at(
                        t.pos,
                        format!("expected a value in the list opened at {open}, found {}", Parser::found(&t)),
                    ));
                }
            }
            let t = self.advance();
            match t.tok {
                Tok::Comma => continue,
                Tok::RParen => break,
                _ => {
                    return Err(FilterError::at(
                        t.pos,
                        format!("expected , or ) in the list opened at {open}, found {}", Parser::found(&t)),
                    ));
                }
            }
        }
        Ok(if star { Operand::AllEventTypes } else { Operand::Values(values) })
    }

    fn comparison_operand(&mut self, field: &FieldRef, op: Op, place: Place) -> Parsed<Operand> {
        // `> ($VALUE)` appears in AWS's examples, so one value may be parenthesised.
        let open = (self.peek().tok == Tok::LParen).then(|| self.advance().pos);
        let operand = match self.peek().tok.clone() {
            Tok::Num(v) => {
                self.advance();
                Operand::Values(vec![Literal::Number(v)])
            }
            Tok::Param(_) => self.parameter(field, op)?,
            Tok::Str(s) if !op.is_ordering() => {
                self.advance();
                Operand::Values(vec![Literal::Text(s)])
            }
            Tok::Str(s) => {
                return Err(FilterError::at(
                    self.peek().pos,
                    format!(
                        "{} compares numbers, and \"{s}\" is a string; use IN (\"{s}\") to match strings",
                        op.symbol()
                    ),
                ));
            }
            _ if self.is_current_item() => self.current_item(field, place)?,
            _ => {
                return Err(self.expected(&format!("a number, a $PARAMETER or CurrentItem.FIELD after {}", op.symbol())))
            }
        };
        if let Some(open) = open {
            if self.peek().tok != Tok::RParen {
                return Err(self.expected(&format!(") to close the ( at {open}")));
            }
            self.advance();
        }
        Ok(operand)
    }
}

/// How a lone list value is named in messages.
fn operand_name(operand: &Operand) -> String {
    match operand {
        Operand::Parameter(name) => format!("${name}"),
        Operand::CurrentItem(name) => format!("CurrentItem.{name}"),
        Operand::Values(_) | Operand::AllEventTypes => "this value".to_string(),
    }
}

fn star_allowed(field: &FieldRef, at: usize) -> Parsed<()> {
    if field.dataset.is_interactions() {
        Ok(())
    } else {
        Err(FilterError::at(
            at,
            format!("* (every event type) can only be used with Interactions.EVENT_TYPE, not {field}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks where an error is expected in the invalid cases; removed before parsing.
    const MARK: char = '⟨';

    /// Filters that must parse: every example from AWS's documentation, then the corners of the grammar.
    const VALID: &[&str] = &[
        // AWS "Item recommendation filter expression examples".
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)"#,
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")"#,
        r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")"#,
        r#"EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)"#,
        r#"INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE"#,
        r#"EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")"#,
        r#"INCLUDE ItemID WHERE Items.PRICE <= $PRICE"#,
        r#"INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE"#,
        r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#,
        r#"INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP > $DATE"#,
        r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE"#,
        r#"INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") IF CurrentUser.AGE > 18"#,
        r#"EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")"#,
        // AWS "User segment filter expressions".
        r#"INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)"#,
        r#"EXCLUDE UserID WHERE Users.AGE < $AGE"#,
        r#"INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click", "rating")"#,
        r#"INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click, rating")"#,
        r#"EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)"#,
        // AWS "Combining multiple expressions".
        r#"INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")"#,
        r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")"#,
        // AWS "Action recommendation filter expression examples".
        r#"INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ($EVENT_TYPE)"#,
        r#"EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")"#,
        r#"EXCLUDE ActionID WHERE Actions.CATEGORY IN ($CATEGORY)"#,
        r#"INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)"#,
        r#"EXCLUDE ActionID WHERE Actions.VALUE < ($VALUE) IF CurrentUser.MEMBERSHIP = $PREMIUM"#,
        // Every event type.
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
        r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN (*)"#,
        // Keywords and dataset names in any case; EVENT_TYPE in any case.
        r#"exclude itemid where items.GENRE in ("a") or items.GENRE not in ("b")"#,
        r#"Exclude ItemId Where interactions.event_type In ("Click")"#,
        // Numbers, != and strings with =.
        r#"INCLUDE ItemID WHERE Items.PRICE >= -5.5 AND Items.PRICE != 0 AND Items.SCORE < 1e3"#,
        r#"INCLUDE ItemID WHERE Items.STATUS = "active""#,
        r#"EXCLUDE ItemID WHERE Items.A IN (1, 2.5, "three")"#,
        // Grouping, CurrentItem in parentheses, parameter without parentheses.
        r#"INCLUDE ItemID WHERE (Items.A IN ("x") OR Items.B IN ("y")) AND Items.C > 1"#,
        r#"INCLUDE ItemID WHERE ((Items.A IN ("x")))"#,
        r#"INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE) OR Items.PRICE = (CurrentItem.PRICE)"#,
        r#"INCLUDE ItemID WHERE Items.GENRE IN $GENRE"#,
        // IF extended with AND, list membership in IF.
        r#"INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE >= 18 AND CurrentUser.TIER IN ("gold", "silver")"#,
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") IF CurrentUser.AGE < 13"#,
        // Strings keep |, escaped quotes and backslashes; whitespace of any kind separates.
        "INCLUDE ItemID WHERE Items.X IN (\"a \\\"quoted\\\" value\", \"pipe | inside\", \"C:\\\\dir\")",
        "INCLUDE\tItemID\nWHERE\r\n  Items.GENRE IN ( \"a\" , \"b\" )\n|\nEXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"*\")",
        // Exactly ten distinct fields (CurrentItem.F counts as Items.F).
        r#"INCLUDE ItemID WHERE Items.F1 IN ("a") AND Items.F2 IN ("a") AND Items.F3 IN ("a") AND Items.F4 IN ("a") AND Items.F5 < CurrentItem.F5 AND Items.F6 > 1 AND Items.F7 > 1 | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x") IF CurrentUser.F1 > 1 AND CurrentUser.F2 = 3"#,
    ];

    /// Filters that must fail: the text with MARK where the error must point, and a fragment of the reason.
    const INVALID: &[(&str, &str)] = &[
        ("⟨", "the filter expression is empty"),
        ("⟨   \n ", "the filter expression is empty"),
        (r#"⟨FOO ItemID WHERE Items.A IN ("x")"#, "expected INCLUDE or EXCLUDE at the start of an expression, found FOO"),
        (r#"EXCLUDE ⟨Item WHERE Items.A IN ("x")"#, "expected ItemID, UserID or ActionID after EXCLUDE, found Item"),
        (r#"EXCLUDE ItemID ⟨Items.A IN ("x")"#, "expected WHERE after ItemID"),
        ("INCLUDE ItemID⟨", "expected WHERE after ItemID, found the end of the filter"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE ⟨"x""#, "expected IN, NOT IN or a comparison operator after Items.GENRE"),
        (r#"EXCLUDE ItemID WHERE ⟨Item.GENRE IN ("x")"#, "unknown dataset Item; use Items"),
        (r#"EXCLUDE ItemID WHERE Items ⟨GENRE IN ("x")"#, "expected . and a field name after Items"),
        (r#"EXCLUDE ItemID WHERE Items.⟨= 5"#, "expected a field name after Items., found ="),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x"⟨"#, "expected , or ) in the list opened at 36"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨)"#, "IN needs at least one value"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨x)"#, "values must be in double quotes"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x" ⟨"y")"#, "expected , or )"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨"x)"#, "unterminated string"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨'x')"#, "double quotes"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨“x”)"#, "curly quotes"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ⟨"x""#, "expected ( and a list of values after IN"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE NOT ⟨("x")"#, "expected IN after NOT"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") AND ⟨Interactions.EVENT_TYPE IN ("click")"#,
            "must use the dataset of the first condition (Items)",
        ),
        (
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR ⟨Items.GENRE IN ("x")"#,
            "must use the dataset of the first condition (Interactions)",
        ),
        (r#"EXCLUDE ItemID WHERE ⟨Interactions.TIMESTAMP IN ("1")"#, "filters interactions only by EVENT_TYPE"),
        (r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE ⟨> 3"#, "matched with IN or NOT IN"),
        (r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (⟨1)"#, "event types are strings"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (⟨"*")"#, "can only be used with Interactions.EVENT_TYPE"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("a", ⟨*)"#, "can only be used with Interactions.EVENT_TYPE"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE NOT IN (⟨$G)"#, "NOT IN can't take a parameter"),
        (r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ⟨$E"#, "NOT IN can't take a parameter"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ($G⟨, "x")"#, "$G must be the only value in its list"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ($G⟨"#, "expected ) to close the list opened at 36"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE⟨"#, "expected ) to close the list opened at 36"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 5 AND⟨"#,
            "expected a CurrentUser condition, e.g. CurrentUser.AGE > 18, found the end of the filter",
        ),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x", ⟨$G)"#, "$G must be the only value in its list"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE⟨, "x")"#, "CurrentItem.GENRE must be the only value"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x", ⟨CurrentItem.GENRE)"#, "CurrentItem.FIELD must be the only value"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE < ⟨"ten""#, "< compares numbers, and \"ten\" is a string"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE ⟨== 5"#, "one equals sign"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE ⟨<> 5"#, "use != for not equal"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE ⟨! 5"#, "write != for not equal"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE < ⟨5."#, "5. is not a number"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE > ⟨1e999"#, "1e999 is not a number"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE < ⟨abc"#, "expected a number, a $PARAMETER or CurrentItem.FIELD after <"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE < ⟨$ "#, "expected a parameter name after $"),
        (r#"EXCLUDE ItemID WHERE Items.PRICE > ($P⟨"#, "expected ) to close the ( at 35"),
        (r#"EXCLUDE ItemID WHERE ⟨CurrentUser.AGE > 5"#, "CurrentUser can only be checked in an IF condition"),
        (r#"EXCLUDE ItemID WHERE ⟨CurrentItem.GENRE IN ("x")"#, "CurrentItem can only be a value compared with an Items field"),
        (r#"EXCLUDE ItemID WHERE ⟨Users.AGE > 5"#, "an ItemID filter can't use Users fields; it can use Items and Interactions; to check the user getting recommendations, add IF CurrentUser.AGE"),
        (r#"EXCLUDE UserID WHERE ⟨Items.GENRE IN ("x")"#, "a UserID filter can't use Items fields"),
        (r#"EXCLUDE ActionID WHERE ⟨Items.GENRE IN ("x")"#, "an ActionID filter can't use Items fields; it can use Actions and Action_Interactions"),
        (r#"EXCLUDE UserID WHERE Users.PRICE < ⟨CurrentItem.PRICE"#, "CurrentItem values can only be compared with Items fields"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > ⟨CurrentItem.AGE"#,
            "CurrentItem values can only be compared with Items fields in WHERE",
        ),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF ⟨Items.PRICE > 5"#, "IF conditions can only check the user"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > 5 ⟨OR CurrentUser.AGE < 2"#,
            "IF conditions can only be joined with AND",
        ),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > 5 ⟨IF CurrentUser.B > 1"#,
            "only one IF",
        ),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > 5 AND ⟨Items.A IN ("y")"#,
            "IF conditions can only check the user",
        ),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.T NOT IN (⟨$P)"#, "NOT IN can't take a parameter"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF ⟨"#, "expected a CurrentUser condition"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") ⟨EXCLUDE ItemID WHERE Items.A IN ("y")"#,
            "expected | before the next expression",
        ),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") |⟨"#, "expected INCLUDE or EXCLUDE after |"),
        (
            r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") | ⟨INCLUDE UserID WHERE Users.A IN ("y")"#,
            "the first uses ItemID, this one UserID",
        ),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") ⟨garbage"#, "expected AND, OR, IF, | or the end of the filter after the condition, found garbage"),
        (r#"EXCLUDE ItemID WHERE (Items.GENRE IN ("x")⟨"#, "expected AND, OR or ) to close the ( at 21"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x")⟨)"#, "unmatched )"),
        (r#"EXCLUDE ItemID WHERE Items.GENRE IN ("x") AND⟨"#, "expected a condition such as Items.GENRE"),
        (r#"EXCLUDE ItemID WHERE Items.A IN ("x") AND Items.B IN ("x") ⟨@"#, "unexpected character '@'"),
        (r#"EXCLUDE ActionID WHERE ⟨Actions.REPEAT_FREQUENCY > 1"#, "Personalize applies it to action recommendations by itself"),
    ];

    fn unmark(marked: &str) -> (String, usize) {
        let position = marked.chars().position(|c| c == MARK).expect("every invalid case marks a position");
        (marked.chars().filter(|&c| c != MARK).collect(), position)
    }

    #[test]
    fn documented_and_corner_case_filters_parse() {
        for text in VALID {
            if let Err(e) = FilterExpr::parse(text) {
                panic!("{text:?} should parse, got {e}");
            }
        }
    }

    #[test]
    fn invalid_filters_report_position_and_reason() {
        let mut failures = Vec::new();
        for (marked, fragment) in INVALID {
            let (text, position) = unmark(marked);
            match FilterExpr::parse(&text) {
                Ok(_) => failures.push(format!("{text:?} should be rejected")),
                Err(e) if e.position() != Some(position) || !e.reason().contains(fragment) => {
                    failures.push(format!("{text:?}: got `{e}`, want at {position} a reason with {fragment:?}"));
                }
                Err(e) => assert_eq!(e.to_string(), format!("at {position}: {}", e.reason())),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn there_are_at_least_forty_table_cases() {
        assert!(VALID.len() + INVALID.len() >= 40 && INVALID.len() >= 40);
    }

    #[test]
    fn error_message_reads_like_the_documented_shape() {
        let e = FilterExpr::parse(r#"EXCLUDE ItemID WHERE Items.GENRE "x""#).unwrap_err();
        assert_eq!(e.to_string(), "at 33: expected IN, NOT IN or a comparison operator after Items.GENRE, found \"x\"");
    }

    #[test]
    fn tree_of_a_documented_example() {
        let f = FilterExpr::parse(r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE"#).unwrap();
        assert_eq!(f.target(), Target::Item);
        let [e] = f.expressions() else { panic!("one expression") };
        assert!(e.is_exclude() && !e.is_include());
        assert_eq!(
            e.condition,
            Condition::Predicate(Predicate {
                field: FieldRef { dataset: Dataset::Items, name: "GENRE".into() },
                op: Op::In,
                operand: Operand::Parameter("GENRE".into()),
                position: 21,
            })
        );
        assert_eq!(e.guard.len(), 1);
        assert_eq!(e.guard[0].field.to_string(), "CurrentUser.AGE");
        assert_eq!(e.guard[0].op, Op::Eq);
        assert_eq!(f.parameters(), vec!["GENRE".to_string(), "AGE".to_string()]);
        assert!(f.needs_current_user() && !f.needs_interactions() && !f.needs_current_item());
        assert_eq!(
            f.fields(),
            vec![
                FieldRef { dataset: Dataset::Items, name: "GENRE".into() },
                FieldRef { dataset: Dataset::Users, name: "AGE".into() }
            ]
        );
        assert_eq!(f.text(), f.to_string());
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let f = FilterExpr::parse(r#"INCLUDE ItemID WHERE Items.A IN ("1") OR Items.B IN ("2") AND Items.C IN ("3")"#)
            .unwrap();
        let Condition::Or(parts) = &f.expressions()[0].condition else { panic!("OR at the top") };
        assert!(matches!(parts[0], Condition::Predicate(_)) && matches!(parts[1], Condition::And(_)));
        let f =
            FilterExpr::parse(r#"INCLUDE ItemID WHERE (Items.A IN ("1") OR Items.B IN ("2")) AND Items.C IN ("3")"#)
                .unwrap();
        let Condition::And(parts) = &f.expressions()[0].condition else { panic!("AND at the top") };
        assert!(matches!(parts[0], Condition::Or(_)));
    }

    #[test]
    fn values_keywords_and_event_types_are_normalised() {
        let f = FilterExpr::parse(r#"exclude ITEMID where INTERACTIONS.event_type in ("*") | include itemid where ITEMS.Genre in ("Drama", 7, "a\"b")"#).unwrap();
        let [ex, inc] = f.expressions() else { panic!("two expressions") };
        assert_eq!(ex.condition.predicates()[0].field.to_string(), "Interactions.EVENT_TYPE");
        assert_eq!(ex.condition.predicates()[0].operand, Operand::AllEventTypes);
        let p = inc.condition.predicates()[0];
        assert_eq!(p.field.to_string(), "Items.Genre", "field names keep their case");
        assert_eq!(
            p.operand,
            Operand::Values(vec![Literal::Text("Drama".into()), Literal::Number(7.0), Literal::Text("a\"b".into())])
        );
        assert!(f.needs_interactions());
    }

    #[test]
    fn current_item_is_recognised_with_and_without_parentheses() {
        for text in [
            "INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE",
            "INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)",
        ] {
            let f = FilterExpr::parse(text).unwrap();
            assert_eq!(f.expressions()[0].condition.predicates()[0].operand, Operand::CurrentItem("GENRE".into()));
            assert!(f.needs_current_item());
        }
    }

    #[test]
    fn expression_length_is_limited() {
        let base = r#"INCLUDE ItemID WHERE Items.GENRE IN ("#;
        let fill = |n: usize| format!("{base}\"{}\")", "a".repeat(n - base.len() - 3));
        assert!(FilterExpr::parse(&fill(MAX_EXPRESSION_CHARS)).is_ok());
        let e = FilterExpr::parse(&fill(MAX_EXPRESSION_CHARS + 1)).unwrap_err();
        assert_eq!(e.position(), Some(MAX_EXPRESSION_CHARS));
        assert!(e.reason().contains("at most 2500 characters"), "{e}");
    }

    #[test]
    fn distinct_fields_are_limited_to_ten() {
        let conditions: Vec<String> = (1..=11).map(|i| format!("Items.F{i} IN (\"a\")")).collect();
        let text = format!("INCLUDE ItemID WHERE {}", conditions.join(" AND "));
        let e = FilterExpr::parse(&text).unwrap_err();
        assert_eq!(e.position(), text.find("Items.F11"));
        assert!(e.reason().contains("at most 10 distinct dataset fields; Items.F11"), "{e}");
        // Repeating a field does not count twice, and CurrentItem.F counts as Items.F.
        let text = format!("INCLUDE ItemID WHERE {} OR Items.F1 < CurrentItem.F1", conditions[..10].join(" AND "));
        assert!(FilterExpr::parse(&text).is_ok());
        let text = format!("INCLUDE ItemID WHERE {} OR Items.F1 < CurrentItem.G", conditions[..10].join(" AND "));
        assert_eq!(FilterExpr::parse(&text).unwrap_err().position(), text.find("CurrentItem.G"));
    }

    #[test]
    fn parameters_are_limited() {
        let conditions: Vec<String> = (1..=26).map(|i| format!("Items.F IN ($P{i})")).collect();
        let text = format!("INCLUDE ItemID WHERE {}", conditions.join(" OR "));
        let e = FilterExpr::parse(&text).unwrap_err();
        assert_eq!(e.position(), text.find("$P26"));
        assert!(e.reason().contains("at most 25 parameters"), "{e}");
        let text = format!("INCLUDE ItemID WHERE Items.F IN (${})", "N".repeat(51));
        let e = FilterExpr::parse(&text).unwrap_err();
        assert_eq!(e.position(), text.find('$'));
        assert!(e.reason().contains("at most 50 characters"), "{e}");
        assert!(FilterExpr::parse(&format!("INCLUDE ItemID WHERE Items.F IN (${})", "N".repeat(50))).is_ok());
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let deep = |n: usize| format!("INCLUDE ItemID WHERE {}Items.A IN (\"x\"){}", "(".repeat(n), ")".repeat(n));
        assert!(FilterExpr::parse(&deep(MAX_NESTING)).is_ok());
        let e = FilterExpr::parse(&deep(MAX_NESTING + 1)).unwrap_err();
        assert!(e.reason().contains("nested more than 32 deep"), "{e}");
        let e = FilterExpr::parse(&deep(1200)).unwrap_err();
        assert_eq!(e.position(), Some(21 + MAX_NESTING));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let e = FilterExpr::parse("EXCLUDE ItemID WHERE Items.GENRE IN (\"ü\") ü").unwrap_err();
        assert_eq!(e.position(), Some(42), "{e}");
    }

    #[test]
    fn numbers_follow_the_expression_grammar() {
        for (text, want) in [("10", Some(10.0)), ("-2.5", Some(-2.5)), ("1e3", Some(1000.0)), ("0", Some(0.0))] {
            assert_eq!(parse_number(text), want, "{text}");
        }
        for text in ["", "-", "+5", "5.", ".5", "inf", "NaN", "1e", "1e999", " 5", "5 ", "0x10", "1,5"] {
            assert_eq!(parse_number(text), None, "{text:?}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let samples = [
            "\"",
            "$",
            "-",
            "(((",
            ")))",
            "|||",
            "EXCLUDE",
            "EXCLUDE ItemID WHERE",
            "INCLUDE ItemID WHERE Items.",
            "INCLUDE ItemID WHERE Items.A IN (",
            "INCLUDE ItemID WHERE Items.A IN (\"a\",",
            "INCLUDE ItemID WHERE Items.A <",
            "INCLUDE ItemID WHERE Items.A IN ($",
            "\u{0}\u{feff}",
            "INCLUDE ItemID WHERE Items.A IN (CurrentItem",
            "INCLUDE ItemID WHERE Items.A IN CurrentItem.",
            "INCLUDE ItemID WHERE Items.A > (",
        ];
        for s in samples {
            assert!(FilterExpr::parse(s).is_err(), "{s:?}");
        }
    }
}
