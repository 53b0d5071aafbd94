//! The native JSON API (`/v1/...`): post events, put items and users, delete a user's data, and ask for
//! recommendations, similar, popular and trending items.
//!
//! Writes answer once the records are durable (fsynced). Reads first wait until the acknowledged writes
//! they are about are published (a user's own events for their recommendations and history, an item's for
//! its similar items, every write for popular and trending), so a read that follows an acknowledged write
//! reflects it, and a read about someone else does not wait for it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::engine::Submission;
use crate::model::record::{unix_now as now, Interaction, ItemRecord, UserRecord, Value, MAX_ID_LEN};
use crate::recommend::{self, Recommended, UserQuery};

/// Longest a read waits for acknowledged writes to be published.
const FRESHNESS_WAIT: Duration = Duration::from_secs(10);
/// Most records in one write request.
pub const MAX_BATCH: usize = 10_000;
/// Most results of one read.
pub const MAX_RESULTS: usize = 500;

/// The native routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/stats", get(stats))
        .route("/v1/events", post(post_events))
        .route("/v1/items", post(put_items))
        .route("/v1/items/{item_id}", delete(delete_item))
        .route("/v1/users", post(put_users))
        .route("/v1/users/{user_id}", delete(delete_user))
        .route("/v1/users/{user_id}/history", get(user_history))
        .route("/v1/recommendations", get(recommendations))
        .route("/v1/similar-items", get(similar_items))
        .route("/v1/popular", get(popular))
        .route("/v1/trending", get(trending))
        .route("/v1/personalized-ranking", post(personalized_ranking))
        .route("/v1/next-items", get(next_items))
        .route("/v1/recipes/als/retrain", post(retrain_als))
}

/// An error answer: status and a JSON body `{"error": ...}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn unavailable(e: anyhow::Error) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
}

/// One event of `POST /v1/events`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventIn {
    /// User id (optional for an anonymous session's event).
    pub user_id: Option<String>,
    /// Session id: with no user id, the session stands for the user (`session:<id>`).
    pub session_id: Option<String>,
    /// Item id.
    pub item_id: String,
    /// Event type (optional).
    pub event_type: Option<String>,
    /// Event time in epoch seconds (default: now).
    pub timestamp: Option<i64>,
    /// Event value (optional).
    pub event_value: Option<f64>,
    /// Item ids shown along with the event.
    #[serde(default)]
    pub impression: Vec<String>,
    /// Recommendation id the event answers.
    pub recommendation_id: Option<String>,
    /// Context and other metadata.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// Body of `POST /v1/events`.
#[derive(Deserialize)]
pub struct EventsIn {
    /// The events.
    pub events: Vec<serde_json::Value>,
}

/// A record rejected from a write.
#[derive(Serialize, Debug)]
pub struct Rejected {
    /// Position in the request.
    pub index: usize,
    /// Field at fault.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Checks one event and turns it into an interaction; errors name the field.
pub fn validate_event(value: serde_json::Value, now: i64) -> Result<Interaction, (String, String)> {
    let e: EventIn = serde_json::from_value(value).map_err(|e| field_of_serde_error(&e.to_string()))?;
    check_event(e, now)
}

/// Checks a well-formed event's values and turns it into an interaction; errors name the field.
fn check_event(e: EventIn, now: i64) -> Result<Interaction, (String, String)> {
    let user_id = match (e.user_id, e.session_id) {
        (Some(user), _) => {
            check_id("userId", &user)?;
            user
        }
        (None, Some(session)) => {
            check_id("sessionId", &session)?;
            format!("session:{session}")
        }
        (None, None) => return Err(("userId".into(), "required (or a sessionId for an anonymous session)".into())),
    };
    check_id("itemId", &e.item_id)?;
    let timestamp = e.timestamp.unwrap_or(now);
    if !(0..crate::model::record::MAX_TIMESTAMP_SECONDS).contains(&timestamp) {
        return Err(("timestamp".into(), format!("{timestamp} is not epoch seconds")));
    }
    if let Some(v) = e.event_value {
        if !v.is_finite() {
            return Err(("eventValue".into(), "must be a finite number".into()));
        }
    }
    let metadata = e.properties.into_iter().map(|(k, v)| (k, json_to_value(v))).collect();
    Ok(Interaction {
        user_id,
        item_id: e.item_id,
        timestamp,
        event_type: e.event_type.filter(|t| !t.is_empty()),
        event_value: e.event_value,
        impression: e.impression,
        recommendation_id: e.recommendation_id,
        metadata,
    })
}

/// Names the field a serde error is about: the quoted name after "unknown field" or "missing field", else
/// the first known field the message mentions.
fn field_of_serde_error(msg: &str) -> (String, String) {
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                return (rest[..end].to_string(), msg.to_string());
            }
        }
    }
    for field in ["userId", "itemId", "eventType", "timestamp", "eventValue", "impression", "properties"] {
        if msg.contains(&format!("`{field}`")) {
            return (field.to_string(), msg.to_string());
        }
    }
    ("event".to_string(), msg.to_string())
}

