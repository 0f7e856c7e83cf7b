//! The dashboard's webhooks section: each application's webhook URL (for
//! scheduling-request notifications) and the delivery log with replay. The
//! same rules as `POST /v1/application` and `/v1/deliveries/{id}/replay`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use convene_store::Application;
use convene_store::notify::Delivery;

use super::{Chrome, Opt, chrome, csrf_failed, failed, fstr, html, not_found, see_other};
use crate::AppState;
use crate::domain::requests::WEBHOOK_TYPES;
use crate::http::{Body, QueryInput};
use crate::notifications::check_url;
use crate::pages::admin_auth::{Signed, form_encode};
use crate::time::from_ms;

/// Deliveries one page of the log shows.
const LOG_PAGE: i64 = 50;
/// Pages beyond this are not offered (the offset stays small).
const MAX_LOG_PAGE: i64 = 10_000;
const DELIVERY_STATES: &[(&str, &str)] = &[
    ("pending", "Pending"),
    ("delivered", "Delivered"),
    ("failed", "Failed"),
];

struct AppView {
    id: String,
    name: String,
    url: String,
    error: String,
}

struct DeliveryView {
    id: String,
    created: String,
    kind: String,
    target: String,
    url: String,
    state: String,
    attempts: i64,
    outcome: String,
    replay_of: String,
    body: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    message: Option<String>,
    types: Vec<&'static str>,
    apps: Vec<AppView>,
    app_filters: Vec<Opt>,
    state_filters: Vec<Opt>,
    selected_app: String,
    deliveries: Vec<DeliveryView>,
    /// Links to the newer and older pages of the log, when there are some.
    newer: Option<String>,
    older: Option<String>,
    page: i64,
}

fn stamp(ms: i64) -> String {
    from_ms(ms)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    let body = serde_json::from_str::<serde_json::Value>(&d.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| d.body.clone());
    // A mail's status is the SMTP server's reply code.
    let proto = if d.kind == crate::domain::mail::KIND {
        "SMTP"
    } else {
        "HTTP"
    };
    let outcome = match (d.last_status, &d.last_error) {
        (Some(s), Some(e)) => format!("{proto} {s}: {e}"),
        (Some(s), None) => format!("{proto} {s}"),
        (None, Some(e)) => e.clone(),
        (None, None) if d.state == "pending" => {
            format!("next attempt {}", stamp(d.next_attempt_ms))
        }
        (None, None) => String::new(),
    };
    DeliveryView {
        id: d.id.clone(),
        created: stamp(d.created_ms),
        kind: d.kind.clone(),
        target: match &d.channel_id {
            Some(c) => format!("channel {c}"),
            None if d.kind == crate::domain::mail::KIND => "mail".into(),
            None => "webhook".into(),
        },
        url: d.url.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        outcome,
        replay_of: d.replay_of.clone().unwrap_or_default(),
        body,
    }
}

