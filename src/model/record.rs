//! Typed records built from the text values of one CSV row.
//!
//! The importer hands this module `(field, raw text)` pairs; it turns them into
//! an [`Interaction`], [`ItemRecord`] or [`UserRecord`], applying
//! Personalize's data rules (non-empty ids of at most 256 characters,
//! timestamps in epoch *seconds*, `|`-separated categorical values and
//! impressions). Every failure is a [`FieldError`] naming the field, so one bad
//! value rejects one row with a precise message instead of aborting an import.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::schema::{is_reserved, DatasetType, Field, FieldType, Schema};

/// Longest user or item id Personalize accepts, in characters.
pub const MAX_ID_LEN: usize = 256;

/// Timestamps above this are rejected as probably being milliseconds:
/// 10^11 seconds is the year 5138, while 10^11 milliseconds is only 1973, so
/// any realistic millisecond timestamp lands above it.
pub const MAX_TIMESTAMP_SECONDS: i64 = 100_000_000_000;

/// Now, in the unit `TIMESTAMP` uses (seconds since the Unix epoch): the time of events sent without one.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Raw values longer than this (in characters) are shortened in messages.
const QUOTE_LIMIT: usize = 40;

/// A typed value of one schema field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// An empty value of a nullable field.
    Null,
    /// A plain or textual string, kept verbatim.
    String(String),
    /// A categorical string split on `|`, each part trimmed, empties dropped.
    Categories(Vec<String>),
    /// An `int` or `long`.
    Int(i64),
    /// A `float` or `double`, always finite.
    Float(f64),
    /// A `boolean`.
    Bool(bool),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as CSV text (categories joined by `|`), `None` for [`Value::Null`]: what exports write and
    /// `metadataColumns` return.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Categories(c) => c.join("|"),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
        })
    }

    /// The value as a number, if it is [`Value::Int`] or [`Value::Float`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// One user–item event (a row of an Interactions dataset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// `USER_ID`.
    pub user_id: String,
    /// `ITEM_ID`.
    pub item_id: String,
    /// `TIMESTAMP`, in seconds since the Unix epoch.
    pub timestamp: i64,
    /// `EVENT_TYPE`, if the schema has it and the value is not empty.
    pub event_type: Option<String>,
    /// `EVENT_VALUE`, if the schema has it and the value is not empty.
    pub event_value: Option<f64>,
    /// `IMPRESSION`: the item ids shown to the user, split on `|`.
    pub impression: Vec<String>,
    /// `RECOMMENDATION_ID`, if present.
    pub recommendation_id: Option<String>,
    /// The other schema fields in schema order (absent or empty values of
    /// nullable fields are [`Value::Null`], so every record of a schema has the
    /// same metadata names in the same order).
    pub metadata: Vec<(String, Value)>,
}

/// One row of an Items dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// `ITEM_ID`.
    pub item_id: String,
    /// `CREATION_TIMESTAMP` in epoch seconds, if present.
    pub creation_timestamp: Option<i64>,
    /// The metadata fields in schema order (see [`Interaction::metadata`]).
    pub fields: Vec<(String, Value)>,
}

/// One row of a Users dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// `USER_ID`.
    pub user_id: String,
    /// The metadata fields in schema order (see [`Interaction::metadata`]).
    pub fields: Vec<(String, Value)>,
}

/// A validated record of any dataset type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A row of an Interactions dataset.
    Interaction(Interaction),
    /// A row of an Items dataset.
    Item(ItemRecord),
    /// A row of a Users dataset.
    User(UserRecord),
}

impl Record {
    /// The dataset type this record belongs to.
    pub fn dataset_type(&self) -> DatasetType {
        match self {
            Record::Interaction(_) => DatasetType::Interactions,
            Record::Item(_) => DatasetType::Items,
            Record::User(_) => DatasetType::Users,
        }
    }
}

