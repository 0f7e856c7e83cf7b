//! One error type for every layer: the problems Cronofy's wire contract
//! names (field errors with their `errors.…` keys, not found, forbidden…).
//! The domain reports in these terms; `crate::http` renders them.

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

/// Problems one answer lists; past it the answer says how many more there
/// were (`more_errors`), so a request with 100,000 bad items gets a small,
/// quick answer.
pub const MAX_PROBLEMS: usize = 100;

pub fn errors_body(errors: &[FieldError]) -> Value {
    let mut map = serde_json::Map::new();
    for e in errors.iter().take(MAX_PROBLEMS) {
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
    if errors.len() > MAX_PROBLEMS {
        json!({ "errors": map, "more_errors": errors.len() - MAX_PROBLEMS })
    } else {
        json!({ "errors": map })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
