//! Dataset schemas in the Avro JSON dialect that Amazon Personalize accepts.
//!
//! A Personalize schema is an Avro `record` whose fields are primitives or
//! nullable unions (`["null", T]`), plus two Personalize-specific flags:
//! `categorical` (multi-valued string attributes split on `|`) and `textual`
//! (free text, Items only). This module parses such documents strictly enough
//! that a schema accepted here would be accepted by Personalize, but tolerates
//! the keys that Avro and Personalize tooling commonly add (`version`, `doc`,
//! `default`, ...), so schemas exported from an existing Personalize setup load
//! unchanged.
//!
//! Parsing ([`Schema::parse`]) checks the document's structure;
//! [`Schema::validate_for`] checks the extra rules of a dataset type (required
//! and reserved fields, metadata limits). They are separate because
//! Personalize creates a schema before it is attached to a dataset.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

/// The only namespace Personalize accepts for dataset schemas.
pub const NAMESPACE: &str = "com.amazonaws.personalize.schema";

/// Longest field name accepted.
pub const MAX_FIELD_NAME_LEN: usize = 1000;

/// Most metadata fields (non-reserved) in an Interactions schema; the same
/// limit Personalize applies.
pub const MAX_INTERACTION_METADATA: usize = 5;

/// Most metadata fields in an Items schema. Personalize allows more (up to 100
/// in some configurations); we cap at 50 because every item metadata field
/// becomes a per-item feature column held in memory by the dataflows, and 50
/// covers realistic catalogues while bounding that cost.
pub const MAX_ITEM_METADATA: usize = 50;

/// Most metadata fields in a Users schema (Personalize's limit).
pub const MAX_USER_METADATA: usize = 25;

/// The kind of dataset a schema describes, as named by Personalize's
/// `datasetType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetType {
    /// User–item events (the only dataset every recipe needs).
    #[serde(alias = "interactions", alias = "INTERACTIONS")]
    Interactions,
    /// Item metadata.
    #[serde(alias = "items", alias = "ITEMS")]
    Items,
    /// User metadata.
    #[serde(alias = "users", alias = "USERS")]
    Users,
}

impl DatasetType {
    /// All dataset types, in Personalize's documentation order.
    pub const ALL: [DatasetType; 3] = [DatasetType::Interactions, DatasetType::Items, DatasetType::Users];

    /// The Personalize spelling: `Interactions`, `Items` or `Users`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetType::Interactions => "Interactions",
            DatasetType::Items => "Items",
            DatasetType::Users => "Users",
        }
    }
}

impl fmt::Display for DatasetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetType {
    type Err = SchemaError;

    /// Accepts `interactions`, `items` or `users` in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            SchemaError::general(format!("unknown dataset type {:?} (expected Interactions, Items or Users)", s))
        })
    }
}

/// The Avro primitive types Personalize allows for a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// UTF-8 text (ids, categories, free text).
    String,
    /// 32-bit signed integer.
    Int,
    /// 64-bit signed integer (timestamps).
    Long,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// `true` / `false`.
    Boolean,
}

impl FieldType {
    /// All field types.
    pub const ALL: [FieldType; 6] =
        [FieldType::String, FieldType::Int, FieldType::Long, FieldType::Float, FieldType::Double, FieldType::Boolean];

    /// The Avro type name (`"string"`, `"long"`, ...).
    pub fn avro_name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
        }
    }

    /// Whether values of this type are numbers (int, long, float, double).
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::Int | FieldType::Long | FieldType::Float | FieldType::Double)
    }

    /// Whether values of this type are integers (int, long).
    pub fn is_integer(self) -> bool {
        matches!(self, FieldType::Int | FieldType::Long)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.avro_name())
    }
}

impl FromStr for FieldType {
    type Err = SchemaError;

    /// Parses an Avro primitive name; Avro names are case-sensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldType::ALL.into_iter().find(|t| t.avro_name() == s).ok_or_else(|| {
            SchemaError::general(format!(
                "unsupported type {:?} (expected string, int, long, float, double or boolean)",
                s
            ))
        })
    }
}

/// One field of a schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// Field name, matched case-sensitively against CSV headers.
    pub name: String,
    /// The primitive type (for a nullable union, the non-null member).
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Declared as a union with `"null"`: empty CSV values become null.
    pub nullable: bool,
    /// A categorical string: values are `|`-separated category lists.
    pub categorical: bool,
    /// A free-text string (Items only, at most one per schema).
    pub textual: bool,
}

