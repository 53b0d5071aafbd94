//! AWS's JSON error shape, with the exception names and status codes the SDKs map to typed errors.
//!
//! Both protocols get the same body (`{"__type": NAME, "message": ...}`) and the `x-amzn-ErrorType`
//! header: awsJson1_1 clients read `__type`, rest-json clients read the header first.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One error answer of the Personalize APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    /// The exception name (`InvalidInputException`, ...).
    pub code: &'static str,
    /// What went wrong and which field, for a developer.
    pub message: String,
    /// The HTTP status.
    pub status: StatusCode,
}

impl AwsError {
    /// A request that breaks a rule of the model or of streamrec (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        AwsError { code: "InvalidInputException", message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// An ARN or id that names nothing. The control plane answers 400 (as AWS does for awsJson1_1);
    /// the runtime and events APIs use their modelled 404 (see [`AwsError::for_rest`]).
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AwsError {
            code: "ResourceNotFoundException",
            message: format!("{what} does not exist"),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// A create whose name is taken.
    pub fn already_exists(arn: &str) -> Self {
        AwsError {
            code: "ResourceAlreadyExistsException",
            message: format!("{arn} already exists"),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// A resource that cannot be used or deleted in its current state.
    pub fn in_use(message: impl Into<String>) -> Self {
        AwsError { code: "ResourceInUseException", message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// A limit of the model or of streamrec was exceeded.
    pub fn limit(message: impl Into<String>) -> Self {
        AwsError { code: "LimitExceededException", message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// A `nextToken` that no list produced.
    pub fn bad_token(token: &str) -> Self {
        AwsError {
            code: "InvalidNextTokenException",
            message: format!("nextToken {token:?} was not returned by this list"),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// A request that failed authentication (SigV4).
    pub fn auth(code: &'static str, message: impl Into<String>) -> Self {
        AwsError { code, message: message.into(), status: StatusCode::FORBIDDEN }
    }

    /// A failure of streamrec itself.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        AwsError { code: "InternalFailure", message: message.to_string(), status: StatusCode::INTERNAL_SERVER_ERROR }
    }

    /// The status the rest-json APIs (runtime and events) model for this error.
    pub fn for_rest(mut self) -> Self {
        self.status = match self.code {
            "ResourceNotFoundException" => StatusCode::NOT_FOUND,
            "ResourceInUseException" => StatusCode::CONFLICT,
            _ => self.status,
        };
        self
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message }).to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}
