//! The problems a scheduling request would report for a template, computed
//! without creating one, so the editor at `cronofy_dashboard_url` shows the
//! very errors the API answered with.

use serde_json::Value;

use crate::AppState;
use crate::domain::requests::{resolve, template_dashboard_url};
use crate::error::{ApiResult, FieldError};

/// Runs the API's own template resolution (the code path of
/// `POST /v1/scheduling_requests` with `template.sub`) and collects what it
/// rejects. No impersonated host: the dashboard checks the template as an
/// application's client secret would use it.
#[tracing::instrument(skip(state, body))]
pub async fn template_problems(
    state: &AppState,
    ou: &str,
    sub: &str,
    body: &Value,
) -> ApiResult<Vec<FieldError>> {
    let url = template_dashboard_url(state, sub);
    let mut problems: Vec<FieldError> = Vec::new();
    let mut fail = |key: &str, description: &str| {
        problems.push(FieldError {
            field: "template.sub".into(),
            key: format!("errors.template.{key}"),
            description: description.into(),
            dashboard_url: Some(url.clone()),
        })
    };
    resolve(state, ou, body, None, &mut fail).await?;
    Ok(problems)
}
