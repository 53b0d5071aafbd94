//! Binding a request's filter values and evaluating a filter per candidate.
//!
//! [`FilterExpr::bind`] runs once per request: it parses every `filterValues` string into sets
//! (`HashSet`s of strings and of numbers), drops EXCLUDE expressions whose parameters were not given, and
//! fails INCLUDE expressions whose parameters were not given. [`BoundFilter::allows`] then runs per
//! candidate and only does lookups: no parsing, no allocation (except to lower-case an event type that
//! has upper-case letters), so filtering deep into a ranked list stays cheap.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::filter::expr::{
    parse_number, Condition, Dataset, Expression, FieldRef, FilterError, FilterExpr, Literal, Op, Operand, Predicate,
    Target, MAX_PARAMETERS, MAX_PARAMETER_VALUE_CHARS,
};
use crate::model::record::Value;

/// The data a filter reads, supplied by the engine for one request.
///
/// The *candidate* is what the filter keeps or removes: an item id for `ItemID` filters, a user id for
/// `UserID` filters (user segments), an action id for `ActionID` filters. Field values are returned as
/// [`Cow`] so stored values are lent without copying while computed ones (say `CREATION_TIMESTAMP` kept
/// outside the field list) can be returned by value; `None` means the record or the field is absent.
pub trait FilterContext {
    /// A field of the candidate's own record: the Items dataset for `ItemID` filters, Users for `UserID`,
    /// Actions for `ActionID`.
    fn candidate_field(&self, candidate: &str, field: &str) -> Option<Cow<'_, Value>>;

    /// A field of the item named in a related-items request (`CurrentItem.FIELD`); `None` if the request
    /// names no item, the item is unknown, or it lacks the field.
    fn current_item_field(&self, field: &str) -> Option<Cow<'_, Value>>;

    /// A field of the requesting user's Users record (`CurrentUser.FIELD` in IF conditions); `None` if
    /// the user has no record or it lacks the field.
    fn current_user_field(&self, field: &str) -> Option<Cow<'_, Value>>;

    /// Whether there is an interaction whose event type is in `event_types` ([`EventTypeSet::contains`]
    /// does the case-insensitive match): for `ItemID` filters, between the requesting user and item
    /// `candidate`; for `UserID` filters, between user `candidate` and any item; for `ActionID` filters, an
    /// action interaction between the requesting user and action `candidate`. Personalize only considers
    /// each user's 100 most recent interactions per event type; honouring that window is the engine's job.
    fn interacted(&self, candidate: &str, event_types: &EventTypeSet) -> bool;
}

/// A set of event types to match interactions against: some types, or every type (`"*"`).
///
/// Personalize ignores case when matching event types (and only then), so types are kept lower-cased
/// and [`contains`](EventTypeSet::contains) lower-cases its argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeSet {
    all: bool,
    types: HashSet<String>,
}

impl EventTypeSet {
    /// Every event type.
    pub fn all() -> EventTypeSet {
        EventTypeSet { all: true, types: HashSet::new() }
    }

    /// The given event types; a `"*"` among them means every type.
    pub fn of<I, S>(types: I) -> EventTypeSet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = EventTypeSet { all: false, types: HashSet::new() };
        for t in types {
            let t = t.as_ref();
            if t == "*" {
                set.all = true;
            } else {
                set.types.insert(t.to_lowercase());
            }
        }
        set
    }

    /// Whether this matches every event type.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether `event_type` is in the set, ignoring case.
    pub fn contains(&self, event_type: &str) -> bool {
        if self.all {
            return true;
        }
        if event_type.chars().any(char::is_uppercase) {
            self.types.contains(&event_type.to_lowercase())
        } else {
            self.types.contains(event_type)
        }
    }

    /// The listed types, lower-cased (empty for [`all`](EventTypeSet::all)), in no particular order.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.types.iter().map(String::as_str)
    }
}

/// Splits one `filterValues` value into its values.
///
/// Personalize's format is comma-separated double-quoted values, e.g. `"\"comedy\",\"drama\""`. Inside
/// quotes, `\"` and `\\` are escapes and commas are kept. Unquoted values (`comedy, drama`), as typed in
/// the console, are accepted too and trimmed. The error says which value is wrong and how.
pub fn parse_filter_values(raw: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
            *i += 1;
        }
    };
    loop {
        skip_space(&mut i);
        let start = i;
        if chars.get(i) == Some(&'"') {
            let (value, next) = crate::filter::expr::scan_quoted(&chars, start)
                .ok_or_else(|| format!("the quoted value starting at character {start} has no closing \""))?;
            i = next;
            out.push(value);
        } else {
            while chars.get(i).is_some_and(|&c| c != ',') {
                if chars[i] == '"' {
                    return Err(format!(
                        "stray \" at character {i}; quote each whole value, e.g. \"\\\"comedy\\\",\\\"drama\\\"\""
                    ));
                }
                i += 1;
            }
            let value: String = chars[start..i].iter().collect::<String>().trim().to_string();
            if value.is_empty() {
                return Err(format!("empty value at character {start}; remove the extra comma"));
            }
            out.push(value);
        }
        skip_space(&mut i);
        match chars.get(i) {
            None => return Ok(out),
            Some(',') => i += 1,
            Some(_) => return Err(format!("expected a comma between values at character {i}")),
        }
        skip_space(&mut i);
        if i == chars.len() {
            return Err("ends with a comma; remove it or add a value after it".to_string());
        }
    }
}

impl FilterExpr {
    /// Binds the filter to one request's `filterValues` (parameter name without `$` → comma-separated
    /// double-quoted values), ready for [`BoundFilter::allows`].
    ///
    /// As in Personalize, an INCLUDE expression needs values for all its parameters (else an error naming
    /// the parameter), while an EXCLUDE expression missing any of its parameters is skipped: it removes
    /// nothing. A blank value counts as not given. Keys that name no parameter of this filter are ignored.
    pub fn bind(&self, values: &HashMap<String, String>) -> Result<BoundFilter, FilterError> {
        if values.len() > MAX_PARAMETERS {
            return Err(FilterError::values(format!(
                "filterValues can have at most {MAX_PARAMETERS} entries; it has {}",
                values.len()
            )));
        }
        let mut given: HashMap<String, Vec<String>> = HashMap::new();
        for name in self.parameters() {
            let Some(raw) = values.get(&name) else { continue };
            let length = raw.chars().count();
            if length > MAX_PARAMETER_VALUE_CHARS {
                return Err(FilterError::parameter(
                    &name,
                    format!("the value can be at most {MAX_PARAMETER_VALUE_CHARS} characters long; it has {length}"),
                ));
            }
            if raw.trim().is_empty() {
                continue;
            }
            let parsed = parse_filter_values(raw).map_err(|reason| FilterError::parameter(&name, reason))?;
            given.insert(name, parsed);
        }
        let mut bound = BoundFilter { target: self.target(), includes: Vec::new(), excludes: Vec::new(), skipped: 0 };
        for e in self.expressions() {
            if let Some(missing) = e.parameters().into_iter().find(|p| !given.contains_key(p)) {
                if e.is_include() {
                    return Err(missing_value(&missing, e, values));
                }
                bound.skipped += 1;
                continue;
            }
            let guard = e.guard.iter().map(|p| bind_test(p, &given)).collect::<Result<Vec<_>, _>>()?;
            let condition = bind_condition(&e.condition, &given)?;
            let b = BoundExpression { guard, condition };
            if e.is_include() {
                bound.includes.push(b);
            } else {
                bound.excludes.push(b);
            }
        }
        Ok(bound)
    }
}