fn check_id(field: &str, id: &str) -> Result<(), (String, String)> {
    if id.is_empty() {
        return Err((field.into(), "must not be empty".into()));
    }
    if id.len() > MAX_ID_LEN {
        return Err((field.into(), format!("longer than {MAX_ID_LEN} characters")));
    }
    Ok(())
}

/// Converts a JSON property to a record value (arrays become categories).
pub fn json_to_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            n.as_i64().map(Value::Int).unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)))
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Categories(
            a.into_iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect(),
        ),
        serde_json::Value::Object(o) => Value::String(serde_json::Value::Object(o).to_string()),
    }
}

async fn write(
    state: &AppState,
    records: Vec<Submission>,
    rejected: Vec<Rejected>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if records.is_empty() && !rejected.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            serde_json::to_string(&json!({ "rejected": rejected })).unwrap_or_default(),
        ));
    }
    let accepted = records.len();
    let epoch = state.engine.submit_async(records).await.map_err(unavailable)?;
    Ok(Json(json!({ "accepted": accepted, "rejected": rejected, "epoch": epoch })))
}

/// A request whose every event is well-formed: parsed straight into [`EventIn`]s, the common case.
#[derive(Deserialize)]
struct TypedEventsIn {
    events: Vec<EventIn>,
}

async fn post_events(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = now();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut take = |index: usize, checked: Result<Interaction, (String, String)>| match checked {
        Ok(i) => records.push(Submission::Interaction(i)),
        Err((field, reason)) => rejected.push(Rejected { index, field, reason }),
    };
    // Parse once into typed events; only a request with a malformed event pays for the generic parse that
    // reports each bad event by index and field.
    match serde_json::from_slice::<TypedEventsIn>(&body) {
        Ok(typed) => {
            check_batch_size(typed.events.len())?;
            for (index, e) in typed.events.into_iter().enumerate() {
                take(index, check_event(e, now));
            }
        }
        Err(_) => {
            let generic: EventsIn = serde_json::from_slice(&body).map_err(|e| bad_request(format!("body: {e}")))?;
            check_batch_size(generic.events.len())?;
            for (index, value) in generic.events.into_iter().enumerate() {
                take(index, validate_event(value, now));
            }
        }
    }
    write(&state, records, rejected).await
}

fn check_batch_size(events: usize) -> Result<(), ApiError> {
    if events > MAX_BATCH {
        return Err(bad_request(format!("events: {events} events in one request; at most {MAX_BATCH}")));
    }
    Ok(())
}

/// One item or user of `POST /v1/items` / `POST /v1/users`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityIn {
    /// Item id (items).
    pub item_id: Option<String>,
    /// User id (users).
    pub user_id: Option<String>,
    /// Creation time (items).
    pub creation_timestamp: Option<i64>,
    /// Metadata fields.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// Body of `POST /v1/items` and `POST /v1/users`.
#[derive(Deserialize)]
pub struct EntitiesIn {
    /// Items.
    #[serde(default)]
    pub items: Vec<EntityIn>,
    /// Users.
    #[serde(default)]
    pub users: Vec<EntityIn>,
}

async fn put_items(
    State(state): State<Arc<AppState>>,
    Json(body): Json<EntitiesIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (records, rejected) = entities(
        body.items,
        "itemId",
        |e| e.item_id.take(),
        |id, e| {
            Submission::Item(ItemRecord {
                item_id: id,
                creation_timestamp: e.creation_timestamp,
                fields: properties(e),
            })
        },
    );
    write(&state, records, rejected).await
}

async fn put_users(
    State(state): State<Arc<AppState>>,
    Json(body): Json<EntitiesIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (records, rejected) = entities(
        body.users,
        "userId",
        |e| e.user_id.take(),
        |id, e| Submission::User(UserRecord { user_id: id, fields: properties(e) }),
    );
    write(&state, records, rejected).await
}

