//! personalize-events (rest-json): `POST /events` (PutEvents, routed by the event tracker's trackingId),
//! `POST /items` (PutItems) and `POST /users` (PutUsers). A call is accepted whole or rejected whole, as in
//! Personalize, and answers only once its records are durable in the dataset group's log.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::control::dataset_type;
use super::error::AwsError;
use super::resource::{Fields, Kind};
use super::runtime::body_fields;
use super::service::Personalize;
use crate::engine::Submission;
use crate::model::record::{build_record, Record};
use crate::model::schema::{DatasetType, Schema};

/// Most events, items or users in one call (the model's list limits).
pub const MAX_PER_CALL: usize = 10;

fn respond(result: Result<(), AwsError>) -> Response {
    match result {
        // The events API answers an empty body on success.
        Ok(()) => (axum::http::StatusCode::OK, "").into_response(),
        Err(e) => e.for_rest().into_response(),
    }
}

/// `camelCase` → `CAMEL_CASE`: Personalize's property names for schema fields.
pub fn schema_field_name(property: &str) -> String {
    let mut out = String::with_capacity(property.len() + 4);
    let mut previous_lower = false;
    for c in property.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn list<'a>(input: &'a Map<String, Value>, field: &str) -> Result<&'a Vec<Value>, AwsError> {
    let list =
        input.get(field).and_then(Value::as_array).ok_or_else(|| AwsError::invalid(format!("{field}: required")))?;
    if list.is_empty() || list.len() > MAX_PER_CALL {
        return Err(AwsError::invalid(format!(
            "{field}: {} entries in one call; give 1 to {MAX_PER_CALL}",
            list.len()
        )));
    }
    Ok(list)
}

fn properties(field: &str, value: Option<&Value>, max: usize) -> Result<Map<String, Value>, AwsError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::String(text)) => {
            if text.len() > max {
                return Err(AwsError::invalid(format!("{field}: {} characters; at most {max}", text.len())));
            }
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(AwsError::invalid(format!(
                    "{field}: must be a JSON object in a string, e.g. \"{{\\\"genre\\\": \\\"drama\\\"}}\""
                ))),
            }
        }
        Some(other) => Err(AwsError::invalid(format!("{field}: expected a JSON string, got {other}"))),
    }
}

/// Checks a string field's length against the model's 1..=`max`.
fn within(field: &str, value: &str, max: usize) -> Result<(), AwsError> {
    if value.is_empty() || value.len() > max {
        return Err(AwsError::invalid(format!("{field}: {} characters; give 1 to {max}", value.len())));
    }
    Ok(())
}

async fn put_events_inner(service: Arc<Personalize>, body: &[u8]) -> Result<(), AwsError> {
    let input = body_fields(body)?;
    let f = Fields(&input);
    let tracking_id = f.required("trackingId")?;
    let session_id = f.required("sessionId")?;
    within("sessionId", session_id, 256)?;
    if let Some(user) = f.optional("userId")? {
        within("userId", user, 256)?;
    }
    let user_id = f.optional("userId")?;
    let events = list(&input, "eventList")?;
    let group = service
        .tracker_group(tracking_id)
        .ok_or_else(|| AwsError::not_found(format!("event tracker with trackingId {tracking_id}")))?;
    let engine = service.engine(&group)?;
    let now = crate::model::record::unix_now();
    let mut records = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let e = event.as_object().ok_or_else(|| AwsError::invalid(format!("eventList[{i}]: expected an object")))?;
        let ef = Fields(e);
        let at = |msg: String| AwsError::invalid(format!("eventList[{i}].{msg}"));
        let event_type = ef.required("eventType").map_err(|e| at(e.message))?;
        for (field, max) in [("eventType", 256), ("eventId", 256), ("itemId", 256), ("recommendationId", 40)] {
            if let Some(value) = ef.optional(field).map_err(|e| at(e.message))? {
                within(field, value, max).map_err(|e| at(e.message))?;
            }
        }
        let item_id = ef.optional("itemId").map_err(|e| at(e.message))?.ok_or_else(|| {
            at("itemId: required by streamrec (events without an item have nothing to recommend from)".into())
        })?;
        let sent_at =
            e.get("sentAt").and_then(Value::as_f64).ok_or_else(|| at("sentAt: required (epoch seconds)".into()))?;
        let impression = match e.get("impression") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) if list.len() <= 25 => {
                list.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
            }
            Some(_) => return Err(at("impression: a list of at most 25 item ids".into())),
        };
        let props: Map<String, Value> = properties(&format!("eventList[{i}].properties"), e.get("properties"), 1024)?
            .into_iter()
            .map(|(k, v)| (schema_field_name(&k), v))
            .collect();
        let native = json!({
            "userId": user_id,
            "sessionId": session_id,
            "itemId": item_id,
            "eventType": event_type,
            "timestamp": sent_at.floor() as i64,
            "eventValue": e.get("eventValue"),
            "impression": impression,
            "recommendationId": e.get("recommendationId"),
            "properties": props,
        });
        let interaction = crate::api::native::validate_event(native, now)
            .map_err(|(field, reason)| at(format!("{field}: {reason}")))?;
        records.push(Submission::Interaction(interaction));
    }
    engine.submit_async(records).await.map_err(|e| AwsError::internal(format!("{e:#}")))?;
    Ok(())
}