impl Field {
    /// A non-nullable, non-categorical, non-textual field.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Field {
        Field { name: name.into(), ty, nullable: false, categorical: false, textual: false }
    }

    /// This field, made nullable.
    pub fn nullable(mut self) -> Field {
        self.nullable = true;
        self
    }

    /// This field, marked categorical.
    pub fn categorical(mut self) -> Field {
        self.categorical = true;
        self
    }

    /// This field, marked textual.
    pub fn textual(mut self) -> Field {
        self.textual = true;
        self
    }

    /// The field as an Avro JSON object.
    fn to_json(&self) -> Json {
        let ty = if self.nullable { json!(["null", self.ty.avro_name()]) } else { json!(self.ty.avro_name()) };
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        obj.insert("type".into(), ty);
        if self.categorical {
            obj.insert("categorical".into(), json!(true));
        }
        if self.textual {
            obj.insert("textual".into(), json!(true));
        }
        Json::Object(obj)
    }
}

/// A parsed Personalize dataset schema.
///
/// Serde (de)serializes a schema as its Avro JSON *text*, the same way
/// Personalize's `CreateSchema` API carries it in a string; this also works
/// with non-self-describing formats such as bincode. Deserializing re-runs
/// [`Schema::parse`], so a stored schema can never bypass validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The record name (e.g. `Interactions`); informational only.
    pub name: String,
    /// Always [`NAMESPACE`] for a parsed schema.
    pub namespace: String,
    /// Fields in declaration order (CSV column order in Personalize exports).
    pub fields: Vec<Field>,
}

/// Why a schema is invalid, naming the offending field when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// The field at fault, if the problem is about one field.
    pub field: Option<String>,
    /// Human-readable explanation.
    pub reason: String,
}

impl SchemaError {
    /// An error about the schema as a whole.
    pub fn general(reason: impl Into<String>) -> SchemaError {
        SchemaError { field: None, reason: reason.into() }
    }