/// Checks each entity's id (taken by `id`, named `field` in errors) and builds the accepted submissions.
fn entities(
    list: Vec<EntityIn>,
    field: &str,
    id: impl Fn(&mut EntityIn) -> Option<String>,
    make: impl Fn(String, EntityIn) -> Submission,
) -> (Vec<Submission>, Vec<Rejected>) {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for (index, mut entity) in list.into_iter().enumerate() {
        let value = id(&mut entity).unwrap_or_default();
        match check_id(field, &value) {
            Ok(()) => records.push(make(value, entity)),
            Err((field, reason)) => rejected.push(Rejected { index, field, reason }),
        }
    }
    (records, rejected)
}

/// An entity's metadata fields as record values.
fn properties(entity: EntityIn) -> Vec<(String, Value)> {
    entity.properties.into_iter().map(|(k, v)| (k, json_to_value(v))).collect()
}

/// Deletes an item: it vanishes from every answer at once (its past interactions stay in histories).
async fn delete_item(
    State(state): State<Arc<AppState>>,
    Path(item_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let known = state.engine.catalog().item(&item_id).is_some();
    if !known {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("itemId: no item {item_id:?}")));
    }
    write(&state, vec![Submission::DeleteItem(item_id)], Vec::new()).await
}

async fn delete_user(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let known = state.engine.catalog().user(&user_id).is_some();
    if !known {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("userId: no data for user {user_id:?}")));
    }
    write(&state, vec![Submission::DeleteUser(user_id)], Vec::new()).await
}

/// Query parameters of the read endpoints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadParams {
    /// User to recommend for.
    pub user_id: Option<String>,
    /// Item to find similar items for.
    pub item_id: Option<String>,
    /// How many (default 25, at most 500).
    pub num_results: Option<usize>,
    /// Event type to count (popular).
    pub event_type: Option<String>,
    /// Recipe answering `/v1/recommendations`: user-personalization (default), als, next-item,
    /// popularity-count or trending-now.
    pub recipe: Option<String>,
    /// Items of an anonymous session, oldest first, comma-separated (next items).
    pub session_items: Option<String>,
    /// Session whose events were posted with a sessionId and no userId (next items).
    pub session_id: Option<String>,
    /// Trend interval: 30m, 1h (default), 3h or 1d.
    pub interval: Option<String>,
    /// A Personalize filter expression applied before truncation (e.g.
    /// `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")`).
    pub filter: Option<String>,
    /// Values of the filter's `$PARAMETERS`, a JSON object (`{"GENRE": "\"drama\",\"comedy\""}`).
    pub filter_values: Option<String>,
    /// The request's context, a JSON object (`{"DEVICE": "phone"}`): user recommendations are conditioned
    /// on it (see `recommend::in_context`).
    pub context: Option<String>,
}

impl ReadParams {
    /// The request's context as (field, value) pairs.
    fn context(&self) -> Result<Vec<(String, String)>, ApiError> {
        string_map("context", self.context.as_deref())
    }

    /// The request's filter, bound to its values.
    fn filter(&self) -> Result<Option<crate::filter::BoundFilter>, ApiError> {
        let values = string_map("filterValues", self.filter_values.as_deref())?.into_iter().collect();
        crate::filtering::bind_inline(self.filter.as_deref(), &values).map_err(bad_request)
    }

    fn n(&self) -> Result<usize, ApiError> {
        match self.num_results.unwrap_or(25) {
            n @ 1..=MAX_RESULTS => Ok(n),
            n => Err(bad_request(format!("numResults: {n} is out of range 1..={MAX_RESULTS}"))),
        }
    }
}

/// A query parameter holding a JSON object of strings (`{"DEVICE": "phone"}`); empty when absent.
fn string_map(field: &str, text: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    match text.filter(|t| !t.trim().is_empty()) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(text)
            .map(|m| m.into_iter().collect())
            .map_err(|e| bad_request(format!("{field}: expected a JSON object of strings: {e}"))),
    }
}

fn answer(items: Vec<Recommended>) -> Json<serde_json::Value> {
    Json(json!({ "itemList": items }))
}

/// Waits until every write acknowledged before now is published (popular, trending: dataset-wide answers).
async fn fresh(state: &AppState) -> Result<(), ApiError> {
    state.engine.wait_for_acknowledged(FRESHNESS_WAIT).await.map_err(unavailable)
}

