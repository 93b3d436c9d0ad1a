//! Errors: [`SimError`] for starting the simulator (configuration, binding), and the
//! crate-private `ApiError`, one Zendesk error answer (status, JSON body, headers).

use std::net::SocketAddr;

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bad --account {given:?}: expected NAME=ADDR, e.g. acme=127.0.0.1:18081 ({reason})")]
    BadAccount { given: String, reason: String },
    #[error(
        "bad --webhook {given:?}: expected NAME=URL, e.g. acme=http://127.0.0.1:9464/webhooks/acme ({reason})"
    )]
    BadWebhook { given: String, reason: String },
    #[error("--fault-rate must be between 0.0 and 1.0, got {0}")]
    BadFaultRate(f64),
    #[error(
        "unknown fault kind {0:?}: expected one of 429, 500, 503, drop, drop-after-commit, late-apply"
    )]
    BadFaultKind(String),
    #[error("no account configured: give at least one --account NAME=ADDR")]
    NoAccounts,
    #[error("account {0:?} is configured twice")]
    DuplicateAccount(String),
    #[error("webhook names account {0:?}, which is not configured")]
    UnknownWebhookAccount(String),
    #[error("account {account}: cannot bind {addr}: {source}")]
    Bind {
        account: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad --oauth-client {0:?}: expected ID=SECRET, e.g. sharebridge=s3cret")]
    BadOAuthClient(String),
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(String),
}

/// A Zendesk error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> ApiError {
        ApiError {
            status,
            body,
            retry_after: None,
        }
    }

    /// 404 `{"error":"RecordNotFound","description":"Not found"}`.
    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            json!({"error": "RecordNotFound", "description": "Not found"}),
        )
    }

    /// 401 `{"error":"Couldn't authenticate you"}`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Couldn't authenticate you"}),
        )
    }

    /// 422 RecordInvalid naming one field.
    pub fn invalid(field: &str, description: &str) -> ApiError {
        ApiError::invalid_with(field, description, "InvalidValue")
    }

    pub fn invalid_with(field: &str, description: &str, error: &str) -> ApiError {
        let mut details = serde_json::Map::new();
        details.insert(
            field.to_owned(),
            json!([{"description": description, "error": error}]),
        );
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "RecordInvalid", "description": "Record validation errors", "details": details}),
        )
    }

    /// 400 for a body that is not JSON or lacks its envelope.
    pub fn bad_json(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            json!({"error": "InvalidJSON", "description": what}),
        )
    }

    pub fn bad_param(error: &str, description: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            json!({"error": error, "description": description}),
        )
    }

    /// 429 with `Retry-After`.
    pub fn throttled(retry_after: u64, description: &str) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({"error": "APIRateLimitExceeded", "description": description}),
            retry_after: Some(retry_after.max(1)),
        }
    }
}

/// A refusal from a [`crate::sim::Simulator`] helper: what the API would have answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("simulated Zendesk refused with {status}: {body}")]
pub struct SimApiError {
    pub status: u16,
    pub body: Value,
}

impl From<ApiError> for SimApiError {
    fn from(e: ApiError) -> SimApiError {
        SimApiError {
            status: e.status.as_u16(),
            body: e.body,
        }
    }
}