    /// An error about one field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> SchemaError {
        SchemaError { field: Some(field.into()), reason: reason.into() }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(name) => write!(f, "field {}: {}", name, self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for SchemaError {}

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]*$` (Avro's name rule).
fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A short rendering of a JSON value for error messages.
fn describe(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Parses a field's `type`: a primitive name or a two-member union with
/// `"null"`. Returns the primitive and whether it is nullable.
fn parse_field_type(name: &str, v: &Json) -> Result<(FieldType, bool), SchemaError> {
    let primitive = |s: &str| {
        s.parse::<FieldType>().map_err(|_| {
            SchemaError::field(
                name,
                format!("unsupported type {:?} (expected string, int, long, float, double or boolean)", s),
            )
        })
    };
    match v {
        Json::String(s) if s == "null" => Err(SchemaError::field(
            name,
            "type \"null\" alone is not allowed; use a union such as [\"null\", \"string\"]",
        )),
        Json::String(s) => Ok((primitive(s)?, false)),
        Json::Array(members) => {
            let names: Vec<&str> = members.iter().filter_map(Json::as_str).collect();
            // Only the exact shapes ["null", T] and [T, "null"] are meaningful
            // to Personalize; wider unions have no CSV representation.
            match names.as_slice() {
                ["null", t] | [t, "null"] if names.len() == members.len() && *t != "null" => Ok((primitive(t)?, true)),
                _ => Err(SchemaError::field(
                    name,
                    format!(
                        "unsupported union {}: only [\"null\", T] or [T, \"null\"] with a primitive T is allowed",
                        describe(v)
                    ),
                )),
            }
        }
        Json::Null => Err(SchemaError::field(name, "missing \"type\"")),
        other => Err(SchemaError::field(
            name,
            format!("unsupported type {}: expected a primitive type name or a [\"null\", T] union", describe(other)),
        )),
    }
}

/// Reads an optional boolean attribute (`categorical`, `textual`).
fn flag(obj: &Map<String, Json>, name: &str, key: &str) -> Result<bool, SchemaError> {
    match obj.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => {
            Err(SchemaError::field(name, format!("\"{key}\" must be true or false, got {}", describe(other))))
        }
    }
}

/// Parses one element of `fields`.
fn parse_field(index: usize, v: &Json) -> Result<Field, SchemaError> {
    let obj = v
        .as_object()
        .ok_or_else(|| SchemaError::general(format!("fields[{index}] must be an object, got {}", describe(v))))?;
    let name = match obj.get("name") {
        Some(Json::String(s)) => s.clone(),
        Some(other) => {
            return Err(SchemaError::general(format!(
                "fields[{index}]: \"name\" must be a string, got {}",
                describe(other)
            )))
        }
        None => return Err(SchemaError::general(format!("fields[{index}] has no \"name\""))),
    };
    if name.chars().count() > MAX_FIELD_NAME_LEN {
        // Report a truncated name: echoing a huge name back helps nobody.
        let short: String = name.chars().take(40).collect();
        return Err(SchemaError::field(
            format!("{short}..."),
            format!("field name is longer than {MAX_FIELD_NAME_LEN} characters"),
        ));
    }
    if !valid_field_name(&name) {
        return Err(SchemaError::field(
            &name,
            "invalid field name: it must start with a letter or underscore and contain only letters, digits and underscores",
        ));
    }
    let (ty, nullable) = parse_field_type(&name, obj.get("type").unwrap_or(&Json::Null))?;
    let categorical = flag(obj, &name, "categorical")?;
    let textual = flag(obj, &name, "textual")?;
    if categorical && ty != FieldType::String {
        return Err(SchemaError::field(&name, "categorical is only allowed on string fields"));
    }
    if textual && ty != FieldType::String {
        return Err(SchemaError::field(&name, "textual is only allowed on string fields"));
    }
    if categorical && textual {
        return Err(SchemaError::field(&name, "a field cannot be both categorical and textual"));
    }
    Ok(Field { name, ty, nullable, categorical, textual })
}

/// Requirements on one reserved field of a dataset type.
struct Reserved {
    name: &'static str,
    types: &'static [FieldType],
    required: bool,
    nullable_ok: bool,
}

const STRING: &[FieldType] = &[FieldType::String];
const NUMERIC: &[FieldType] = &[FieldType::Float, FieldType::Double, FieldType::Int, FieldType::Long];

const INTERACTIONS_RESERVED: &[Reserved] = &[
    Reserved { name: "USER_ID", types: STRING, required: true, nullable_ok: false },
    Reserved { name: "ITEM_ID", types: STRING, required: true, nullable_ok: false },
    Reserved { name: "TIMESTAMP", types: &[FieldType::Long, FieldType::Int], required: true, nullable_ok: false },
    Reserved { name: "EVENT_TYPE", types: STRING, required: false, nullable_ok: true },
    Reserved { name: "EVENT_VALUE", types: NUMERIC, required: false, nullable_ok: true },
    Reserved { name: "IMPRESSION", types: STRING, required: false, nullable_ok: true },
    Reserved { name: "RECOMMENDATION_ID", types: STRING, required: false, nullable_ok: true },
    // Personalize reserves this one too; it is carried as metadata but does
    // not count against the metadata limit.
    Reserved { name: "EVENT_ATTRIBUTION_SOURCE", types: STRING, required: false, nullable_ok: true },
];

const ITEMS_RESERVED: &[Reserved] = &[
    Reserved { name: "ITEM_ID", types: STRING, required: true, nullable_ok: false },
    Reserved { name: "CREATION_TIMESTAMP", types: &[FieldType::Long], required: false, nullable_ok: true },
];

const USERS_RESERVED: &[Reserved] = &[Reserved { name: "USER_ID", types: STRING, required: true, nullable_ok: false }];

/// The reserved fields of a dataset type.
fn reserved_for(ty: DatasetType) -> &'static [Reserved] {
    match ty {
        DatasetType::Interactions => INTERACTIONS_RESERVED,
        DatasetType::Items => ITEMS_RESERVED,
        DatasetType::Users => USERS_RESERVED,
    }
}

/// Renders a list of types as `long or int`.
fn type_list(types: &[FieldType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.avro_name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// Whether two spellings name the same field, ignoring case and underscores: Personalize's APIs spell
/// schema fields in camelCase (`categoryL1` for `CATEGORY_L1`), requests often in lower case (`genres`).
pub fn same_field(a: &str, b: &str) -> bool {
    fn key(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase)
    }
    key(a).eq(key(b))
}

/// Whether `name` is a reserved field name for dataset type `ty` (exact,
/// case-sensitive match). Reserved fields map to typed record members rather
/// than to metadata.
pub fn is_reserved(ty: DatasetType, name: &str) -> bool {
    reserved_for(ty).iter().any(|r| r.name == name)
}

impl Schema {
    /// Parses an Avro JSON schema document.
    ///
    /// Checks: `type` is `"record"`; `namespace` is
    /// `com.amazonaws.personalize.schema`; `fields` is a non-empty array of
    /// fields whose types are primitives or `["null", T]` / `[T, "null"]`
    /// unions; `categorical` and `textual` appear only on string fields (and
    /// not both on one); field names match `^[A-Za-z_][A-Za-z0-9_]*$`, are at
    /// most 1000 characters and are unique ignoring case (Personalize's rule,
    /// which keeps `user_id` from shadowing `USER_ID`). Other keys are ignored.
    pub fn parse(json: &str) -> Result<Schema, SchemaError> {
        let doc: Json =
            serde_json::from_str(json).map_err(|e| SchemaError::general(format!("schema is not valid JSON: {e}")))?;
        Schema::from_json(&doc)
    }

    /// Parses an already-decoded Avro JSON document (see [`Schema::parse`]).
    pub fn from_json(doc: &Json) -> Result<Schema, SchemaError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| SchemaError::general(format!("schema must be a JSON object, got {}", describe(doc))))?;
        match obj.get("type") {
            Some(Json::String(t)) if t == "record" => {}
            Some(other) => {
                return Err(SchemaError::general(format!(
                    "schema \"type\" must be \"record\", got {}",
                    describe(other)
                )))
            }
            None => return Err(SchemaError::general("schema has no \"type\" (expected \"record\")")),
        }
        let name = match obj.get("name") {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(SchemaError::general(format!(
                    "schema \"name\" must be a non-empty string, got {}",
                    describe(other)
                )))
            }
            None => return Err(SchemaError::general("schema has no \"name\"")),
        };
        match obj.get("namespace") {
            Some(Json::String(ns)) if ns == NAMESPACE => {}
            Some(other) => {
                return Err(SchemaError::general(format!(
                    "schema \"namespace\" must be \"{NAMESPACE}\", got {}",
                    describe(other)
                )))
            }
            None => {
                return Err(SchemaError::general(format!("schema has no \"namespace\" (expected \"{NAMESPACE}\")")))
            }
        }
        let raw_fields = match obj.get("fields") {
            Some(Json::Array(a)) if !a.is_empty() => a,
            Some(Json::Array(_)) => return Err(SchemaError::general("schema \"fields\" must not be empty")),
            Some(other) => {
                return Err(SchemaError::general(format!(
                    "schema \"fields\" must be an array, got {}",
                    describe(other)
                )))
            }
            None => return Err(SchemaError::general("schema has no \"fields\"")),
        };
        let mut seen = HashSet::new();
        let mut fields = Vec::with_capacity(raw_fields.len());
        for (i, raw) in raw_fields.iter().enumerate() {
            let field = parse_field(i, raw)?;
            if !seen.insert(field.name.to_ascii_uppercase()) {
                let first = fields
                    .iter()
                    .find(|f: &&Field| f.name.eq_ignore_ascii_case(&field.name))
                    .map(|f| f.name.clone())
                    .unwrap_or_default();
                return Err(SchemaError::field(
                    &field.name,
                    format!("duplicate field name (already declared as {first}; names are compared ignoring case)"),
                ));
            }
            fields.push(field);
        }
        Ok(Schema { name, namespace: NAMESPACE.to_string(), fields })
    }

    /// Checks the rules of dataset type `ty`.
    ///
    /// * Interactions: `USER_ID` (string), `ITEM_ID` (string) and `TIMESTAMP`
    ///   (long or int) are required and not nullable; `EVENT_TYPE` (string),
    ///   `EVENT_VALUE` (numeric), `IMPRESSION` (string), `RECOMMENDATION_ID`
    ///   and `EVENT_ATTRIBUTION_SOURCE` (string) are optional reserved fields;
    ///   at most 5 other fields, each a categorical string or numeric.
    /// * Items: `ITEM_ID` (string) required; `CREATION_TIMESTAMP` (long)
    ///   optional; at most one textual field; at most
    ///   [`MAX_ITEM_METADATA`] metadata fields.
    /// * Users: `USER_ID` (string) required; at most 25 metadata fields; no
    ///   textual fields.
    ///
    /// Unlike Personalize, Items and Users schemas without any metadata field
    /// are accepted: an id-only catalogue is still useful for restricting
    /// recommendations to known items.
    pub fn validate_for(&self, ty: DatasetType) -> Result<(), SchemaError> {
        let reserved = reserved_for(ty);
        for r in reserved {
            match self.field(r.name) {
                Some(f) => {
                    if !r.types.contains(&f.ty) {
                        return Err(SchemaError::field(
                            r.name,
                            format!("must be of type {} in a {ty} schema, found {}", type_list(r.types), f.ty),
                        ));
                    }
                    if f.nullable && !r.nullable_ok {
                        return Err(SchemaError::field(r.name, format!("must not be nullable in a {ty} schema")));
                    }
                    if f.textual {
                        return Err(SchemaError::field(r.name, "a reserved field cannot be textual"));
                    }
                }
                None if r.required => {
                    // A case-insensitive near miss is the usual mistake
                    // (e.g. `user_id`), so point at it.
                    let hint = self
                        .fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(r.name))
                        .map(|f| format!(" (found {}; field names are case-sensitive)", f.name))
                        .unwrap_or_default();
                    return Err(SchemaError::field(
                        r.name,
                        format!("required field is missing from the {ty} schema{hint}"),
                    ));
                }
                None => {}
            }
        }
        let metadata: Vec<&Field> = self.fields.iter().filter(|f| !reserved.iter().any(|r| r.name == f.name)).collect();
        let textual: Vec<&Field> = self.fields.iter().filter(|f| f.textual).collect();
        let limit = match ty {
            DatasetType::Interactions => {
                for f in &metadata {
                    if f.textual {
                        return Err(SchemaError::field(&f.name, "textual fields are only allowed in Items schemas"));
                    }
                    if !(f.categorical || f.ty.is_numeric()) {
                        return Err(SchemaError::field(
                            &f.name,
                            format!(
                                "Interactions metadata fields must be categorical strings or numeric, found {}{}",
                                f.ty,
                                if f.ty == FieldType::String { " without \"categorical\": true" } else { "" }
                            ),
                        ));
                    }
                }
                MAX_INTERACTION_METADATA
            }
            DatasetType::Items => {
                if textual.len() > 1 {
                    return Err(SchemaError::field(
                        &textual[1].name,
                        format!(
                            "at most one textual field is allowed in an Items schema ({} is already textual)",
                            textual[0].name
                        ),
                    ));
                }
                MAX_ITEM_METADATA
            }
            DatasetType::Users => {
                if let Some(f) = textual.first() {
                    return Err(SchemaError::field(&f.name, "textual fields are only allowed in Items schemas"));
                }
                MAX_USER_METADATA
            }
        };
        if metadata.len() > limit {
            return Err(SchemaError::general(format!(
                "a {ty} schema may have at most {limit} metadata fields besides the reserved ones, found {}",
                metadata.len()
            )));
        }
        Ok(())
    }

    /// The minimal valid schema for `ty`:
    /// Interactions = `USER_ID`, `ITEM_ID`, `TIMESTAMP`, nullable
    /// `EVENT_TYPE`, nullable float `EVENT_VALUE`; Items = `ITEM_ID`, nullable
    /// long `CREATION_TIMESTAMP`; Users = `USER_ID`.
    pub fn default_for(ty: DatasetType) -> Schema {
        let fields = match ty {
            DatasetType::Interactions => vec![
                Field::new("USER_ID", FieldType::String),
                Field::new("ITEM_ID", FieldType::String),
                Field::new("TIMESTAMP", FieldType::Long),
                Field::new("EVENT_TYPE", FieldType::String).nullable(),
                Field::new("EVENT_VALUE", FieldType::Float).nullable(),
            ],
            DatasetType::Items => vec![
                Field::new("ITEM_ID", FieldType::String),
                Field::new("CREATION_TIMESTAMP", FieldType::Long).nullable(),
            ],
            DatasetType::Users => vec![Field::new("USER_ID", FieldType::String)],
        };
        Schema { name: ty.as_str().to_string(), namespace: NAMESPACE.to_string(), fields }
    }

    /// The schema as an Avro JSON document (with `"version": "1.0"`, as
    /// Personalize's examples have). [`Schema::parse`] reads it back to an
    /// equal schema.
    pub fn to_avro_json(&self) -> String {
        let doc = json!({
            "type": "record",
            "name": self.name,
            "namespace": self.namespace,
            "fields": self.fields.iter().map(Field::to_json).collect::<Vec<_>>(),
            "version": "1.0",
        });
        doc.to_string()
    }

    /// The field named exactly `name` (case-sensitive, as Personalize matches).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The index in [`Schema::fields`] of the field named exactly `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

impl FromStr for Schema {
    type Err = SchemaError;