/// Why one value could not be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The schema field the value belongs to.
    pub field: String,
    /// What was wrong, quoting the (possibly shortened) raw value.
    pub reason: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// `raw` in double quotes with escapes, shortened to about 40 characters so
/// that a runaway field (e.g. a missing closing quote swallowing the rest of
/// a file) cannot flood the error report.
pub fn quote(raw: &str) -> String {
    if raw.chars().count() > QUOTE_LIMIT {
        let head: String = raw.chars().take(QUOTE_LIMIT).collect();
        format!("{head:?}... ({} characters)", raw.chars().count())
    } else {
        format!("{raw:?}")
    }
}

/// Splits a `|`-separated list, trimming parts and dropping empty ones.
fn split_bars(raw: &str) -> Vec<String> {
    raw.split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Parses one raw CSV value according to `field`'s type.
///
/// * An empty string is [`Value::Null`] for a nullable field and an error
///   (`required value is empty`) otherwise.
/// * Strings stay verbatim, except categorical ones which become
///   [`Value::Categories`]; a categorical value with no non-empty category
///   (e.g. `"|"`) is treated like an empty value.
/// * `int`/`long` parse as `i64` (`int` also checks the 32-bit range);
///   `float`/`double` parse as `f64` and reject NaN and infinities (they would
///   poison sums in the models); `boolean` accepts `true`/`false` in any case
///   and `1`/`0`. Surrounding spaces are ignored for these non-string types,
///   since spreadsheets often pad numbers.
pub fn parse_value(field: &Field, raw: &str) -> Result<Value, FieldError> {
    let err = |reason: String| FieldError::new(&field.name, reason);
    let empty = || {
        if field.nullable {
            Ok(Value::Null)
        } else {
            Err(err("required value is empty".to_string()))
        }
    };
    if raw.is_empty() {
        return empty();
    }
    let t = raw.trim();
    match field.ty {
        FieldType::String if field.categorical => {
            let cats = split_bars(raw);
            if cats.is_empty() {
                empty()
            } else {
                Ok(Value::Categories(cats))
            }
        }
        FieldType::String => Ok(Value::String(raw.to_string())),
        FieldType::Int | FieldType::Long => {
            let v: i64 =
                t.parse().map_err(|_| err(format!("expected an integer ({}), got {}", field.ty, quote(raw))))?;
            if field.ty == FieldType::Int && i32::try_from(v).is_err() {
                return Err(err(format!(
                    "integer {} is out of range for int (32-bit); declare the field as long",
                    quote(raw)
                )));
            }
            Ok(Value::Int(v))
        }
        FieldType::Float | FieldType::Double => {
            let v: f64 = t.parse().map_err(|_| err(format!("expected a number ({}), got {}", field.ty, quote(raw))))?;
            if !v.is_finite() {
                return Err(err(format!("expected a finite number ({}), got {}", field.ty, quote(raw))));
            }
            if field.ty == FieldType::Float && !(v as f32).is_finite() {
                return Err(err(format!(
                    "number {} is out of range for float; declare the field as double",
                    quote(raw)
                )));
            }
            Ok(Value::Float(v))
        }
        FieldType::Boolean => {
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Ok(Value::Bool(true))
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Ok(Value::Bool(false))
            } else {
                Err(err(format!("expected a boolean (true, false, 1 or 0), got {}", quote(raw))))
            }
        }
    }
}

/// A user or item id: non-empty and at most [`MAX_ID_LEN`] characters.
/// Ids are taken verbatim (no trimming) because Personalize treats `"a"` and
/// `" a"` as different ids and we must agree with it.
fn parse_id(field: &Field, raw: &str) -> Result<String, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(&field.name, "required value is empty"));
    }
    let len = raw.chars().count();
    if len > MAX_ID_LEN {
        return Err(FieldError::new(
            &field.name,
            format!("id is {len} characters long, more than the maximum of {MAX_ID_LEN}: {}", quote(raw)),
        ));
    }
    Ok(raw.to_string())
}