/// Waits until the user's own acknowledged writes are published.
async fn fresh_for_user(state: &AppState, user: &str) -> Result<(), ApiError> {
    state.engine.wait_for(state.engine.user_epoch(user), FRESHNESS_WAIT).await.map_err(unavailable)
}

/// Waits until the item's acknowledged interactions are published.
async fn fresh_for_item(state: &AppState, item: &str) -> Result<(), ApiError> {
    state.engine.wait_for(state.engine.item_epoch(item), FRESHNESS_WAIT).await.map_err(unavailable)
}

async fn recommendations(
    State(state): State<Arc<AppState>>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = p.n()?;
    let user = p.user_id.clone().ok_or_else(|| bad_request("userId: required"))?;
    let filter = p.filter()?;
    let context = p.context()?;
    fresh_for_user(&state, &user).await?;
    let engine = &state.engine;
    let subject = crate::filtering::Subject { user: Some(&user), ..Default::default() };
    let recipe = p.recipe.as_deref().unwrap_or("user-personalization");
    match recipe {
        "next-item" | "streamrec-next-item" => return next_items(State(state.clone()), Query(p)).await,
        "user-personalization" | "aws-user-personalization" | "als" | "streamrec-als" | "popularity-count"
        | "aws-popularity-count" | "trending-now" | "aws-trending-now" => {}
        other => return Err(bad_request(format!("recipe: {other:?} does not recommend for users; use user-personalization, als, next-item, popularity-count or trending-now"))),
    }
    Ok(answer(crate::filtering::answer(engine, &subject, filter.as_ref(), n, |depth| {
        recommend::with_context(engine, &context, depth, |depth| match recipe {
            // Until the first background training finishes (or for a user with no history) als answers like
            // user-personalization, which never needs training.
            "als" | "streamrec-als" => state
                .als
                .recommend(engine, &user, depth)
                .unwrap_or_else(|| recommend::for_user(engine, &user, &UserQuery::new(depth))),
            "popularity-count" | "aws-popularity-count" => recommend::popular(engine, depth, None),
            "trending-now" | "aws-trending-now" => recommend::trending(engine, depth, 3_600),
            _ => recommend::for_user(engine, &user, &UserQuery::new(depth)),
        })
    })))
}

async fn similar_items(
    State(state): State<Arc<AppState>>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = p.n()?;
    let filter = p.filter()?;
    let item = p.item_id.clone().ok_or_else(|| bad_request("itemId: required"))?;
    fresh_for_item(&state, &item).await?;
    let subject = crate::filtering::Subject { item: Some(&item), user: p.user_id.as_deref(), ..Default::default() };
    Ok(answer(crate::filtering::answer(&state.engine, &subject, filter.as_ref(), n, |depth| {
        recommend::similar(&state.engine, &item, depth, 0.0, 100.0)
    })))
}

async fn popular(
    State(state): State<Arc<AppState>>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = p.n()?;
    let filter = p.filter()?;
    fresh(&state).await?;
    let subject = crate::filtering::Subject { user: p.user_id.as_deref(), ..Default::default() };
    Ok(answer(crate::filtering::answer(&state.engine, &subject, filter.as_ref(), n, |depth| {
        recommend::popular(&state.engine, depth, p.event_type.as_deref())
    })))
}

async fn trending(
    State(state): State<Arc<AppState>>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = p.n()?;
    let filter = p.filter()?;
    fresh(&state).await?;
    let interval = p.interval.as_deref().unwrap_or("1h");
    let secs = recommend::interval_secs(interval)
        .ok_or_else(|| bad_request(format!("interval: {interval:?} is not one of 30m, 1h, 3h, 1d")))?;
    let subject = crate::filtering::Subject { user: p.user_id.as_deref(), ..Default::default() };
    Ok(answer(crate::filtering::answer(&state.engine, &subject, filter.as_ref(), n, |depth| {
        recommend::trending(&state.engine, depth, secs)
    })))
}

