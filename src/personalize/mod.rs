//! Amazon Personalize's three APIs on streamrec's engines, on the same port as the native API, exactly as
//! botocore's service models define them, so code written with the AWS SDKs works by changing only the
//! endpoint URL:
//!
//! - the control plane ([`control`]): `POST /` with `X-Amz-Target: AmazonPersonalize.<Operation>`;
//! - personalize-runtime ([`runtime`]): `POST /recommendations`, `POST /personalize-ranking`;
//! - personalize-events ([`events`]): `POST /events`, `POST /items`, `POST /users`.
//!
//! Every request is checked against AWS Signature Version 4 ([`sigv4`]) with the configured access keys
//! unless verification is turned off for local development. Resources live in a redb catalog
//! ([`store`]); each dataset group runs its own engine ([`service`]); long work runs in the background
//! ([`work`]); campaigns and batch jobs answer through [`serving`] and [`filters`].

pub mod control;
pub mod error;
pub mod events;
pub mod filters;
pub mod location;
pub mod resource;
pub mod runtime;
pub mod service;
pub mod serving;
pub mod sigv4;
pub mod store;
pub mod work;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use error::AwsError;
pub use service::{Personalize, PersonalizeConfig};

/// Largest request body (the control plane's biggest field, a schema, is 20,000 characters; events and
/// items are small): bigger bodies are refused before they are buffered for signature checks.
const MAX_BODY: usize = 4 << 20;

/// The Personalize routes, with signature verification in front of them.
pub fn routes(service: Arc<Personalize>) -> Router {
    Router::new()
        .route("/", post(control_plane))
        .route("/recommendations", post(runtime::get_recommendations))
        .route("/personalize-ranking", post(runtime::get_personalized_ranking))
        .route("/events", post(events::put_events))
        .route("/items", post(events::put_items))
        .route("/users", post(events::put_users))
        .layer(axum::middleware::from_fn_with_state(service.clone(), authenticate))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
}

async fn control_plane(
    State(service): State<Arc<Personalize>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AwsError::invalid("X-Amz-Target: required (AmazonPersonalize.<Operation>)"))?;
        let operation = target.strip_prefix("AmazonPersonalize.").ok_or_else(|| {
            AwsError::invalid(format!("X-Amz-Target: {target:?} is not AmazonPersonalize.<Operation>"))
        })?;
        let input = runtime::body_fields(&body)?;
        let operation = operation.to_string();
        let worker = service.clone();
        // Catalog transactions fsync; keep them off the async workers.
        tokio::task::spawn_blocking(move || control::dispatch(&worker, &operation, &input))
            .await
            .map_err(AwsError::internal)?
    }
    .await;
    let mut response = match result {
        Ok(value) => (axum::http::StatusCode::OK, value.to_string()).into_response(),
        Err(e) => e.into_response(),
    };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    response
}

/// Checks the request's SigV4 signature (unless turned off), then passes it on with its body intact.
async fn authenticate(State(service): State<Arc<Personalize>>, request: Request, next: Next) -> Response {
    if !service.config.verify_signatures {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return AwsError::invalid(format!("the request body is larger than {MAX_BODY} bytes")).into_response()
        }
    };
    if service.config.access_keys.is_empty() {
        return AwsError::auth(
            "UnrecognizedClientException",
            "streamrec has no access keys configured: start it with --access-key ID:SECRET (or \
             STREAMREC_ACCESS_KEYS), or with --no-verify-signatures for local development",
        )
        .into_response();
    }
    let signed = sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    let now = crate::model::record::unix_now();
    let secret_for = |key: &str| service.config.access_keys.get(key).cloned();
    if let Err(e) = sigv4::verify(&signed, &bytes, &secret_for, now) {
        tracing::debug!(path = parts.uri.path(), "rejected a request: {e}");
        return AwsError::auth(e.code(), e.to_string()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