fn missing_value(name: &str, e: &Expression, values: &HashMap<String, String>) -> FilterError {
    let mut reason = format!(
        "no value given; the INCLUDE expression at {} needs it (only EXCLUDE expressions may be left without values)",
        e.position
    );
    if let Some(key) = values.keys().find(|k| k.eq_ignore_ascii_case(name) || k.strip_prefix('$') == Some(name)) {
        let why = if key.starts_with('$') { "keys are written without $" } else { "names are case-sensitive" };
        reason.push_str(&format!("; filterValues has \"{key}\", but {why}"));
    }
    FilterError::parameter(name, reason)
}

/// A filter bound to one request's values: evaluate it with [`allows`](BoundFilter::allows).
#[derive(Clone, Debug)]
pub struct BoundFilter {
    target: Target,
    includes: Vec<BoundExpression>,
    excludes: Vec<BoundExpression>,
    skipped: usize,
}

impl BoundFilter {
    /// Whether `candidate` may be recommended.
    ///
    /// Expressions whose IF conditions fail for the requesting user don't apply. The candidate is allowed
    /// when no applying EXCLUDE expression matches it and, if any INCLUDE expression applies, at least one
    /// applying INCLUDE expression matches it: `Include A | Include B | Exclude C` is `(A or B) − C`.
    pub fn allows<C: FilterContext + ?Sized>(&self, ctx: &C, candidate: &str) -> bool {
        for e in &self.excludes {
            if e.applies(ctx) && e.condition.eval(ctx, candidate) {
                return false;
            }
        }
        let mut restricted = false;
        for e in &self.includes {
            if e.applies(ctx) {
                if e.condition.eval(ctx, candidate) {
                    return true;
                }
                restricted = true;
            }
        }
        !restricted
    }

    /// What the filter filters.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Whether nothing is left to evaluate (every expression was a skipped EXCLUDE): the engine can skip
    /// filtering altogether.
    pub fn is_noop(&self) -> bool {
        self.includes.is_empty() && self.excludes.is_empty()
    }

    /// How many EXCLUDE expressions were skipped because some of their parameters had no value.
    pub fn skipped_expressions(&self) -> usize {
        self.skipped
    }

    /// Every event-type set that [`FilterContext::interacted`] may be asked about, so the engine can build
    /// per-request lookups (say, the set of items the user interacted with per set) before evaluating.
    pub fn event_type_sets(&self) -> Vec<&EventTypeSet> {
        let mut out = Vec::new();
        for e in self.includes.iter().chain(&self.excludes) {
            e.condition.event_type_sets(&mut out);
        }
        out
    }
}

#[derive(Clone, Debug)]
struct BoundExpression {
    /// IF conditions on the current user, all of which must hold for the expression to apply.
    guard: Vec<Test>,
    condition: BoundCondition,
}

impl BoundExpression {
    fn applies<C: FilterContext + ?Sized>(&self, ctx: &C) -> bool {
        // Guards only read CurrentUser, never the candidate.
        self.guard.iter().all(|t| t.eval(ctx, ""))
    }
}

#[derive(Clone, Debug)]
enum BoundCondition {
    Test(Test),
    And(Vec<BoundCondition>),
    Or(Vec<BoundCondition>),
}

impl BoundCondition {
    fn eval<C: FilterContext + ?Sized>(&self, ctx: &C, candidate: &str) -> bool {
        match self {
            BoundCondition::Test(t) => t.eval(ctx, candidate),
            BoundCondition::And(parts) => parts.iter().all(|c| c.eval(ctx, candidate)),
            BoundCondition::Or(parts) => parts.iter().any(|c| c.eval(ctx, candidate)),
        }
    }

    fn event_type_sets<'a>(&'a self, out: &mut Vec<&'a EventTypeSet>) {
        match self {
            BoundCondition::Test(Test::Interacted { set, .. }) => out.push(set),
            BoundCondition::Test(_) => {}
            BoundCondition::And(parts) | BoundCondition::Or(parts) => {
                parts.iter().for_each(|c| c.event_type_sets(out));
            }
        }
    }
}

/// Whose field a test reads.
#[derive(Clone, Debug)]
enum Subject {
    Candidate(String),
    CurrentUser(String),
}

impl Subject {
    fn value<'c, C: FilterContext + ?Sized>(&self, ctx: &'c C, candidate: &str) -> Option<Cow<'c, Value>> {
        match self {
            Subject::Candidate(field) => ctx.candidate_field(candidate, field),
            Subject::CurrentUser(field) => ctx.current_user_field(field),
        }
    }
}

/// One bound condition.
#[derive(Clone, Debug)]
enum Test {
    /// `IN` / `NOT IN` fixed or parameter values.
    Member { subject: Subject, set: ValueSet, negated: bool },
    /// `IN` / `NOT IN CurrentItem.FIELD`.
    MemberOfCurrentItem { subject: Subject, field: String, negated: bool },
    /// `Interactions.EVENT_TYPE IN` / `NOT IN`.
    Interacted { set: EventTypeSet, negated: bool },
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare { subject: Subject, op: Op, rhs: Rhs },
}

#[derive(Clone, Debug)]
enum Rhs {
    Constant(Constant),
    CurrentItem(String),
}

/// A single comparison value. A quoted value (and every parameter value, since `filterValues` are always
/// strings) has its text and, if it reads as a number, that number; an unquoted number has only the
/// number, so it never equals a string field.
#[derive(Clone, Debug)]
struct Constant {
    text: Option<String>,
    num: Option<f64>,
}

impl Constant {
    fn from_text(s: &str) -> Constant {
        Constant { text: Some(s.to_string()), num: parse_number(s) }
    }

    fn from_literal(l: &Literal) -> Constant {
        match l {
            Literal::Text(s) => Constant::from_text(s),
            Literal::Number(n) => Constant { text: None, num: Some(*n) },
        }
    }
}

/// The values of an `IN` list, hashed for per-item lookups; same text/number rule as [`Constant`].
#[derive(Clone, Debug, Default)]
struct ValueSet {
    texts: HashSet<String>,
    nums: HashSet<u64>,
}

/// Hash key of a number: its bits, with -0 folded into +0 so they compare equal as they do with `==`.
fn num_key(n: f64) -> u64 {
    if n == 0.0 {
        0.0f64.to_bits()
    } else {
        n.to_bits()
    }
}

impl ValueSet {
    fn insert_text(&mut self, s: &str) {
        if let Some(n) = parse_number(s) {
            self.nums.insert(num_key(n));
        }
        self.texts.insert(s.to_string());
    }

    fn from_literals(values: &[Literal]) -> ValueSet {
        let mut set = ValueSet::default();
        for v in values {
            match v {
                Literal::Text(s) => set.insert_text(s),
                Literal::Number(n) => {
                    set.nums.insert(num_key(*n));
                }
            }
        }
        set
    }

    fn from_texts(values: &[String]) -> ValueSet {
        let mut set = ValueSet::default();
        values.iter().for_each(|s| set.insert_text(s));
        set
    }

    fn contains(&self, s: Scalar<'_>) -> bool {
        match s {
            Scalar::Text(t) => self.texts.contains(t),
            Scalar::Num(n) => self.nums.contains(&num_key(n)),
        }
    }
}

