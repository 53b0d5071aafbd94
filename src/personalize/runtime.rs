//! personalize-runtime (rest-json): `POST /recommendations` (GetRecommendations) and
//! `POST /personalize-ranking` (GetPersonalizedRanking). A campaign answers from its dataset group's live
//! engine after waiting for the writes the question is about, so an event acknowledged by PutEvents is
//! reflected by the very next request (read-your-writes).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::control;
use super::error::AwsError;
use super::filters::{Prepared, Request};
use super::resource::{status, Fields, Kind};
use super::service::Personalize;
use super::serving::{recommendation_id, Ask, Served, MAX_RESULTS};

/// Longest a read waits for acknowledged writes to be published.
const FRESHNESS_WAIT: Duration = Duration::from_secs(10);

/// Parses a rest-json body into its fields (an empty body is an empty object).
pub fn body_fields(body: &[u8]) -> Result<Map<String, Value>, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AwsError::invalid("the body must be a JSON object")),
        Err(e) => Err(AwsError::invalid(format!("the body is not JSON: {e}"))),
    }
}

fn id(f: &Fields, field: &str) -> Result<Option<String>, AwsError> {
    match f.optional(field)? {
        Some(v) if v.len() > 256 => Err(AwsError::invalid(format!("{field}: {} characters; at most 256", v.len()))),
        other => Ok(other.map(str::to_string)),
    }
}

/// The campaign a runtime request names, and what it serves.
fn campaign(service: &Personalize, f: &Fields) -> Result<Served, AwsError> {
    if f.optional("recommenderArn")?.is_some() {
        return Err(AwsError::invalid(
            "recommenderArn: streamrec serves campaigns, not domain recommenders; pass a campaignArn",
        ));
    }
    let arn = f.required("campaignArn")?;
    let campaign = control::resolve(service, "campaignArn", arn, Kind::Campaign)?;
    // During an update the campaign stays ACTIVE and serves its previous version.
    if campaign.status() != status::ACTIVE {
        return Err(AwsError::in_use(format!("campaign {arn} is {}", campaign.status())));
    }
    Served::of_campaign(service, &campaign)
}

async fn answer(service: Arc<Personalize>, body: &[u8], ranking: bool) -> Result<Value, AwsError> {
    let input = body_fields(body)?;
    let f = Fields(&input);
    let served = campaign(&service, &f)?;
    let num_results = if ranking { None } else { f.integer("numResults", 0, MAX_RESULTS as i64)? };
    let input_list = if ranking {
        let list =
            input.get("inputList").and_then(Value::as_array).ok_or_else(|| AwsError::invalid("inputList: required"))?;
        if list.is_empty() || list.len() > MAX_RESULTS {
            return Err(AwsError::invalid(format!("inputList: {} items; give 1 to {MAX_RESULTS}", list.len())));
        }
        let items = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| AwsError::invalid(format!("inputList[{i}]: not an item id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(items)
    } else {
        None
    };
    let user_id = id(&f, "userId")?;
    if ranking && user_id.is_none() {
        return Err(AwsError::invalid("userId: required"));
    }
    let ask = Ask {
        num_results: match (&input_list, num_results) {
            (Some(items), _) => items.len(),
            (None, Some(0)) | (None, None) => 25,
            (None, Some(n)) => n as usize,
        },
        user_id,
        item_id: if ranking { None } else { id(&f, "itemId")? },
        input_list,
        context: f.string_map("context", 150)?,
    };
    let request = Request::parse(&f)?;
    let prepared = Prepared::load(&service, f.optional("filterArn")?, &served)?;
    served.engine.wait_for(served.freshness(&ask), FRESHNESS_WAIT).await.map_err(AwsError::internal)?;
    let items = prepared.answer_request(&service, &served, &ask, &request)?;
    let list: Vec<Value> = items;
    let field = if ranking { "personalizedRanking" } else { "itemList" };
    Ok(json!({ field: list, "recommendationId": recommendation_id() }))
}

/// `POST /recommendations`.
pub async fn get_recommendations(State(service): State<Arc<Personalize>>, body: axum::body::Bytes) -> Response {
    match answer(service, &body, false).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.for_rest().into_response(),
    }
}

/// `POST /personalize-ranking`.
pub async fn get_personalized_ranking(State(service): State<Arc<Personalize>>, body: axum::body::Bytes) -> Response {
    match answer(service, &body, true).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.for_rest().into_response(),
    }
}