/// Renders the section; `error` is shown at one application's URL field.
async fn render_page(
    state: &AppState,
    s: &Signed,
    q: &serde_json::Value,
    status: StatusCode,
    error: Option<(&str, String, String)>,
    message: Option<String>,
) -> Response {
    let apps = match state
        .db
        .unit_applications(&s.admin.organizational_unit_id)
        .await
    {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let selected = apps
        .iter()
        .find(|a| a.id == fstr(q, "app"))
        .or(apps.first())
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let filter = DELIVERY_STATES
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == fstr(q, "state"));
    let page = fstr(q, "page")
        .parse::<i64>()
        .unwrap_or(1)
        .clamp(1, MAX_LOG_PAGE);
    // One row more than a page tells whether an older page exists.
    let mut rows = if selected.is_empty() {
        Vec::new()
    } else {
        match state
            .db
            .deliveries_page(&selected, filter, LOG_PAGE + 1, (page - 1) * LOG_PAGE)
            .await
        {
            Ok(d) => d,
            Err(e) => return failed(e),
        }
    };
    let has_older = rows.len() as i64 > LOG_PAGE && page < MAX_LOG_PAGE;
    rows.truncate(LOG_PAGE as usize);
    let deliveries = rows.iter().map(delivery_view).collect();
    let base = format!("/dashboard/webhooks?app={}", form_encode(&selected));
    let here = match filter {
        Some(f) => format!("{base}&state={f}"),
        None => base.clone(),
    };
    let newer = (page > 1).then(|| format!("{here}&page={}", page - 1));
    let older = has_older.then(|| format!("{here}&page={}", page + 1));
    let mut state_filters = vec![Opt {
        value: base.clone(),
        label: "All".into(),
        selected: filter.is_none(),
    }];
    state_filters.extend(DELIVERY_STATES.iter().map(|(k, l)| Opt {
        value: format!("{base}&state={k}"),
        label: l.to_string(),
        selected: filter == Some(*k),
    }));
    let app_filters = apps
        .iter()
        .map(|a| Opt {
            value: format!("/dashboard/webhooks?app={}", form_encode(&a.id)),
            label: a.name.clone(),
            selected: a.id == selected,
        })
        .collect();
    let apps = apps
        .iter()
        .map(|a: &Application| {
            let (url, err) = match &error {
                Some((id, typed, why)) if *id == a.id => (typed.clone(), why.clone()),
                _ => (a.webhook_url.clone().unwrap_or_default(), String::new()),
            };
            AppView {
                id: a.id.clone(),
                name: a.name.clone(),
                url,
                error: err,
            }
        })
        .collect();
    html(
        status,
        &WebhooksPage {
            chrome: chrome(s, "webhooks"),
            message,
            types: WEBHOOK_TYPES.to_vec(),
            apps,
            app_filters,
            state_filters,
            selected_app: selected,
            deliveries,
            newer,
            older,
            page,
        },
    )
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
pub async fn page(State(state): State<AppState>, s: Signed, QueryInput(q): QueryInput) -> Response {
    let message = if fstr(&q, "saved") == "1" {
        Some("Webhook URL saved.".to_string())
    } else if !fstr(&q, "replayed").is_empty() {
        Some(format!(
            "Queued again as {}; it is sent within moments.",
            fstr(&q, "replayed")
        ))
    } else {
        None
    };
    render_page(&state, &s, &q, StatusCode::OK, None, message).await
}

async fn unit_app(state: &AppState, s: &Signed, id: &str) -> Result<Option<Application>, Response> {
    match state.db.application(id).await {
        Ok(a) => Ok(a.filter(|a| a.organizational_unit_id == s.admin.organizational_unit_id)),
        Err(e) => Err(failed(e)),
    }
}

/// `POST /dashboard/webhooks/{client_id}` with `webhook_url` (empty clears).
#[tracing::instrument(skip_all, fields(admin = %s.admin.id, app = %client_id))]
pub async fn set_url(
    State(state): State<AppState>,
    s: Signed,
    Path(client_id): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, "/dashboard/webhooks");
    }
    let app = match unit_app(&state, &s, &client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(&s, "application", "/dashboard/webhooks"),
        Err(r) => return r,
    };
    let url = fstr(&form, "webhook_url").trim().to_string();
    if !url.is_empty()
        && let Err(why) = check_url(&url, state.cfg.callback_policy)
    {
        let q = serde_json::json!({ "app": app.id });
        return render_page(
            &state,
            &s,
            &q,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some((app.id.as_str(), url.clone(), why)),
            None,
        )
        .await;
    }
    let url = Some(url).filter(|u| !u.is_empty());
    if let Err(e) = state.db.set_webhook_url(&app.id, url.as_deref()).await {
        return failed(e);
    }
    tracing::info!(app = %app.id, "webhook URL set from the dashboard");
    see_other(&format!(
        "/dashboard/webhooks?app={}&saved=1",
        form_encode(&app.id)
    ))
}

/// `POST /dashboard/deliveries/{id}/replay`: the same body again as a new
/// delivery, exactly as `POST /v1/deliveries/{id}/replay` does.
#[tracing::instrument(skip_all, fields(admin = %s.admin.id, delivery = %id))]
pub async fn replay(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, "/dashboard/webhooks");
    }
    let d = match state.db.delivery(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&s, "delivery", "/dashboard/webhooks"),
        Err(e) => return failed(e),
    };
    match unit_app(&state, &s, &d.application_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(&s, "delivery", "/dashboard/webhooks"),
        Err(r) => return r,
    }
    let copy = match crate::notifications::replay(&state, d).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    see_other(&format!(
        "/dashboard/webhooks?app={}&replayed={}",
        form_encode(&copy.application_id),
        form_encode(&copy.id)
    ))
}