/// One value of a field: categorical fields have several.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar<'a> {
    Text(&'a str),
    Num(f64),
}

/// The values of a field without allocating: a string is one value, categories are one each, numbers are
/// numbers; Null has none, and so do booleans, which Personalize doesn't let filters use.
enum Scalars<'a> {
    One(Option<Scalar<'a>>),
    Many(std::slice::Iter<'a, String>),
}

impl<'a> Iterator for Scalars<'a> {
    type Item = Scalar<'a>;

    fn next(&mut self) -> Option<Scalar<'a>> {
        match self {
            Scalars::One(s) => s.take(),
            Scalars::Many(it) => it.next().map(|s| Scalar::Text(s)),
        }
    }
}

fn scalars(v: &Value) -> Scalars<'_> {
    match v {
        Value::String(s) => Scalars::One(Some(Scalar::Text(s))),
        Value::Categories(c) => Scalars::Many(c.iter()),
        Value::Int(i) => Scalars::One(Some(Scalar::Num(*i as f64))),
        Value::Float(f) => Scalars::One(Some(Scalar::Num(*f))),
        Value::Null | Value::Bool(_) => Scalars::One(None),
    }
}

/// The one value a comparison needs; a field without exactly one value fails every comparison.
fn single(v: &Value) -> Option<Scalar<'_>> {
    match v {
        Value::Categories(c) if c.len() == 1 => Some(Scalar::Text(&c[0])),
        Value::Categories(_) => None,
        other => scalars(other).next(),
    }
}

fn order(op: Op, a: f64, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::In | Op::NotIn => false,
    }
}

