//! One error type for every handler, rendered in Cronofy's shapes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub key: String,
    pub description: String,
    /// Set on template errors so an admin can go and fix the template.
    pub dashboard_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("unauthorized")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// RFC 6749 errors of `/oauth/token`.
    #[error("oauth error {0}")]
    OAuth(&'static str),
    #[error("payload too large")]
    TooLarge,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, key: &str, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError {
            field: field.into(),
            key: format!("errors.{key}"),
            description: description.into(),
            dashboard_url: None,
        }])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }
}

impl From<convene_store::StoreError> for ApiError {
    fn from(e: convene_store::StoreError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

pub fn errors_body(errors: &[FieldError]) -> Value {
    let mut map = serde_json::Map::new();
    for e in errors {
        let mut obj = json!({ "key": e.key, "description": e.description });
        if let Some(url) = &e.dashboard_url {
            obj["cronofy_dashboard_url"] = json!(url);
        }
        map.entry(e.field.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("inserted as array")
            .push(obj);
    }
    json!({ "errors": map })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors_body(errors)),
            ApiError::Malformed(msg) => (
                StatusCode::BAD_REQUEST,
                errors_body(&[FieldError {
                    field: "body".into(),
                    key: "errors.malformed".into(),
                    description: msg.clone(),
                    dashboard_url: None,
                }]),
            ),
            ApiError::Unauthorized(msg) => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "unauthorized", "message": msg }),
            ),
            ApiError::Forbidden(msg) => (
                StatusCode::FORBIDDEN,
                json!({ "error": "forbidden", "message": msg }),
            ),
            ApiError::NotFound(msg) => (
                StatusCode::NOT_FOUND,
                json!({ "error": "not_found", "message": msg }),
            ),
            ApiError::OAuth(code) => (StatusCode::BAD_REQUEST, json!({ "error": code })),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "payload_too_large", "message": "request body too large" }),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal_error", "message": "something went wrong on our side" }),
                )
            }
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