/// `POST /events`.
pub async fn put_events(State(service): State<Arc<Personalize>>, body: axum::body::Bytes) -> Response {
    respond(put_events_inner(service, &body).await)
}

/// The engine and schema of a dataset of `ty` named by `datasetArn`.
fn dataset(
    service: &Personalize,
    f: &Fields,
    ty: DatasetType,
) -> Result<(Arc<crate::engine::Engine>, Schema), AwsError> {
    let arn = f.arn("datasetArn", Kind::Dataset)?;
    let dataset = service.store.expect(arn, Kind::Dataset)?;
    if dataset_type(dataset.text("datasetType").unwrap_or_default())? != ty {
        return Err(AwsError::invalid(format!("datasetArn: {arn} is not an {ty} dataset")));
    }
    let schema = service.store.expect(dataset.text("schemaArn").unwrap_or_default(), Kind::Schema)?;
    let schema = Schema::parse(schema.text("schema").unwrap_or_default()).map_err(AwsError::internal)?;
    let engine = service.engine(dataset.text("datasetGroupArn").unwrap_or_default())?;
    Ok((engine, schema))
}

/// Turns PutItems / PutUsers entries into records checked against the dataset's schema.
fn entities(
    schema: &Schema,
    ty: DatasetType,
    entries: &[Value],
    id_field: &str,
    max_chars: usize,
) -> Result<Vec<Submission>, AwsError> {
    let list_name = if ty == DatasetType::Items { "items" } else { "users" };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = |msg: String| AwsError::invalid(format!("{list_name}[{i}].{msg}"));
        let e = entry.as_object().ok_or_else(|| at("expected an object".into()))?;
        let entry_fields = Fields(e);
        let id = entry_fields.required(id_field).map_err(|e| at(e.message))?;
        if id.is_empty() || id.len() > 256 {
            return Err(at(format!("{id_field}: 1 to 256 characters")));
        }
        let mut props = properties(&format!("{list_name}[{i}].properties"), e.get("properties"), max_chars)?;
        // `hidden` is streamrec's own item property (see README): accepted whatever the schema says.
        let hidden_field = crate::engine::catalog::HIDDEN_FIELD;
        let hidden = if ty == DatasetType::Items && schema.field(hidden_field).is_none() {
            match props.remove("hidden") {
                None => None,
                Some(Value::Bool(b)) => Some(b),
                Some(other) => return Err(at(format!("properties.hidden: expected true or false, got {other}"))),
            }
        } else {
            None
        };
        let key_field = if ty == DatasetType::Items { "ITEM_ID" } else { "USER_ID" };
        let mut raw: Vec<(usize, String)> = Vec::new();
        if let Some(index) = schema.field_index(key_field) {
            raw.push((index, id.to_string()));
        }
        for (name, value) in &props {
            let index = schema
                .fields
                .iter()
                .position(|f| crate::model::schema::same_field(&f.name, name))
                .ok_or_else(|| at(format!("properties.{name}: not a field of the {ty} schema")))?;
            let text = match value {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string()))
                    .collect::<Vec<_>>()
                    .join("|"),
                other => other.to_string(),
            };
            raw.push((index, text));
        }
        let borrowed: Vec<(usize, &str)> = raw.iter().map(|(i, s)| (*i, s.as_str())).collect();
        let record = build_record(schema, ty, &borrowed).map_err(|e| at(format!("properties.{e}")))?;
        out.push(match record {
            Record::Item(mut item) => {
                if let Some(hidden) = hidden {
                    item.fields.push((hidden_field.to_string(), crate::model::record::Value::Bool(hidden)));
                }
                Submission::Item(item)
            }
            Record::User(user) => Submission::User(user),
            Record::Interaction(i) => Submission::Interaction(i),
        });
    }
    Ok(out)
}

async fn put_entities(service: Arc<Personalize>, body: &[u8], ty: DatasetType) -> Result<(), AwsError> {
    let input = body_fields(body)?;
    let f = Fields(&input);
    let (engine, schema) = dataset(&service, &f, ty)?;
    let (list_name, id_field, max_chars) =
        if ty == DatasetType::Items { ("items", "itemId", 32_000) } else { ("users", "userId", 24_000) };
    let entries = list(&input, list_name)?;
    let records = entities(&schema, ty, entries, id_field, max_chars)?;
    engine.submit_async(records).await.map_err(|e| AwsError::internal(format!("{e:#}")))?;
    Ok(())
}

/// `POST /items`.
pub async fn put_items(State(service): State<Arc<Personalize>>, body: axum::body::Bytes) -> Response {
    respond(put_entities(service, &body, DatasetType::Items).await)
}

/// `POST /users`.
pub async fn put_users(State(service): State<Arc<Personalize>>, body: axum::body::Bytes) -> Response {
    respond(put_entities(service, &body, DatasetType::Users).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_map_to_schema_names() {
        assert_eq!(schema_field_name("numberOfRatings"), "NUMBER_OF_RATINGS");
        assert_eq!(schema_field_name("genre"), "GENRE");
        assert_eq!(schema_field_name("DEVICE"), "DEVICE");
        assert_eq!(schema_field_name("CATEGORY_L1"), "CATEGORY_L1");
    }
}
