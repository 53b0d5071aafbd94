//! Amazon Personalize filter expressions: parsing at CreateFilter, binding per request, evaluation per
//! candidate.
//!
//! # Lifecycle
//!
//! 1. CreateFilter: [`FilterExpr::parse`] validates the text once and reports the first problem as
//!    `at <character offset>: <what to do>`. The engine then checks [`FilterExpr::fields`] against the
//!    schemas (Personalize rejects unknown, boolean and textual fields) and keeps the parsed filter.
//! 2. Each request: [`FilterExpr::bind`] turns the request's `filterValues` into hash sets and decides
//!    which expressions take part (see *Parameters*), giving a [`BoundFilter`].
//! 3. Each candidate: [`BoundFilter::allows`] answers from lookups through the engine's
//!    [`FilterContext`], with no parsing or allocation, so a filter that removes most of the catalogue
//!    costs little more than the extra candidates it makes the engine read.
//!
//! ```text
//! let filter = FilterExpr::parse(r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#)?;
//! let bound = filter.bind(&HashMap::from([("GENRE".to_string(), r#""comedy","drama""#.to_string())]))?;
//! let kept: Vec<&str> = ranked.into_iter().filter(|item| bound.allows(&ctx, item)).collect();
//! ```
//!
//! # The language
//!
//! A filter is one or more expressions joined by `|`:
//! `INCLUDE|EXCLUDE ItemID|UserID|ActionID WHERE condition [IF CurrentUser-condition [AND ...]]`.
//! A condition is `Dataset.FIELD` followed by `IN (values)`, `NOT IN (values)`, `IN ($PARAM)`,
//! `IN CurrentItem.FIELD`, or a comparison `= != < <= > >=` with a number, `$PARAM` or
//! `CurrentItem.FIELD`; conditions are joined with `AND` / `OR` (AND binds tighter, parentheses group).
//! Keywords, `ItemID`-style targets and dataset names match in any case; field names are case-sensitive
//! as in the schema, except the reserved `EVENT_TYPE`. Values are double-quoted strings or unquoted
//! numbers. AWS's rules, enforced by the parser:
//! - `ItemID` filters use `Items` or `Interactions`; `UserID` filters `Users` or `Interactions`;
//!   `ActionID` filters `Actions` or `Action_Interactions`.
//! - Conditions joined by AND/OR use the dataset of the first condition; mixing Items and Interactions
//!   takes two expressions joined by `|`.
//! - Interactions are filtered only by `EVENT_TYPE`, only with `IN`/`NOT IN`; `"*"` means every event
//!   type and is allowed nowhere else. Event types match ignoring case; everything else is exact.
//! - `CurrentItem.FIELD` (related-items requests) is only a value compared with an `Items` field.
//! - `IF` appears once, at the end, checks only `CurrentUser` fields, and extends only with `AND`.
//! - `NOT IN` can't take a parameter; a parameter is alone in its list.
//! - `Actions.ACTION_EXPIRATION_TIMESTAMP` and `Actions.REPEAT_FREQUENCY` can't be filtered.
//! - Limits: 2500 characters, 10 distinct dataset fields per filter, 25 parameters (the `filterValues`
//!   map limit), parameter names of `[A-Za-z0-9_]` up to 50 characters, values up to 1000 characters.
//!
//! # Semantics
//!
//! Every field is treated as a set of values: a string is one value, a categorical field one per
//! category, a number one number; a missing field, `Null`, an empty category list or a boolean has none.
//! For a candidate item, `Interactions.EVENT_TYPE` is the set of event types of the requesting user's
//! interactions with it. Then:
//! - `IN` holds when some value of the field is in the list; `NOT IN` is its exact negation (no value is
//!   in the list), so it holds for a missing field. This matches AWS's description of
//!   `EXCLUDE ... CATEGORY_L1 IN ("shoe") AND CATEGORY_L2 NOT IN ("boot")` as excluding shoes that "do
//!   not have" a `boot` value, and makes `Interactions.EVENT_TYPE NOT IN ("*")` mean "never interacted".
//! - Comparisons need a field with exactly one value and hold only if both sides are numbers (compared
//!   as `f64`), or, for `=` and `!=` only, both are strings. A missing field, a string compared with a
//!   number, or a multi-category field fails every comparison, `!=` included.
//! - A quoted value or parameter value that reads as a number (`"10"`) matches the number 10 as well as
//!   the string `"10"`, because `filterValues` are always strings; an unquoted number matches numbers only.
//! - `IN CurrentItem.F` holds when the candidate and the current item share a value; without a current
//!   item (or field) it is false and its `NOT IN` true, and comparisons with it are false.
//! - An expression whose IF conditions don't all hold (including when the user has no Users record or
//!   lacks the field) does not apply to that request.
//! - A candidate is allowed when no applying EXCLUDE expression matches it and, if some INCLUDE expression
//!   applies, at least one applying INCLUDE expression matches it (`Include A | Exclude B` = A − B, order
//!   irrelevant).
//!
//! # Parameters
//!
//! `filterValues` maps a parameter name (without `$`, case-sensitive) to comma-separated double-quoted
//! values, e.g. `"\"shoes\",\"boots\""`. An INCLUDE expression with a parameter that has no value is an
//! error naming the parameter; an EXCLUDE expression with any parameter lacking a value is skipped
//! entirely, as Personalize does. A blank value counts as no value. A parameter compared with `=`, `<`,
//! ... takes exactly one value, a number for the ordering operators.

mod eval;
mod expr;

pub use eval::{parse_filter_values, BoundFilter, EventTypeSet, FilterContext};
pub use expr::{
    Action, Condition, Dataset, Expression, FieldRef, FilterError, FilterExpr, Literal, Op, Operand, Predicate, Target,
    MAX_DISTINCT_FIELDS, MAX_EXPRESSION_CHARS, MAX_NESTING, MAX_PARAMETERS, MAX_PARAMETER_NAME_CHARS,
    MAX_PARAMETER_VALUE_CHARS,
};