/// Numbers compare by value; strings only by `=` and `!=`; a string and a number never compare.
fn compare(left: Scalar<'_>, op: Op, right: Scalar<'_>) -> bool {
    match (left, right) {
        (Scalar::Num(a), Scalar::Num(b)) => order(op, a, b),
        (Scalar::Text(a), Scalar::Text(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

fn compare_constant(left: Scalar<'_>, op: Op, c: &Constant) -> bool {
    match left {
        Scalar::Num(a) => c.num.is_some_and(|b| order(op, a, b)),
        Scalar::Text(a) => match (op, &c.text) {
            (Op::Eq, Some(t)) => a == t,
            (Op::Ne, Some(t)) => a != t,
            _ => false,
        },
    }
}

impl Test {
    fn eval<C: FilterContext + ?Sized>(&self, ctx: &C, candidate: &str) -> bool {
        match self {
            Test::Member { subject, set, negated } => {
                let hit = subject.value(ctx, candidate).is_some_and(|v| scalars(&v).any(|s| set.contains(s)));
                hit != *negated
            }
            Test::MemberOfCurrentItem { subject, field, negated } => {
                let hit = match (subject.value(ctx, candidate), ctx.current_item_field(field)) {
                    (Some(a), Some(b)) => scalars(&a).any(|x| scalars(&b).any(|y| x == y)),
                    _ => false,
                };
                hit != *negated
            }
            Test::Interacted { set, negated } => ctx.interacted(candidate, set) != *negated,
            Test::Compare { subject, op, rhs } => {
                let Some(v) = subject.value(ctx, candidate) else { return false };
                let Some(left) = single(&v) else { return false };
                match rhs {
                    Rhs::Constant(c) => compare_constant(left, *op, c),
                    Rhs::CurrentItem(field) => ctx
                        .current_item_field(field)
                        .is_some_and(|r| single(&r).is_some_and(|right| compare(left, *op, right))),
                }
            }
        }
    }
}

fn bind_condition(c: &Condition, given: &HashMap<String, Vec<String>>) -> Result<BoundCondition, FilterError> {
    Ok(match c {
        Condition::Predicate(p) => BoundCondition::Test(bind_test(p, given)?),
        Condition::And(parts) => {
            BoundCondition::And(parts.iter().map(|c| bind_condition(c, given)).collect::<Result<_, _>>()?)
        }
        Condition::Or(parts) => {
            BoundCondition::Or(parts.iter().map(|c| bind_condition(c, given)).collect::<Result<_, _>>()?)
        }
    })
}

fn bind_test(p: &Predicate, given: &HashMap<String, Vec<String>>) -> Result<Test, FilterError> {
    let values = |name: &str| {
        // `bind` skips or rejects expressions with missing parameters before binding them.
        given.get(name).ok_or_else(|| FilterError::parameter(name, "no value given"))
    };
    // The parser never builds these combinations; report rather than panic if one ever slips through.
    let impossible = |f: &FieldRef| FilterError::at(p.position, format!("{f} {} can't take this value", p.op.symbol()));
    let subject = match p.field.dataset {
        Dataset::CurrentUser => Subject::CurrentUser(p.field.name.clone()),
        _ => Subject::Candidate(p.field.name.clone()),
    };
    let negated = p.op == Op::NotIn;
    if p.field.dataset.is_interactions() {
        let set = match &p.operand {
            Operand::AllEventTypes => EventTypeSet::all(),
            Operand::Values(v) => EventTypeSet::of(v.iter().filter_map(|l| match l {
                Literal::Text(s) => Some(s.as_str()),
                Literal::Number(_) => None,
            })),
            Operand::Parameter(name) => EventTypeSet::of(values(name)?),
            Operand::CurrentItem(_) => return Err(impossible(&p.field)),
        };
        return Ok(Test::Interacted { set, negated });
    }
    if p.op.is_membership() {
        return Ok(match &p.operand {
            Operand::Values(v) => Test::Member { subject, set: ValueSet::from_literals(v), negated },
            Operand::Parameter(name) => Test::Member { subject, set: ValueSet::from_texts(values(name)?), negated },
            Operand::CurrentItem(field) => Test::MemberOfCurrentItem { subject, field: field.clone(), negated },
            Operand::AllEventTypes => return Err(impossible(&p.field)),
        });
    }
    let rhs = match &p.operand {
        Operand::Values(v) if v.len() == 1 => Rhs::Constant(Constant::from_literal(&v[0])),
        Operand::Parameter(name) => {
            let vs = values(name)?;
            let [v] = vs.as_slice() else {
                return Err(FilterError::parameter(
                    name,
                    format!(
                        "{} {} ${name} compares with one value, but {} were given",
                        p.field,
                        p.op.symbol(),
                        vs.len()
                    ),
                ));
            };
            let c = Constant::from_text(v);
            if p.op.is_ordering() && c.num.is_none() {
                return Err(FilterError::parameter(
                    name,
                    format!("{} {} ${name} compares numbers, and \"{v}\" is not a number", p.field, p.op.symbol()),
                ));
            }
            Rhs::Constant(c)
        }
        Operand::CurrentItem(field) => Rhs::CurrentItem(field.clone()),
        Operand::Values(_) | Operand::AllEventTypes => return Err(impossible(&p.field)),
    };
    Ok(Test::Compare { subject, op: p.op, rhs })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = Vec<(String, Value)>;

    /// An in-memory engine: items (or users) by id, the current item and user, and per-candidate event types.
    #[derive(Default)]
    struct Ctx {
        records: HashMap<String, Fields>,
        current_item: Option<Fields>,
        user: Option<Fields>,
        history: HashMap<String, Vec<String>>,
    }

    fn lookup<'a>(fields: Option<&'a Fields>, field: &str) -> Option<Cow<'a, Value>> {
        fields?.iter().find(|(name, _)| name == field).map(|(_, v)| Cow::Borrowed(v))
    }

    impl FilterContext for Ctx {
        fn candidate_field(&self, candidate: &str, field: &str) -> Option<Cow<'_, Value>> {
            lookup(self.records.get(candidate), field)
        }
        fn current_item_field(&self, field: &str) -> Option<Cow<'_, Value>> {
            lookup(self.current_item.as_ref(), field)
        }
        fn current_user_field(&self, field: &str) -> Option<Cow<'_, Value>> {
            lookup(self.user.as_ref(), field)
        }
        fn interacted(&self, candidate: &str, event_types: &EventTypeSet) -> bool {
            self.history.get(candidate).is_some_and(|events| events.iter().any(|e| event_types.contains(e)))
        }
    }

    fn cats(values: &[&str]) -> Value {
        Value::Categories(values.iter().map(|s| s.to_string()).collect())
    }

    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }

    fn fields(pairs: Vec<(&str, Value)>) -> Fields {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// i1..i5 with categorical GENRE, numeric PRICE, string STATUS; the user clicked i1 and i5, bought i2.
    fn shop() -> Ctx {
        let mut ctx = Ctx::default();
        let items = [
            ("i1", vec![("GENRE", cats(&["comedy", "drama"])), ("PRICE", Value::Int(10)), ("STATUS", s("active"))]),
            ("i2", vec![("GENRE", cats(&["horror"])), ("PRICE", Value::Float(25.5)), ("STATUS", s("retired"))]),
            ("i3", vec![("GENRE", Value::Null), ("STATUS", s("10"))]),
            ("i4", vec![("GENRE", cats(&[])), ("PRICE", Value::Float(10.0)), ("FLAG", Value::Bool(true))]),
            ("i5", vec![("GENRE", cats(&["drama"])), ("PRICE", Value::Int(-3)), ("STATUS", s("Active"))]),
        ];
        for (id, f) in items {
            ctx.records.insert(id.to_string(), fields(f));
        }
        ctx.current_item = Some(fields(vec![("GENRE", cats(&["drama", "war"])), ("PRICE", Value::Int(20))]));
        ctx.user = Some(fields(vec![("AGE", Value::Int(30)), ("TIER", s("gold"))]));
        ctx.history.insert("i1".into(), vec!["click".into()]);
        ctx.history.insert("i2".into(), vec!["Purchase".into()]);
        ctx.history.insert("i5".into(), vec!["view".into(), "CLICK".into()]);
        ctx
    }

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn bind(filter: &str, pairs: &[(&str, &str)]) -> Result<BoundFilter, FilterError> {
        FilterExpr::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).bind(&values(pairs))
    }

    /// The items of `ctx` the filter allows, sorted.
    fn kept(ctx: &Ctx, filter: &str, pairs: &[(&str, &str)]) -> Vec<String> {
        let bound = bind(filter, pairs).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let mut out: Vec<String> = ctx.records.keys().filter(|id| bound.allows(ctx, id)).cloned().collect();
        out.sort();
        out
    }

    fn check(ctx: &Ctx, filter: &str, pairs: &[(&str, &str)], want: &[&str]) {
        assert_eq!(kept(ctx, filter, pairs), want, "{filter} with {pairs:?}");
    }

    #[test]
    fn in_matches_any_category_and_not_in_none() {
        let ctx = shop();
        check(&ctx, r#"INCLUDE ItemID WHERE Items.GENRE IN ("drama")"#, &[], &["i1", "i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.GENRE IN ("horror", "comedy")"#, &[], &["i1", "i2"]);
        check(&ctx, r#"EXCLUDE ItemID WHERE Items.GENRE IN ("drama")"#, &[], &["i2", "i3", "i4"]);
        // NOT IN holds for missing, Null and empty categories: they have no value in the list.
        check(&ctx, r#"INCLUDE ItemID WHERE Items.GENRE NOT IN ("drama")"#, &[], &["i2", "i3", "i4"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.NOPE NOT IN ("x")"#, &[], &["i1", "i2", "i3", "i4", "i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.NOPE IN ("x")"#, &[], &[]);
    }

    #[test]
    fn strings_match_exactly() {
        let ctx = shop();
        check(&ctx, r#"INCLUDE ItemID WHERE Items.STATUS IN ("active")"#, &[], &["i1"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.STATUS = "Active""#, &[], &["i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.STATUS != "active""#, &[], &["i2", "i3", "i5"]);
    }

    #[test]
    fn numbers_in_lists_compare_by_value_and_strings_by_text() {
        let ctx = shop();
        // Int 10 and Float 10.0 both equal 10; quoted "10" reads as a number too.
        check(&ctx, r#"INCLUDE ItemID WHERE Items.PRICE IN (10)"#, &[], &["i1", "i4"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.PRICE IN ("10.0", 25.5)"#, &[], &["i1", "i2", "i4"]);
        // An unquoted number never equals a string field; a quoted one matches its text.
        check(&ctx, r#"INCLUDE ItemID WHERE Items.STATUS IN (10)"#, &[], &[]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.STATUS IN ("10")"#, &[], &["i3"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.PRICE IN (-3)"#, &[], &["i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.PRICE IN (0)"#, &[], &[]);
    }

    #[test]
    fn every_comparison_operator() {
        let ctx = shop();
        let cases: [(&str, &[&str]); 6] = [
            ("=", &["i1", "i4"]),
            ("!=", &["i2", "i5"]),
            ("<", &["i5"]),
            ("<=", &["i1", "i4", "i5"]),
            (">", &["i2"]),
            (">=", &["i1", "i2", "i4"]),
        ];
        for (op, want) in cases {
            check(&ctx, &format!("INCLUDE ItemID WHERE Items.PRICE {op} 10"), &[], want);
            check(&ctx, &format!("INCLUDE ItemID WHERE Items.PRICE {op} $P"), &[("P", "\"10\"")], want);
            check(&ctx, &format!("INCLUDE ItemID WHERE Items.PRICE {op} ($P)"), &[("P", "10")], want);
        }
        check(&ctx, "INCLUDE ItemID WHERE Items.PRICE > -3.5 AND Items.PRICE < 1e1", &[], &["i5"]);
    }

    #[test]
    fn comparisons_fail_on_missing_strings_booleans_and_several_categories() {
        let ctx = shop();
        // i3 has no PRICE: no comparison holds, != included.
        check(&ctx, "INCLUDE ItemID WHERE Items.PRICE != 1000", &[], &["i1", "i2", "i4", "i5"]);
        // STATUS is a string: ordering against a number is false even for "10".
        check(&ctx, "INCLUDE ItemID WHERE Items.STATUS >= 0", &[], &[]);
        check(&ctx, "INCLUDE ItemID WHERE Items.STATUS = 10", &[], &[]);
        // Booleans are never matched (Personalize doesn't filter on them).
        check(&ctx, r#"INCLUDE ItemID WHERE Items.FLAG IN ("true", "True", 1)"#, &[], &[]);
        check(&ctx, "INCLUDE ItemID WHERE Items.FLAG = 1", &[], &[]);
        // A single category compares like a string; several don't compare.
        check(&ctx, r#"INCLUDE ItemID WHERE Items.GENRE = "drama""#, &[], &["i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Items.GENRE != "x""#, &[], &["i2", "i5"]);
    }

    #[test]
    fn interactions_by_event_type_ignoring_case() {
        let ctx = shop();
        check(&ctx, r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")"#, &[], &["i2", "i3", "i4"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE", "View")"#, &[], &["i2", "i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")"#, &[], &["i2", "i3", "i4"]);
        check(
            &ctx,
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E)"#,
            &[("E", "\"Purchase\",\"view\"")],
            &["i1", "i3", "i4"],
        );
    }

    #[test]
    fn star_means_every_event_type() {
        let ctx = shop();
        check(&ctx, r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#, &[], &["i3", "i4"]);
        check(&ctx, "INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)", &[], &["i1", "i2", "i5"]);
        check(&ctx, r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("*")"#, &[], &["i3", "i4"]);
        check(&ctx, r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E)"#, &[("E", "\"*\"")], &["i3", "i4"]);
        let set = EventTypeSet::of(["click", "*"]);
        assert!(set.is_all() && set.contains("anything"));
    }

    #[test]
    fn include_with_a_missing_parameter_is_an_error_naming_it() {
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[]).unwrap_err();
        assert_eq!(e.parameter_name(), Some("GENRE"));
        assert!(
            e.to_string().starts_with("parameter $GENRE: no value given; the INCLUDE expression at 0 needs it"),
            "{e}"
        );
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[("genre", "\"a\"")]).unwrap_err();
        assert!(e.reason().contains("filterValues has \"genre\", but names are case-sensitive"), "{e}");
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[("$GENRE", "\"a\"")]).unwrap_err();
        assert!(e.reason().contains("keys are written without $"), "{e}");
        // A blank value is no value; a parameter of the IF part counts too.
        assert!(bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[("GENRE", "  ")]).is_err());
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > $AGE"#, &[]).unwrap_err();
        assert_eq!(e.parameter_name(), Some("AGE"));
    }

    #[test]
    fn exclude_with_a_missing_parameter_is_skipped() {
        let ctx = shop();
        let all = ["i1", "i2", "i3", "i4", "i5"];
        let bound = bind(r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[]).unwrap();
        assert!(bound.is_noop());
        assert_eq!(bound.skipped_expressions(), 1);
        check(&ctx, r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[], &all);
        check(&ctx, r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#, &[("GENRE", "")], &all);
        // Any missing parameter skips the whole expression, not just its condition.
        let filter = r#"EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE > $MIN"#;
        check(&ctx, filter, &[("GENRE", "\"drama\"")], &all);
        check(&ctx, filter, &[("GENRE", "\"drama\""), ("MIN", "\"0\"")], &["i2", "i3", "i4", "i5"]);
        // Other expressions still apply; INCLUDE still errs.
        let filter = r#"INCLUDE ItemID WHERE Items.PRICE >= $MIN | EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"#;
        check(&ctx, filter, &[("MIN", "\"10\"")], &["i1", "i2", "i4"]);
        check(&ctx, filter, &[("MIN", "\"10\""), ("GENRE", "\"comedy\"")], &["i2", "i4"]);
        assert!(bind(filter, &[("GENRE", "\"comedy\"")]).is_err());
    }

    #[test]
    fn parameter_values_are_checked() {
        let filter = r#"INCLUDE ItemID WHERE Items.PRICE < $P"#;
        let e = bind(filter, &[("P", "\"1\",\"2\"")]).unwrap_err();
        assert!(
            e.to_string().contains("parameter $P: Items.PRICE < $P compares with one value, but 2 were given"),
            "{e}"
        );
        let e = bind(filter, &[("P", "\"cheap\"")]).unwrap_err();
        assert!(e.reason().contains("compares numbers, and \"cheap\" is not a number"), "{e}");
        // = takes a string, as in AWS's `IF CurrentUser.MEMBERSHIP = $PREMIUM`.
        assert!(bind(r#"INCLUDE ItemID WHERE Items.STATUS = $S"#, &[("S", "\"active\"")]).is_ok());
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($G)"#, &[("G", "\"a\",,\"b\"")]).unwrap_err();
        assert!(e.to_string().starts_with("parameter $G: empty value at character 4"), "{e}");
        let long = format!("\"{}\"", "x".repeat(MAX_PARAMETER_VALUE_CHARS - 1));
        let e = bind(r#"INCLUDE ItemID WHERE Items.GENRE IN ($G)"#, &[("G", &long)]).unwrap_err();
        assert!(e.reason().contains("at most 1000 characters"), "{e}");
        let many: Vec<(String, String)> = (0..26).map(|i| (format!("K{i}"), "\"v\"".to_string())).collect();
        let map: HashMap<String, String> = many.into_iter().collect();
        let e = FilterExpr::parse(r#"EXCLUDE ItemID WHERE Items.GENRE IN ($G)"#).unwrap().bind(&map).unwrap_err();
        assert!(e.to_string().contains("at most 25 entries"), "{e}");
        // Unknown keys are ignored.
        assert!(bind(r#"EXCLUDE ItemID WHERE Items.GENRE IN ($G)"#, &[("OTHER", "\"v\"")]).is_ok());
    }

    #[test]
    fn filter_values_strings_split_like_personalize() {
        let ok = |raw: &str| parse_filter_values(raw).unwrap();
        assert_eq!(ok(r#""comedy","drama","horror""#), ["comedy", "drama", "horror"]);
        assert_eq!(ok(r#" "a, b" , "c\"d" ,"e\\f""#), ["a, b", "c\"d", "e\\f"]);
        assert_eq!(ok("comedy, drama"), ["comedy", "drama"]);
        assert_eq!(ok(r#""""#), [""]);
        assert_eq!(ok("10"), ["10"]);
        for (raw, why) in [
            (r#""a"#, "no closing"),
            (r#""a","#, "ends with a comma"),
            (r#""a" "b""#, "expected a comma"),
            (r#"a"b"#, "stray \""),
            (",a", "empty value at character 0"),
        ] {
            let e = parse_filter_values(raw).unwrap_err();
            assert!(e.contains(why), "{raw:?}: {e}");
        }
    }

    #[test]
    fn chained_expressions_combine_as_documented() {
        let ctx = shop();
        let a = r#"INCLUDE ItemID WHERE Items.GENRE IN ("drama")"#;
        let b = r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#;
        let c = r#"EXCLUDE ItemID WHERE Items.PRICE < 0"#;
        let d = r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")"#;
        // Include A | Include B = A or B.
        check(&ctx, &format!("{a} | {b}"), &[], &["i1", "i2", "i5"]);
        // Include A | Exclude C = A - C, in either order.
        check(&ctx, &format!("{a} | {c}"), &[], &["i1"]);
        check(&ctx, &format!("{c} | {a}"), &[], &["i1"]);
        // Exclude C | Exclude D = not (C or D).
        check(&ctx, &format!("{c} | {d}"), &[], &["i2", "i3", "i4"]);
        // Include (A or B) - (C or D).
        check(&ctx, &format!("{d} | {a} | {c} | {b}"), &[], &["i2"]);
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let ctx = shop();
        let f = r#"INCLUDE ItemID WHERE Items.GENRE IN ("horror") OR Items.GENRE IN ("drama") AND Items.PRICE > 0"#;
        check(&ctx, f, &[], &["i1", "i2"]);
        let f = r#"INCLUDE ItemID WHERE (Items.GENRE IN ("horror") OR Items.GENRE IN ("drama")) AND Items.PRICE > 11"#;
        check(&ctx, f, &[], &["i2"]);
    }

    #[test]
    fn if_current_user_makes_an_expression_conditional() {
        let mut ctx = shop();
        let exclude = r#"EXCLUDE ItemID WHERE Items.GENRE IN ("horror") IF CurrentUser.AGE < $AGE"#;
        check(&ctx, exclude, &[("AGE", "\"18\"")], &["i1", "i2", "i3", "i4", "i5"]);
        check(&ctx, exclude, &[("AGE", "\"31\"")], &["i1", "i3", "i4", "i5"]);
        let include = r#"INCLUDE ItemID WHERE Items.GENRE IN ("drama") IF CurrentUser.TIER IN ("gold") AND CurrentUser.AGE >= 30"#;
        check(&ctx, include, &[], &["i1", "i5"]);
        // An INCLUDE that doesn't apply restricts nothing; one that does still restricts.
        let two = format!(r#"{include} | INCLUDE ItemID WHERE Items.PRICE > 20 IF CurrentUser.AGE > 99"#);
        check(&ctx, &two, &[], &["i1", "i5"]);
        ctx.user = Some(fields(vec![("AGE", Value::Int(12)), ("TIER", s("gold"))]));
        check(&ctx, include, &[], &["i1", "i2", "i3", "i4", "i5"]);
        check(&ctx, &two, &[], &["i1", "i2", "i3", "i4", "i5"]);
        // No Users record: IF conditions don't hold, so the expression doesn't apply.
        ctx.user = None;
        check(&ctx, exclude, &[("AGE", "\"99\"")], &["i1", "i2", "i3", "i4", "i5"]);
        // Documented string equality in IF.
        ctx.user = Some(fields(vec![("MEMBERSHIP", s("premium"))]));
        let f = r#"EXCLUDE ItemID WHERE Items.PRICE > 0 IF CurrentUser.MEMBERSHIP = $PREMIUM"#;
        check(&ctx, f, &[("PREMIUM", "\"premium\"")], &["i3", "i5"]);
        check(&ctx, f, &[("PREMIUM", "\"basic\"")], &["i1", "i2", "i3", "i4", "i5"]);
    }

    #[test]
    fn current_item_values() {
        let mut ctx = shop();
        check(&ctx, "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE", &[], &["i1", "i4", "i5"]);
        check(&ctx, "INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE", &[], &["i1", "i5"]);
        check(&ctx, "INCLUDE ItemID WHERE Items.GENRE NOT IN (CurrentItem.GENRE)", &[], &["i2", "i3", "i4"]);
        check(
            &ctx,
            "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
            &[],
            &["i1", "i5"],
        );
        // No current item: IN is false, NOT IN true, comparisons false.
        ctx.current_item = None;
        check(&ctx, "INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE", &[], &[]);
        check(&ctx, "INCLUDE ItemID WHERE Items.GENRE NOT IN CurrentItem.GENRE", &[], &["i1", "i2", "i3", "i4", "i5"]);
        check(&ctx, "EXCLUDE ItemID WHERE Items.PRICE >= CurrentItem.PRICE", &[], &["i1", "i2", "i3", "i4", "i5"]);
    }

    #[test]
    fn user_segment_filters_test_the_candidate_user() {
        let mut ctx = Ctx::default();
        ctx.records.insert("u1".into(), fields(vec![("MEMBERSHIP_STATUS", s("gold")), ("AGE", Value::Int(40))]));
        ctx.records.insert("u2".into(), fields(vec![("MEMBERSHIP_STATUS", s("basic")), ("AGE", Value::Int(17))]));
        ctx.history.insert("u2".into(), vec!["rating".into()]);
        let bound = bind(r#"INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($M)"#, &[("M", "\"gold\"")]).unwrap();
        assert_eq!(bound.target(), Target::User);
        check(&ctx, r#"INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($M)"#, &[("M", "\"gold\"")], &["u1"]);
        check(&ctx, "EXCLUDE UserID WHERE Users.AGE < $AGE", &[("AGE", "\"18\"")], &["u1"]);
        check(&ctx, r#"INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click", "rating")"#, &[], &["u2"]);
    }

    #[test]
    fn event_type_sets_are_exposed_for_per_request_caches() {
        let bound = bind(
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Click") OR Interactions.EVENT_TYPE IN ("*") | INCLUDE ItemID WHERE Items.A IN ("x")"#,
            &[],
        )
        .unwrap();
        let sets = bound.event_type_sets();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].types().collect::<Vec<_>>(), ["click"]);
        assert!(sets[0].contains("CLICK") && !sets[0].contains("clicks"));
        assert!(sets[1].is_all());
        assert!(!bound.is_noop());
    }

    #[test]
    fn computed_fields_can_be_returned_by_value() {
        struct Computed;
        impl FilterContext for Computed {
            fn candidate_field(&self, candidate: &str, field: &str) -> Option<Cow<'_, Value>> {
                (field == "CREATION_TIMESTAMP")
                    .then(|| Cow::Owned(Value::Int(if candidate == "old" { 100 } else { 900 })))
            }
            fn current_item_field(&self, _: &str) -> Option<Cow<'_, Value>> {
                None
            }
            fn current_user_field(&self, _: &str) -> Option<Cow<'_, Value>> {
                None
            }
            fn interacted(&self, _: &str, _: &EventTypeSet) -> bool {
                false
            }
        }
        let bound = bind("INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE", &[("DATE", "\"500\"")]).unwrap();
        assert!(bound.allows(&Computed, "old") && !bound.allows(&Computed, "new"));
        let dynamic: &dyn FilterContext = &Computed;
        assert!(bound.allows(dynamic, "old"));
    }

    // -----------------------------------------------------------------------------------------------------
    // Property test: random catalogues, histories and filters against a plain-loop reading of the rules.

    use proptest::prelude::*;

    const CATEGORIES: [&str; 5] = ["a", "b", "c", "d", "10"];
    const EVENTS_SEEN: [&str; 5] = ["click", "Click", "buy", "VIEW", "view"];
    const EVENTS_LISTED: [&str; 4] = ["click", "BUY", "view", "other"];

    /// A price: an integer, or a float with a half; the range is small so that equal values are common.
    #[derive(Clone, Copy, Debug)]
    struct Price {
        value: f64,
        int: bool,
    }

    impl Price {
        fn to_value(self) -> Value {
            if self.int {
                Value::Int(self.value as i64)
            } else {
                Value::Float(self.value)
            }
        }
    }

    #[derive(Clone, Debug)]
    struct GenItem {
        /// `None`: no GENRE; `null` then says whether it is absent or `Null`.
        genre: Option<Vec<String>>,
        null: bool,
        price: Option<Price>,
        events: Vec<String>,
    }

    #[derive(Clone, Debug)]
    struct World {
        items: Vec<GenItem>,
        current_genre: Option<Vec<String>>,
        current_price: Option<Price>,
        user_age: Option<i64>,
    }

    /// Category lists, event lists and numbers each have their own parameters, so values fit their use.
    #[derive(Clone, Debug)]
    struct Params {
        cats: [Option<Vec<String>>; 2],
        events: Option<Vec<String>>,
        nums: [Option<i64>; 2],
    }

    #[derive(Clone, Debug)]
    enum Values {
        Fixed(Vec<String>),
        Param(usize),
    }

    #[derive(Clone, Debug)]
    enum EventValues {
        Fixed(Vec<String>),
        Star,
        Param,
    }

    #[derive(Clone, Copy, Debug)]
    enum NumRhs {
        Fixed(f64),
        Param(usize),
        Current,
    }

    #[derive(Clone, Debug)]
    enum Cond {
        Genre {
            negated: bool,
            values: Values,
        },
        GenreCurrent {
            negated: bool,
        },
        PriceCmp {
            op: Op,
            rhs: NumRhs,
        },
        /// `Items.PRICE IN (...)` with numbers, each quoted or not.
        PriceIn {
            negated: bool,
            values: Vec<(f64, bool)>,
        },
        Event {
            negated: bool,
            values: EventValues,
        },
        And(Vec<Cond>),
        Or(Vec<Cond>),
    }

    #[derive(Clone, Debug)]
    struct GenExpr {
        include: bool,
        cond: Cond,
        guard: Option<(Op, i64)>,
        lower_case: bool,
    }

    const CMP: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

    fn price() -> impl Strategy<Value = Price> {
        (-2i32..6, any::<bool>()).prop_map(|(v, int)| Price { value: if int { v as f64 } else { v as f64 + 0.5 }, int })
    }

    fn names(pool: &'static [&'static str], min: usize) -> impl Strategy<Value = Vec<String>> {
        proptest::sample::subsequence(pool.to_vec(), min..=pool.len())
            .prop_map(|v| v.into_iter().map(str::to_string).collect())
    }

    fn world() -> impl Strategy<Value = World> {
        let item = (
            proptest::option::of(names(&CATEGORIES, 0)),
            any::<bool>(),
            proptest::option::of(price()),
            names(&EVENTS_SEEN, 0),
        )
            .prop_map(|(genre, null, price, events)| GenItem { genre, null, price, events });
        (
            proptest::collection::vec(item, 1..10),
            proptest::option::of(names(&CATEGORIES, 0)),
            proptest::option::of(price()),
            proptest::option::of(15i64..20),
        )
            .prop_map(|(items, current_genre, current_price, user_age)| World {
                items,
                current_genre,
                current_price,
                user_age,
            })
    }

    fn params() -> impl Strategy<Value = Params> {
        let cat = || proptest::option::of(names(&CATEGORIES, 1));
        let mut events_pool = EVENTS_LISTED.to_vec();
        events_pool.push("*");
        let events = proptest::option::of(
            proptest::sample::subsequence(events_pool, 1..=3).prop_map(|v| v.into_iter().map(str::to_string).collect()),
        );
        let num = proptest::option::of(-2i64..6);
        ((cat(), cat()), events, (num.clone(), num)).prop_map(|((c0, c1), events, (n0, n1))| Params {
            cats: [c0, c1],
            events,
            nums: [n0, n1],
        })
    }

    fn item_leaf() -> impl Strategy<Value = Cond> {
        let values = prop_oneof![names(&CATEGORIES, 1).prop_map(Values::Fixed), (0usize..2).prop_map(Values::Param)];
        let rhs = prop_oneof![
            price().prop_map(|p| NumRhs::Fixed(p.value)),
            (0usize..2).prop_map(NumRhs::Param),
            Just(NumRhs::Current)
        ];
        prop_oneof![
            // NOT IN can't take a parameter, so a negated parameter list becomes IN.
            (any::<bool>(), values).prop_map(|(negated, values)| {
                let negated = negated && matches!(values, Values::Fixed(_));
                Cond::Genre { negated, values }
            }),
            any::<bool>().prop_map(|negated| Cond::GenreCurrent { negated }),
            (proptest::sample::select(CMP.to_vec()), rhs).prop_map(|(op, rhs)| Cond::PriceCmp { op, rhs }),
            (any::<bool>(), proptest::collection::vec((price(), any::<bool>()), 1..4)).prop_map(|(negated, v)| {
                Cond::PriceIn { negated, values: v.into_iter().map(|(p, q)| (p.value, q)).collect() }
            }),
        ]
    }

    fn event_leaf() -> impl Strategy<Value = Cond> {
        let values = prop_oneof![
            names(&EVENTS_LISTED, 1).prop_map(EventValues::Fixed),
            Just(EventValues::Star),
            Just(EventValues::Param)
        ];
        (any::<bool>(), values).prop_map(|(negated, values)| {
            let negated = negated && !matches!(values, EventValues::Param);
            Cond::Event { negated, values }
        })
    }

    fn tree(leaf: BoxedStrategy<Cond>) -> impl Strategy<Value = Cond> {
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Cond::And),
                proptest::collection::vec(inner, 2..4).prop_map(Cond::Or),
            ]
        })
    }

    fn expression() -> impl Strategy<Value = GenExpr> {
        let cond = prop_oneof![tree(item_leaf().boxed()), tree(event_leaf().boxed())];
        let guard = proptest::option::of((proptest::sample::select(CMP.to_vec()), 15i64..20));
        (any::<bool>(), cond, guard, any::<bool>()).prop_map(|(include, cond, guard, lower_case)| GenExpr {
            include,
            cond,
            guard,
            lower_case,
        })
    }

    fn number(v: f64) -> String {
        format!("{v}")
    }

    fn quoted(values: &[String]) -> String {
        values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
    }

    /// Renders a condition; an OR inside an AND needs parentheses, everything else relies on precedence.
    fn render(c: &Cond, kw: &dyn Fn(&str) -> String) -> String {
        let list = |negated: bool| if negated { kw("NOT IN") } else { kw("IN") };
        match c {
            Cond::Genre { negated, values: Values::Fixed(v) } => {
                format!("Items.GENRE {} ({})", list(*negated), quoted(v))
            }
            Cond::Genre { values: Values::Param(i), .. } => format!("Items.GENRE {} ($C{i})", kw("IN")),
            Cond::GenreCurrent { negated } => format!("Items.GENRE {} CurrentItem.GENRE", list(*negated)),
            Cond::PriceCmp { op, rhs } => {
                let rhs = match rhs {
                    NumRhs::Fixed(v) => number(*v),
                    NumRhs::Param(i) => format!("$N{i}"),
                    NumRhs::Current => "CurrentItem.PRICE".to_string(),
                };
                format!("Items.PRICE {} {rhs}", op.symbol())
            }
            Cond::PriceIn { negated, values } => {
                let v: Vec<String> =
                    values.iter().map(|(v, q)| if *q { format!("\"{v}\"") } else { number(*v) }).collect();
                format!("Items.PRICE {} ({})", list(*negated), v.join(", "))
            }
            Cond::Event { negated, values } => {
                let v = match values {
                    EventValues::Fixed(v) => quoted(v),
                    EventValues::Star => "\"*\"".to_string(),
                    EventValues::Param => "$E".to_string(),
                };
                format!("Interactions.EVENT_TYPE {} ({v})", list(*negated))
            }
            Cond::And(parts) => parts
                .iter()
                .map(|p| match p {
                    Cond::Or(_) => format!("({})", render(p, kw)),
                    _ => render(p, kw),
                })
                .collect::<Vec<_>>()
                .join(&format!(" {} ", kw("AND"))),
            Cond::Or(parts) => parts.iter().map(|p| render(p, kw)).collect::<Vec<_>>().join(&format!(" {} ", kw("OR"))),
        }
    }

    fn render_filter(exprs: &[GenExpr]) -> String {
        let rendered: Vec<String> = exprs
            .iter()
            .map(|e| {
                let lower = e.lower_case;
                let kw = move |k: &str| if lower { k.to_lowercase() } else { k.to_string() };
                let action = if e.include { kw("INCLUDE") } else { kw("EXCLUDE") };
                let mut text = format!("{action} {} {} {}", kw("ItemID"), kw("WHERE"), render(&e.cond, &kw));
                if let Some((op, age)) = e.guard {
                    text.push_str(&format!(" {} CurrentUser.AGE {} {age}", kw("IF"), op.symbol()));
                }
                text
            })
            .collect();
        rendered.join(" | ")
    }

    fn filter_values(p: &Params) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (i, c) in p.cats.iter().enumerate() {
            if let Some(v) = c {
                out.insert(format!("C{i}"), v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(","));
            }
        }
        if let Some(v) = &p.events {
            out.insert("E".to_string(), v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(","));
        }
        for (i, n) in p.nums.iter().enumerate() {
            if let Some(n) = n {
                out.insert(format!("N{i}"), format!("\"{n}\""));
            }
        }
        out
    }

    fn ordered(op: Op, a: f64, b: f64) -> bool {
        match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::In | Op::NotIn => unreachable!("comparisons only"),
        }
    }

    /// Which parameters a condition needs, written out again rather than reusing the parser's list.
    fn needs(c: &Cond, p: &Params) -> bool {
        match c {
            Cond::Genre { values: Values::Param(i), .. } => p.cats[*i].is_some(),
            Cond::PriceCmp { rhs: NumRhs::Param(i), .. } => p.nums[*i].is_some(),
            Cond::Event { values: EventValues::Param, .. } => p.events.is_some(),
            Cond::And(parts) | Cond::Or(parts) => parts.iter().all(|c| needs(c, p)),
            _ => true,
        }
    }

    /// The rules read literally: plain loops over the generated world, no sets, no shared helpers.
    fn reference_matches(c: &Cond, w: &World, p: &Params, item: &GenItem) -> bool {
        let genre: Vec<String> = if item.null { Vec::new() } else { item.genre.clone().unwrap_or_default() };
        match c {
            Cond::Genre { negated, values } => {
                let list = match values {
                    Values::Fixed(v) => v.clone(),
                    Values::Param(i) => p.cats[*i].clone().unwrap_or_default(),
                };
                let mut found = false;
                for g in &genre {
                    for l in &list {
                        if g == l {
                            found = true;
                        }
                    }
                }
                found != *negated
            }
            Cond::GenreCurrent { negated } => {
                let mut found = false;
                for g in &genre {
                    for cg in w.current_genre.iter().flatten() {
                        if g == cg {
                            found = true;
                        }
                    }
                }
                found != *negated
            }
            Cond::PriceCmp { op, rhs } => {
                let right = match rhs {
                    NumRhs::Fixed(v) => Some(*v),
                    NumRhs::Param(i) => p.nums[*i].map(|n| n as f64),
                    NumRhs::Current => w.current_price.map(|p| p.value),
                };
                match (item.price, right) {
                    (Some(left), Some(right)) => ordered(*op, left.value, right),
                    _ => false,
                }
            }
            Cond::PriceIn { negated, values } => {
                let mut found = false;
                for (v, _) in values {
                    if item.price.is_some_and(|p| p.value == *v) {
                        found = true;
                    }
                }
                found != *negated
            }
            Cond::Event { negated, values } => {
                let mut found = false;
                for seen in &item.events {
                    match values {
                        EventValues::Star => found = true,
                        EventValues::Fixed(list) => {
                            for l in list {
                                if l.to_lowercase() == seen.to_lowercase() {
                                    found = true;
                                }
                            }
                        }
                        EventValues::Param => {
                            for l in p.events.iter().flatten() {
                                if l == "*" || l.to_lowercase() == seen.to_lowercase() {
                                    found = true;
                                }
                            }
                        }
                    }
                }
                found != *negated
            }
            Cond::And(parts) => parts.iter().all(|c| reference_matches(c, w, p, item)),
            Cond::Or(parts) => parts.iter().any(|c| reference_matches(c, w, p, item)),
        }
    }

    /// `None` when some INCLUDE expression lacks a parameter value (an error), else which items are allowed.
    fn reference(exprs: &[GenExpr], w: &World, p: &Params) -> Option<Vec<bool>> {
        let mut active = Vec::new();
        for e in exprs {
            if !needs(&e.cond, p) {
                if e.include {
                    return None;
                }
                continue;
            }
            let applies = match e.guard {
                None => true,
                Some((op, age)) => w.user_age.is_some_and(|a| ordered(op, a as f64, age as f64)),
            };
            if applies {
                active.push(e);
            }
        }
        let mut allowed = Vec::new();
        for item in &w.items {
            let mut excluded = false;
            let mut any_include = false;
            let mut included = false;
            for e in &active {
                let m = reference_matches(&e.cond, w, p, item);
                if e.include {
                    any_include = true;
                    included |= m;
                } else {
                    excluded |= m;
                }
            }
            allowed.push(!excluded && (!any_include || included));
        }
        Some(allowed)
    }

    fn context(w: &World) -> Ctx {
        let mut ctx = Ctx::default();
        for (i, item) in w.items.iter().enumerate() {
            let mut f = Vec::new();
            match (&item.genre, item.null) {
                (_, true) => f.push(("GENRE".to_string(), Value::Null)),
                (Some(g), false) => f.push(("GENRE".to_string(), Value::Categories(g.clone()))),
                (None, false) => {}
            }
            if let Some(p) = item.price {
                f.push(("PRICE".to_string(), p.to_value()));
            }
            ctx.records.insert(format!("i{i}"), f);
            ctx.history.insert(format!("i{i}"), item.events.clone());
        }
        let mut current = Vec::new();
        if let Some(g) = &w.current_genre {
            current.push(("GENRE".to_string(), Value::Categories(g.clone())));
        }
        if let Some(p) = w.current_price {
            current.push(("PRICE".to_string(), p.to_value()));
        }
        ctx.current_item = Some(current);
        ctx.user = w.user_age.map(|a| vec![("AGE".to_string(), Value::Int(a))]);
        ctx
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn allows_agrees_with_a_plain_reading_of_the_rules(
            w in world(),
            exprs in proptest::collection::vec(expression(), 1..4),
            p in params(),
        ) {
            let text = render_filter(&exprs);
            let filter = FilterExpr::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let want = reference(&exprs, &w, &p);
            match (filter.bind(&filter_values(&p)), want) {
                (Err(e), None) => prop_assert!(e.parameter_name().is_some(), "{}", e),
                (Err(e), Some(_)) => prop_assert!(false, "{text}: unexpected error {e}"),
                (Ok(_), None) => prop_assert!(false, "{text}: an INCLUDE expression lacks a value, yet it bound"),
                (Ok(bound), Some(want)) => {
                    let ctx = context(&w);
                    for (i, expected) in want.iter().enumerate() {
                        let got = bound.allows(&ctx, &format!("i{i}"));
                        prop_assert_eq!(got, *expected, "{} item {} {:?}", text, i, w.items[i]);
                    }
                }
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = FilterExpr::parse(&text);
        }

        #[test]
        fn parsing_near_valid_text_never_panics(
            text in "(INCLUDE|EXCLUDE|include) (ItemID|UserID) (WHERE )?(Items|Interactions|CurrentItem|Users)\\.[A-Z_]{1,6} (IN|NOT IN|<|=|!=) [(\"$*0-9a-z,) ]{0,20}( (AND|OR|IF|\\|) .{0,20})?"
        ) {
            let _ = FilterExpr::parse(&text);
        }

        #[test]
        fn parsing_filter_values_never_panics(raw in "[\"a-c, \\\\]{0,30}") {
            let _ = parse_filter_values(&raw);
        }
    }
}