    /// Same as [`Schema::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schema::parse(s)
    }
}

impl fmt::Display for Schema {
    /// Writes the Avro JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_avro_json())
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_avro_json())
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Schema::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wraps field JSON in a valid record envelope.
    fn with_fields(fields: &str) -> String {
        format!(
            r#"{{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[{fields}],"version":"1.0"}}"#
        )
    }

    fn err(json: &str) -> SchemaError {
        Schema::parse(json).expect_err("schema should be rejected")
    }

    fn err_fields(fields: &str) -> SchemaError {
        err(&with_fields(fields))
    }

    const EXAMPLE: &str = r#"{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":"string"},{"name":"GENRES","type":["null","string"],"categorical":true},{"name":"DESCRIPTION","type":["null","string"],"textual":true}],"version":"1.0"}"#;

    #[test]
    fn parses_the_personalize_example() {
        let s = Schema::parse(EXAMPLE).unwrap();
        assert_eq!(s.name, "Interactions");
        assert_eq!(s.namespace, NAMESPACE);
        assert_eq!(s.fields.len(), 6);
        assert_eq!(s.fields[2], Field::new("TIMESTAMP", FieldType::Long));
        assert_eq!(s.field("GENRES").unwrap(), &Field::new("GENRES", FieldType::String).nullable().categorical());
        assert_eq!(s.field("DESCRIPTION").unwrap(), &Field::new("DESCRIPTION", FieldType::String).nullable().textual());
        // Lookup is case-sensitive like Personalize.
        assert!(s.field("genres").is_none());
        assert_eq!(s.field_index("EVENT_TYPE"), Some(3));
    }

    #[test]
    fn accepts_all_primitives_unions_in_both_orders_and_unknown_keys() {
        let s = Schema::parse(&with_fields(
            r#"{"name":"A","type":"string","doc":"x","default":null},
               {"name":"B","type":"int"},{"name":"C","type":"long"},
               {"name":"D","type":"float"},{"name":"E","type":"double"},
               {"name":"F","type":"boolean"},{"name":"G","type":["double","null"]},
               {"name":"_h9","type":["null","int"],"categorical":false}"#,
        ))
        .unwrap();
        let tys: Vec<FieldType> = s.fields.iter().map(|f| f.ty).collect();
        assert_eq!(
            tys,
            vec![
                FieldType::String,
                FieldType::Int,
                FieldType::Long,
                FieldType::Float,
                FieldType::Double,
                FieldType::Boolean,
                FieldType::Double,
                FieldType::Int
            ]
        );
        assert!(s.fields[6].nullable && s.fields[7].nullable && !s.fields[0].nullable);
    }

    #[test]
    fn rejects_bad_envelopes() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not valid JSON"),
            ("[1,2]", "must be a JSON object"),
            (
                r#"{"type":"enum","name":"X","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"A","type":"string"}]}"#,
                "\"type\" must be \"record\"",
            ),
            (
                r#"{"name":"X","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"A","type":"string"}]}"#,
                "no \"type\"",
            ),
            (
                r#"{"type":"record","name":"X","namespace":"com.example","fields":[{"name":"A","type":"string"}]}"#,
                "\"namespace\" must be \"com.amazonaws.personalize.schema\"",
            ),
            (r#"{"type":"record","name":"X","fields":[{"name":"A","type":"string"}]}"#, "no \"namespace\""),
            (
                r#"{"type":"record","name":"X","namespace":"com.amazonaws.personalize.schema","fields":[]}"#,
                "must not be empty",
            ),
            (r#"{"type":"record","name":"X","namespace":"com.amazonaws.personalize.schema"}"#, "no \"fields\""),
            (
                r#"{"type":"record","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"A","type":"string"}]}"#,
                "no \"name\"",
            ),
        ];
        for (json, want) in cases {
            let e = err(json);
            assert_eq!(e.field, None, "{json}");
            assert!(e.reason.contains(want), "{json}: got {:?}", e.reason);
        }
    }

    #[test]
    fn rejects_categorical_on_non_string() {
        let e = err_fields(r#"{"name":"GENRES","type":"int","categorical":true}"#);
        assert_eq!(e.field.as_deref(), Some("GENRES"));
        assert_eq!(e.reason, "categorical is only allowed on string fields");
        assert_eq!(e.to_string(), "field GENRES: categorical is only allowed on string fields");
    }

    #[test]
    fn rejects_textual_on_non_string_and_both_flags() {
        let e = err_fields(r#"{"name":"DESC","type":["null","long"],"textual":true}"#);
        assert_eq!(e.field.as_deref(), Some("DESC"));
        assert_eq!(e.reason, "textual is only allowed on string fields");
        let e = err_fields(r#"{"name":"D","type":"string","textual":true,"categorical":true}"#);
        assert_eq!(e.field.as_deref(), Some("D"));
        assert!(e.reason.contains("both categorical and textual"));
        let e = err_fields(r#"{"name":"D","type":"string","textual":"yes"}"#);
        assert_eq!(e.field.as_deref(), Some("D"));
        assert!(e.reason.contains("\"textual\" must be true or false"));
    }

    #[test]
    fn rejects_unsupported_types_and_unions() {
        let cases: &[(&str, &str)] = &[
            (r#"{"name":"A","type":"bytes"}"#, "unsupported type \"bytes\""),
            (r#"{"name":"A","type":"null"}"#, "\"null\" alone"),
            (r#"{"name":"A","type":["null","string","int"]}"#, "unsupported union"),
            (r#"{"name":"A","type":["string","int"]}"#, "unsupported union"),
            (r#"{"name":"A","type":["null","null"]}"#, "unsupported union"),
            (r#"{"name":"A","type":["null","map"]}"#, "unsupported type \"map\""),
            (r#"{"name":"A","type":{"type":"long"}}"#, "unsupported type"),
            (r#"{"name":"A"}"#, "missing \"type\""),
            (r#"{"name":"A","type":"String"}"#, "unsupported type \"String\""),
        ];
        for (f, want) in cases {
            let e = err_fields(f);
            assert_eq!(e.field.as_deref(), Some("A"), "{f}");
            assert!(e.reason.contains(want), "{f}: got {:?}", e.reason);
        }
    }

    #[test]
    fn rejects_bad_field_names() {
        for bad in ["1ABC", "USER-ID", "", "a b", "ÜSER"] {
            let e = err_fields(&format!(r#"{{"name":{},"type":"string"}}"#, json!(bad)));
            assert_eq!(e.field.as_deref(), Some(bad));
            assert!(e.reason.starts_with("invalid field name"), "{bad}");
        }
        let long = "A".repeat(1001);
        let e = err_fields(&format!(r#"{{"name":"{long}","type":"string"}}"#));
        assert!(e.reason.contains("longer than 1000"));
        // Exactly 1000 is fine.
        let ok = "A".repeat(1000);
        assert!(Schema::parse(&with_fields(&format!(r#"{{"name":"{ok}","type":"string"}}"#))).is_ok());
        let e = err_fields(r#"{"type":"string"}"#);
        assert_eq!(e.field, None);
        assert!(e.reason.contains("fields[0] has no \"name\""));
        let e = err_fields(r#""USER_ID""#);
        assert!(e.reason.contains("fields[0] must be an object"));
    }

    #[test]
    fn rejects_duplicate_names_ignoring_case() {
        let e = err_fields(r#"{"name":"USER_ID","type":"string"},{"name":"user_id","type":"string"}"#);
        assert_eq!(e.field.as_deref(), Some("user_id"));
        assert!(e.reason.contains("duplicate field name (already declared as USER_ID"));
    }

    #[test]
    fn validate_interactions() {
        let s = Schema::parse(EXAMPLE).unwrap();
        // DESCRIPTION is textual: not allowed in Interactions.
        let e = s.validate_for(DatasetType::Interactions).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("DESCRIPTION"));
        assert!(e.reason.contains("only allowed in Items"));

        let ok = Schema::parse(&with_fields(
            r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
               {"name":"TIMESTAMP","type":"int"},{"name":"EVENT_VALUE","type":["null","double"]},
               {"name":"IMPRESSION","type":["null","string"]},{"name":"RECOMMENDATION_ID","type":["null","string"]},
               {"name":"DEVICE","type":"string","categorical":true},{"name":"PRICE","type":"float"}"#,
        ))
        .unwrap();
        ok.validate_for(DatasetType::Interactions).unwrap();

        let base = r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"long"}"#;
        let check = |extra: &str, field: Option<&str>, want: &str| {
            let json = if extra.is_empty() { with_fields(base) } else { with_fields(&format!("{base},{extra}")) };
            let s = Schema::parse(&json).unwrap();
            let e = s.validate_for(DatasetType::Interactions).unwrap_err();
            assert_eq!(e.field.as_deref(), field, "{extra}");
            assert!(e.reason.contains(want), "{extra}: got {:?}", e.reason);
        };
        check(
            r#"{"name":"EVENT_VALUE","type":"string"}"#,
            Some("EVENT_VALUE"),
            "must be of type float, double, int or long",
        );
        check(r#"{"name":"EVENT_TYPE","type":"long"}"#, Some("EVENT_TYPE"), "must be of type string");
        check(r#"{"name":"PLAIN","type":"string"}"#, Some("PLAIN"), "categorical strings or numeric");
        check(r#"{"name":"FLAG","type":"boolean"}"#, Some("FLAG"), "categorical strings or numeric");
        check(
            r#"{"name":"M1","type":"int"},{"name":"M2","type":"int"},{"name":"M3","type":"int"},{"name":"M4","type":"int"},{"name":"M5","type":"int"},{"name":"M6","type":"int"}"#,
            None,
            "at most 5 metadata fields",
        );

        let missing = |fields: &str, field: &str, want: &str| {
            let s = Schema::parse(&with_fields(fields)).unwrap();
            let e = s.validate_for(DatasetType::Interactions).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{fields}");
            assert!(e.reason.contains(want), "{fields}: got {:?}", e.reason);
        };
        missing(
            r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"}"#,
            "TIMESTAMP",
            "required field is missing",
        );
        missing(
            r#"{"name":"user_id","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"long"}"#,
            "USER_ID",
            "found user_id; field names are case-sensitive",
        );
        missing(
            r#"{"name":"USER_ID","type":["null","string"]},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"long"}"#,
            "USER_ID",
            "must not be nullable",
        );
        missing(
            r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":["long","null"]}"#,
            "TIMESTAMP",
            "must not be nullable",
        );
        missing(
            r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"int"},{"name":"TIMESTAMP","type":"long"}"#,
            "ITEM_ID",
            "must be of type string",
        );
        missing(
            r#"{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"double"}"#,
            "TIMESTAMP",
            "must be of type long or int",
        );
        // Exactly 5 metadata fields is fine.
        let five = Schema::parse(&with_fields(&format!(
            "{base},{}",
            (1..=5).map(|i| format!(r#"{{"name":"M{i}","type":"int"}}"#)).collect::<Vec<_>>().join(",")
        )))
        .unwrap();
        five.validate_for(DatasetType::Interactions).unwrap();
    }

    #[test]
    fn validate_items_and_users() {
        let items = Schema::parse(&with_fields(
            r#"{"name":"ITEM_ID","type":"string"},{"name":"CREATION_TIMESTAMP","type":"long"},
               {"name":"GENRES","type":"string","categorical":true},{"name":"TITLE","type":"string"},
               {"name":"DESCRIPTION","type":["null","string"],"textual":true},{"name":"ADULT","type":"boolean"}"#,
        ))
        .unwrap();
        items.validate_for(DatasetType::Items).unwrap();
        // Missing ITEM_ID for Interactions, USER_ID for Users.
        assert_eq!(items.validate_for(DatasetType::Users).unwrap_err().field.as_deref(), Some("USER_ID"));

        let two_textual = Schema::parse(&with_fields(
            r#"{"name":"ITEM_ID","type":"string"},{"name":"A","type":"string","textual":true},{"name":"B","type":"string","textual":true}"#,
        ))
        .unwrap();
        let e = two_textual.validate_for(DatasetType::Items).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("B"));
        assert!(e.reason.contains("at most one textual field"));

        let bad_ts = Schema::parse(&with_fields(
            r#"{"name":"ITEM_ID","type":"string"},{"name":"CREATION_TIMESTAMP","type":"string"}"#,
        ))
        .unwrap();
        let e = bad_ts.validate_for(DatasetType::Items).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("CREATION_TIMESTAMP"));
        assert!(e.reason.contains("must be of type long"));

        let many = |id: &str, n: usize| {
            let mut f = vec![format!(r#"{{"name":"{id}","type":"string"}}"#)];
            f.extend((0..n).map(|i| format!(r#"{{"name":"M{i}","type":"double"}}"#)));
            Schema::parse(&with_fields(&f.join(","))).unwrap()
        };
        many("ITEM_ID", 50).validate_for(DatasetType::Items).unwrap();
        let e = many("ITEM_ID", 51).validate_for(DatasetType::Items).unwrap_err();
        assert!(e.reason.contains("at most 50 metadata fields"), "{e}");
        many("USER_ID", 25).validate_for(DatasetType::Users).unwrap();
        let e = many("USER_ID", 26).validate_for(DatasetType::Users).unwrap_err();
        assert!(e.reason.contains("at most 25 metadata fields"), "{e}");

        let users_textual = Schema::parse(&with_fields(
            r#"{"name":"USER_ID","type":"string"},{"name":"BIO","type":"string","textual":true}"#,
        ))
        .unwrap();
        let e = users_textual.validate_for(DatasetType::Users).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("BIO"));
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        for ty in DatasetType::ALL {
            let s = Schema::default_for(ty);
            s.validate_for(ty).unwrap();
            let text = s.to_avro_json();
            assert_eq!(Schema::parse(&text).unwrap(), s);
            // Serde goes through the Avro text.
            let via_serde: Schema = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(via_serde, s);
        }
        let d = Schema::default_for(DatasetType::Interactions);
        let names: Vec<&str> = d.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]);
        assert!(d.field("EVENT_VALUE").unwrap().nullable);
        let example = Schema::parse(EXAMPLE).unwrap();
        assert_eq!(Schema::parse(&example.to_avro_json()).unwrap(), example);
        // A bad schema string is rejected by Deserialize too.
        assert!(serde_json::from_str::<Schema>("\"{}\"").is_err());
    }

    #[test]
    fn dataset_type_text_forms() {
        assert_eq!(DatasetType::Interactions.to_string(), "Interactions");
        assert_eq!("ITEMS".parse::<DatasetType>().unwrap(), DatasetType::Items);
        assert_eq!("users".parse::<DatasetType>().unwrap(), DatasetType::Users);
        assert_eq!("Interactions".parse::<DatasetType>().unwrap(), DatasetType::Interactions);
        assert!("actions".parse::<DatasetType>().is_err());
        assert_eq!(serde_json::to_string(&DatasetType::Items).unwrap(), "\"Items\"");
        assert_eq!(serde_json::from_str::<DatasetType>("\"users\"").unwrap(), DatasetType::Users);
        assert!(is_reserved(DatasetType::Interactions, "EVENT_VALUE"));
        assert!(!is_reserved(DatasetType::Items, "EVENT_VALUE"));
    }
}
