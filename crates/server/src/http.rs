//! HTTP plumbing shared by the adapters (the JSON API and the pages): the
//! lenient body and query extractors and the rendering of errors in
//! Cronofy's shapes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ApiError, FieldError, errors_body};
use crate::input::{parse_body, parse_form};

/// A request body as a JSON value (an empty object when there is none).
#[derive(Debug, Clone)]
pub struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ctype = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        parse_body(&ctype, &bytes).map(Body)
    }
}

/// The query string as a JSON value, with the same conventions as forms.
#[derive(Debug, Clone)]
pub struct QueryInput(pub Value);

impl<S: Send + Sync> FromRequestParts<S> for QueryInput {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(QueryInput(parse_form(
            parts.uri.query().unwrap_or("").as_bytes(),
        )))
    }
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