/// What the engine knows of a user: every item interacted with (with its decayed affinity now) and the
/// recent window the recommendations start from.
async fn user_history(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    fresh_for_user(&state, &user_id).await?;
    let engine = &state.engine;
    let catalog = engine.catalog();
    let Some(user) = catalog.user(&user_id) else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("userId: no data for user {user_id:?}")));
    };
    let now = engine.index().clock();
    let params = &engine.config().params.affinity;
    let mut items: Vec<(String, f64)> = engine
        .index()
        .affinities(user)
        .into_iter()
        .map(|(item, a)| (catalog.item_name(item).to_string(), a.value_at(now, params)))
        .collect();
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    // `eventType` narrows the history to the newest items of that event type.
    let window = match p.event_type.as_deref() {
        Some(name) => match catalog.event_type(name) {
            Some(t) => engine.index().recent_of_type(user, t),
            None => Vec::new(),
        },
        None => engine.index().recent(user),
    };
    let recent: Vec<serde_json::Value> = window
        .into_iter()
        .rev()
        .map(|e| {
            json!({
                "itemId": catalog.item_name(e.item),
                "timestamp": e.timestamp,
                "eventType": catalog.ids.event_types.name(e.event_type as u32).unwrap_or(""),
            })
        })
        .collect();
    let items: Vec<serde_json::Value> =
        items.into_iter().map(|(id, a)| json!({ "itemId": id, "affinity": a })).collect();
    Ok(Json(json!({ "userId": user_id, "items": items, "recent": recent })))
}

/// The next items of a session: a user's recent history (`userId`), a posted anonymous session
/// (`sessionId`), or items given in the request (`sessionItems=a,b,c`, oldest first).
async fn next_items(
    State(state): State<Arc<AppState>>,
    Query(p): Query<ReadParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = p.n()?;
    let filter = p.filter()?;
    let engine = &state.engine;
    let user = p.user_id.clone().or_else(|| p.session_id.as_ref().map(|s| format!("session:{s}")));
    let (session, seen) = match (&p.session_items, &user) {
        (Some(items), _) => {
            (items.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_string).collect(), HashSet::new())
        }
        (None, Some(user)) => {
            fresh_for_user(&state, user).await?;
            let catalog = engine.catalog();
            match catalog.user(user) {
                Some(u) => {
                    let items =
                        engine.index().recent(u).iter().map(|e| catalog.item_name(e.item).to_string()).collect();
                    (items, engine.index().affinities(u).into_keys().collect())
                }
                None => (Vec::new(), HashSet::new()),
            }
        }
        (None, None) => return Err(bad_request("sessionItems, sessionId or userId: one is required")),
    };
    let subject = crate::filtering::Subject { user: user.as_deref(), ..Default::default() };
    Ok(answer(crate::filtering::answer(engine, &subject, filter.as_ref(), n, |depth| {
        recommend::next_items(engine, &session, &seen, &recommend::SessionQuery::new(depth))
    })))
}

/// Retrains the als item factors now (they also retrain in the background), answering with the seconds taken.
async fn retrain_als(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    fresh(&state).await?;
    let worker = state.clone();
    let seconds = tokio::task::spawn_blocking(move || worker.als.retrain(&worker.engine))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "seconds": seconds })))
}

/// Body of `POST /v1/personalized-ranking`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankIn {
    /// The user.
    pub user_id: String,
    /// The items to reorder (at most 500).
    pub input_list: Vec<String>,
    /// A filter expression: items it excludes are left out of the ranking.
    pub filter: Option<String>,
    /// Values of the filter's parameters.
    #[serde(default)]
    pub filter_values: std::collections::HashMap<String, String>,
}

async fn personalized_ranking(
    State(state): State<Arc<AppState>>,
    Json(body): Json<RankIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.input_list.is_empty() || body.input_list.len() > MAX_RESULTS {
        return Err(bad_request(format!("inputList: {} items; give 1..={MAX_RESULTS}", body.input_list.len())));
    }
    let filter = crate::filtering::bind_inline(body.filter.as_deref(), &body.filter_values).map_err(bad_request)?;
    fresh_for_user(&state, &body.user_id).await?;
    let subject = crate::filtering::Subject { user: Some(&body.user_id), ranking: true, ..Default::default() };
    let n = body.input_list.len();
    let ranked = crate::filtering::answer(&state.engine, &subject, filter.as_ref(), n, |_| {
        recommend::rank_for_user(&state.engine, &body.user_id, &body.input_list, &UserQuery::new(n))
    });
    Ok(Json(json!({ "personalizedRanking": ranked })))
}

async fn stats(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let engine = &state.engine;
    let catalog = engine.catalog();
    Json(json!({
        "users": catalog.ids.users.len(),
        "items": catalog.ids.items.len(),
        "eventTypes": catalog.ids.event_types.len(),
        "itemRecords": catalog.items.len(),
        "userRecords": catalog.users.len(),
        "acknowledgedEpoch": engine.acknowledged(),
        "publishedFrontier": engine.published(),
        "index": engine.index().sizes(),
    }))
}