/// An epoch-seconds timestamp, or `None` for an empty nullable value.
fn parse_timestamp(field: &Field, raw: &str) -> Result<Option<i64>, FieldError> {
    let secs = match parse_value(field, raw)? {
        Value::Null => return Ok(None),
        Value::Int(i) => i,
        // Only reachable with a schema that skipped validate_for.
        _ => return Err(FieldError::new(&field.name, format!("field must be declared long, not {}", field.ty))),
    };
    if secs < 0 {
        return Err(FieldError::new(
            &field.name,
            format!("expected epoch seconds (a non-negative integer), got {}", quote(raw)),
        ));
    }
    if secs > MAX_TIMESTAMP_SECONDS {
        return Err(FieldError::new(
            &field.name,
            format!("{} looks like milliseconds; timestamps must be in seconds since the Unix epoch", quote(raw)),
        ));
    }
    Ok(Some(secs))
}

/// An optional string: empty values are `None` when the field is nullable.
fn parse_opt_string(field: &Field, raw: &str) -> Result<Option<String>, FieldError> {
    Ok(match parse_value(field, raw)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Categories(c) => Some(c.join("|")),
        other => return Err(FieldError::new(&field.name, format!("field must be declared string, got {other:?}"))),
    })
}

/// Builds a typed record from the raw values of one row.
///
/// `values` pairs an index into `schema.fields` with that field's raw text, in
/// any order. Schema fields absent from `values` are treated as empty: allowed
/// (null) for nullable fields, an error naming the field otherwise, so a row
/// from a file lacking a required column cannot slip through. An index given
/// twice or out of range is an error rather than a panic, since it comes from
/// a caller's column mapping.
///
/// The schema is expected to have passed [`Schema::validate_for`] for `ty`;
/// if it has not, type mismatches on reserved fields surface as errors here.
pub fn build_record(schema: &Schema, ty: DatasetType, values: &[(usize, &str)]) -> Result<Record, FieldError> {
    // Gather raw values per schema field; `None` = not supplied.
    let mut raw: Vec<Option<&str>> = vec![None; schema.fields.len()];
    for &(idx, text) in values {
        let Some(slot) = raw.get_mut(idx) else {
            return Err(FieldError::new(
                format!("#{idx}"),
                format!("column refers to field index {idx}, but the schema has {} fields", schema.fields.len()),
            ));
        };
        if slot.is_some() {
            return Err(FieldError::new(&schema.fields[idx].name, "value given twice (two columns map to this field)"));
        }
        *slot = Some(text);
    }

    // Required reserved fields must exist in the schema at all.
    let need = |name: &str| -> Result<(usize, &Field), FieldError> {
        schema
            .fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .ok_or_else(|| FieldError::new(name, format!("the {ty} schema has no {name} field")))
    };
    let get = |i: usize| raw[i].unwrap_or("");

    // Metadata is parsed after the reserved fields so that a row with a bad
    // id reports the id, the more fundamental problem.
    let metadata = || -> Result<Vec<(String, Value)>, FieldError> {
        schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !is_reserved(ty, &f.name) || f.name == "EVENT_ATTRIBUTION_SOURCE")
            .map(|(i, f)| Ok((f.name.clone(), parse_value(f, get(i))?)))
            .collect()
    };

    Ok(match ty {
        DatasetType::Interactions => {
            let (u, uf) = need("USER_ID")?;
            let (it, itf) = need("ITEM_ID")?;
            let (t, tf) = need("TIMESTAMP")?;
            let user_id = parse_id(uf, get(u))?;
            let item_id = parse_id(itf, get(it))?;
            let timestamp = match parse_timestamp(tf, get(t))? {
                Some(t) => t,
                None => return Err(FieldError::new(&tf.name, "required value is empty")),
            };
            let mut event_type = None;
            let mut event_value = None;
            let mut impression = Vec::new();
            let mut recommendation_id = None;
            for (i, f) in schema.fields.iter().enumerate() {
                match f.name.as_str() {
                    "EVENT_TYPE" => event_type = parse_opt_string(f, get(i))?,
                    "EVENT_VALUE" => {
                        event_value = match parse_value(f, get(i))? {
                            Value::Null => None,
                            v => Some(v.as_f64().ok_or_else(|| {
                                FieldError::new(&f.name, format!("expected a number, got {}", quote(get(i))))
                            })?),
                        }
                    }
                    "IMPRESSION" => {
                        impression = parse_opt_string(f, get(i))?.map(|s| split_bars(&s)).unwrap_or_default()
                    }
                    "RECOMMENDATION_ID" => recommendation_id = parse_opt_string(f, get(i))?,
                    _ => {}
                }
            }
            Record::Interaction(Interaction {
                user_id,
                item_id,
                timestamp,
                event_type,
                event_value,
                impression,
                recommendation_id,
                metadata: metadata()?,
            })
        }
        DatasetType::Items => {
            let (it, itf) = need("ITEM_ID")?;
            let item_id = parse_id(itf, get(it))?;
            let creation_timestamp = match schema.field_index("CREATION_TIMESTAMP") {
                Some(i) => parse_timestamp(&schema.fields[i], get(i))?,
                None => None,
            };
            Record::Item(ItemRecord { item_id, creation_timestamp, fields: metadata()? })
        }
        DatasetType::Users => {
            let (u, uf) = need("USER_ID")?;
            let user_id = parse_id(uf, get(u))?;
            Record::User(UserRecord { user_id, fields: metadata()? })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(ty: FieldType) -> Field {
        Field::new("F", ty)
    }

    fn reason(field: &Field, raw: &str) -> String {
        parse_value(field, raw).unwrap_err().reason
    }

    #[test]
    fn strings_and_categories() {
        let s = f(FieldType::String);
        assert_eq!(parse_value(&s, " a|b ").unwrap(), Value::String(" a|b ".into()));
        let c = f(FieldType::String).categorical();
        assert_eq!(
            parse_value(&c, " Action | Crime||Biopic|").unwrap(),
            Value::Categories(vec!["Action".into(), "Crime".into(), "Biopic".into()])
        );
        assert_eq!(reason(&c, "|"), "required value is empty");
        assert_eq!(parse_value(&c.clone().nullable(), " | ").unwrap(), Value::Null);
        let t = f(FieldType::String).textual();
        assert_eq!(parse_value(&t, "a|b").unwrap(), Value::String("a|b".into()));
    }

    #[test]
    fn empty_values() {
        for ty in FieldType::ALL {
            assert_eq!(parse_value(&f(ty).nullable(), "").unwrap(), Value::Null);
            let e = parse_value(&f(ty), "").unwrap_err();
            assert_eq!(e.to_string(), "F: required value is empty");
        }
    }

    #[test]
    fn integers() {
        let l = f(FieldType::Long);
        assert_eq!(parse_value(&l, "-42").unwrap(), Value::Int(-42));
        assert_eq!(parse_value(&l, " 7 ").unwrap(), Value::Int(7));
        assert_eq!(parse_value(&l, "9223372036854775807").unwrap(), Value::Int(i64::MAX));
        assert_eq!(reason(&l, "4.5"), "expected an integer (long), got \"4.5\"");
        assert!(reason(&l, "9223372036854775808").contains("expected an integer"));
        let i = f(FieldType::Int);
        assert_eq!(parse_value(&i, "2147483647").unwrap(), Value::Int(2147483647));
        assert!(reason(&i, "2147483648").contains("out of range for int"));
        assert_eq!(reason(&i, "x"), "expected an integer (int), got \"x\"");
    }

    #[test]
    fn floats() {
        let d = f(FieldType::Double);
        assert_eq!(parse_value(&d, "3.5").unwrap(), Value::Float(3.5));
        assert_eq!(parse_value(&d, "4").unwrap(), Value::Float(4.0));
        assert_eq!(parse_value(&d, "-1e3").unwrap(), Value::Float(-1000.0));
        for bad in ["NaN", "inf", "-infinity", "1e400"] {
            assert!(reason(&d, bad).contains("expected a finite number"), "{bad}");
        }
        assert_eq!(reason(&d, "abc"), "expected a number (double), got \"abc\"");
        let fl = f(FieldType::Float);
        assert!(reason(&fl, "1e300").contains("out of range for float"));
    }

    #[test]
    fn booleans() {
        let b = f(FieldType::Boolean);
        for (raw, want) in [("true", true), ("TRUE", true), ("1", true), ("False", false), ("0", false)] {
            assert_eq!(parse_value(&b, raw).unwrap(), Value::Bool(want), "{raw}");
        }
        assert_eq!(reason(&b, "yes"), "expected a boolean (true, false, 1 or 0), got \"yes\"");
    }

    #[test]
    fn long_values_are_truncated_in_messages() {
        let raw = "x".repeat(500);
        let r = reason(&f(FieldType::Long), &raw);
        assert!(r.len() < 120, "{r}");
        assert!(r.contains("(500 characters)"), "{r}");
    }

    fn interactions_schema() -> Schema {
        Schema::parse(
            r#"{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[
                {"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
                {"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":["null","string"]},
                {"name":"EVENT_VALUE","type":["null","float"]},{"name":"IMPRESSION","type":["null","string"]},
                {"name":"RECOMMENDATION_ID","type":["null","string"]},
                {"name":"DEVICE","type":["null","string"],"categorical":true},{"name":"PRICE","type":"double"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn builds_a_full_interaction() {
        let s = interactions_schema();
        s.validate_for(DatasetType::Interactions).unwrap();
        let r = build_record(
            &s,
            DatasetType::Interactions,
            &[
                (8, "9.99"),
                (0, "u1"),
                (1, "i1"),
                (2, "1700000000"),
                (3, "click"),
                (4, "4"),
                (5, "i1|i2| i3 |"),
                (6, "rec-1"),
                (7, "phone|tablet"),
            ],
        )
        .unwrap();
        assert_eq!(r.dataset_type(), DatasetType::Interactions);
        assert_eq!(
            r,
            Record::Interaction(Interaction {
                user_id: "u1".into(),
                item_id: "i1".into(),
                timestamp: 1_700_000_000,
                event_type: Some("click".into()),
                event_value: Some(4.0),
                impression: vec!["i1".into(), "i2".into(), "i3".into()],
                recommendation_id: Some("rec-1".into()),
                metadata: vec![
                    ("DEVICE".into(), Value::Categories(vec!["phone".into(), "tablet".into()])),
                    ("PRICE".into(), Value::Float(9.99)),
                ],
            })
        );
    }

    #[test]
    fn optional_fields_default_to_empty() {
        let s = interactions_schema();
        let r = build_record(&s, DatasetType::Interactions, &[(0, "u1"), (1, "i1"), (2, "5"), (8, "1")]).unwrap();
        let Record::Interaction(i) = r else { panic!() };
        assert_eq!(i.event_type, None);
        assert_eq!(i.event_value, None);
        assert!(i.impression.is_empty());
        assert_eq!(i.recommendation_id, None);
        assert_eq!(i.metadata[0], ("DEVICE".into(), Value::Null));
    }

    #[test]
    fn interaction_errors_name_the_field() {
        let s = interactions_schema();
        let ty = DatasetType::Interactions;
        let build = |v: &[(usize, &str)]| build_record(&s, ty, v).unwrap_err();
        let e = build(&[(1, "i1"), (2, "5"), (8, "1")]);
        assert_eq!(e, FieldError::new("USER_ID", "required value is empty"));
        let e = build(&[(0, ""), (1, "i1"), (2, "5"), (8, "1")]);
        assert_eq!(e.field, "USER_ID");
        let long = "u".repeat(257);
        let e = build(&[(0, &long), (1, "i1"), (2, "5"), (8, "1")]);
        assert_eq!(e.field, "USER_ID");
        assert!(e.reason.contains("257 characters long, more than the maximum of 256"));
        let ok256 = "u".repeat(256);
        assert!(build_record(&s, ty, &[(0, &ok256), (1, "i1"), (2, "5"), (8, "1")]).is_ok());
        let e = build(&[(0, "u"), (1, "i1"), (2, "1700000000000"), (8, "1")]);
        assert_eq!(e.field, "TIMESTAMP");
        assert!(e.reason.contains("looks like milliseconds"), "{e}");
        let e = build(&[(0, "u"), (1, "i1"), (2, "-5"), (8, "1")]);
        assert!(e.reason.contains("non-negative"), "{e}");
        let e = build(&[(0, "u"), (1, "i1"), (2, "2024-01-01"), (8, "1")]);
        assert_eq!(e.reason, "expected an integer (long), got \"2024-01-01\"");
        let e = build(&[(0, "u"), (1, "i1"), (2, "5"), (4, "five"), (8, "1")]);
        assert_eq!(e.field, "EVENT_VALUE");
        let e = build(&[(0, "u"), (1, "i1"), (2, "5")]);
        assert_eq!(e, FieldError::new("PRICE", "required value is empty"));
        let e = build(&[(0, "u"), (0, "v"), (1, "i1"), (2, "5"), (8, "1")]);
        assert_eq!(e.field, "USER_ID");
        assert!(e.reason.contains("given twice"));
        let e = build(&[(99, "u")]);
        assert_eq!(e.field, "#99");
        // A schema that skipped validation: no TIMESTAMP at all.
        let bare = Schema::default_for(DatasetType::Users);
        let e = build_record(&bare, ty, &[(0, "u")]).unwrap_err();
        assert_eq!(e.field, "ITEM_ID");
    }

    #[test]
    fn builds_items_and_users() {
        let s = Schema::parse(
            r#"{"type":"record","name":"Items","namespace":"com.amazonaws.personalize.schema","fields":[
                {"name":"ITEM_ID","type":"string"},{"name":"CREATION_TIMESTAMP","type":["null","long"]},
                {"name":"GENRES","type":"string","categorical":true},{"name":"TITLE","type":"string","textual":true},
                {"name":"ADULT","type":["null","boolean"]}]}"#,
        )
        .unwrap();
        let r = build_record(
            &s,
            DatasetType::Items,
            &[(0, "m1"), (1, ""), (2, "Comedy|Drama"), (3, "Toy Story (1995)"), (4, "0")],
        )
        .unwrap();
        assert_eq!(
            r,
            Record::Item(ItemRecord {
                item_id: "m1".into(),
                creation_timestamp: None,
                fields: vec![
                    ("GENRES".into(), Value::Categories(vec!["Comedy".into(), "Drama".into()])),
                    ("TITLE".into(), Value::String("Toy Story (1995)".into())),
                    ("ADULT".into(), Value::Bool(false)),
                ],
            })
        );
        let r = build_record(&s, DatasetType::Items, &[(0, "m1"), (1, "86400"), (2, "X"), (3, "t")]).unwrap();
        let Record::Item(item) = r else { panic!() };
        assert_eq!(item.creation_timestamp, Some(86400));
        let e = build_record(&s, DatasetType::Items, &[(0, "m1"), (1, "86400000000000"), (2, "X")]).unwrap_err();
        assert_eq!(e.field, "CREATION_TIMESTAMP");

        let users = Schema::default_for(DatasetType::Users);
        let r = build_record(&users, DatasetType::Users, &[(0, "u9")]).unwrap();
        assert_eq!(r, Record::User(UserRecord { user_id: "u9".into(), fields: vec![] }));
        // Records survive a serde round trip.
        let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
