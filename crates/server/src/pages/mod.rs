//! Server-rendered pages (askama templates compiled into the binary). They
//! work without JavaScript; a little plain JS only improves them.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

pub mod admin_auth;
pub mod assets;
pub mod authorize;
pub mod conversation;
pub mod dashboard;
pub mod ou_authorize;
pub mod recipient;
pub mod rts;
pub mod template_check;

/// Every page: the dashboard and the recipient's slot picker.
pub fn routes() -> axum::Router<crate::AppState> {
    use axum::routing::{get, post};
    dashboard::routes()
        .route("/dashboard/webhooks", get(dashboard::webhooks::page))
        .route(
            "/dashboard/webhooks/{client_id}",
            post(dashboard::webhooks::set_url),
        )
        .route(
            "/dashboard/deliveries/{delivery_id}/replay",
            post(dashboard::webhooks::replay),
        )
        .route("/rts/{token}", get(link_page).post(link_submit))
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route(
            "/conversations/{token}",
            get(conversation::show).post(conversation::submit),
        )
        .route("/", get(landing))
}

/// Whether an authorization asks for Organizational Unit scheduling (an
/// admin's consent) rather than a person's calendar.
fn asks_for_unit(params: &serde_json::Value) -> bool {
    params
        .get("scope")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| {
            s.split_whitespace()
                .any(|s| s == "organizational_unit_scheduler")
        })
}

/// `GET /oauth/authorize`: connect a calendar, or grant a unit's scheduling.
async fn authorize_page(
    state: axum::extract::State<crate::AppState>,
    q: crate::http::QueryInput,
) -> Response {
    if asks_for_unit(&q.0) {
        ou_authorize::show(state, q).await
    } else {
        authorize::show(state, q).await
    }
}

/// `POST /oauth/authorize`: either form (each carries its `scope`).
async fn authorize_submit(
    state: axum::extract::State<crate::AppState>,
    form: crate::http::Body,
) -> Response {
    if asks_for_unit(&form.0) {
        ou_authorize::submit(state, form).await
    } else {
        authorize::submit(state, form).await
    }
}

/// `GET /rts/{token}`: a scheduling request recipient's page, or else a
/// Real-Time Scheduling link's (the two kinds of link share the path).
async fn link_page(
    state: axum::extract::State<crate::AppState>,
    token: axum::extract::Path<String>,
    q: crate::http::QueryInput,
) -> Response {
    match recipient::load_and_show(&state, &token, &q.0).await {
        Some(page) => page,
        None => rts::show(&state, &token, &q.0)
            .await
            .unwrap_or_else(recipient::missing),
    }
}

/// `POST /rts/{token}`: a pick on either kind of link.
async fn link_submit(
    state: axum::extract::State<crate::AppState>,
    token: axum::extract::Path<String>,
    form: crate::http::Body,
) -> Response {
    match recipient::load_and_submit(&state, &token, &form.0).await {
        Some(page) => page,
        None => rts::submit(&state, &token, &form.0)
            .await
            .unwrap_or_else(recipient::missing),
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    version: &'static str,
}

/// `GET /`: where a person who opens the server's address finds the
/// dashboard and the API document.
async fn landing() -> Response {
    assets::secure(render(
        StatusCode::OK,
        &Landing {
            version: env!("CARGO_PKG_VERSION"),
        },
    ))
}

/// Renders a template with a status; a template error is a 500 page.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, [("cache-control", "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Something went wrong</h1>".to_string()),
            )
                .into_response()
        }
    }
}

/// Zones offered in the picker (the visitor's own is added when missing).
pub const ZONES: &[&str] = &[
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "America/Bogota",
    "Atlantic/Azores",
    "Etc/UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Tehran",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
];
