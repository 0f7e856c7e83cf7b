//! Server-rendered pages (askama templates compiled into the binary). They
//! work without JavaScript; a little plain JS only improves them.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

pub mod admin_auth;
pub mod assets;
pub mod authorize;
pub mod dashboard;
pub mod recipient;
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
        .route("/rts/{token}", get(recipient::show).post(recipient::submit))
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::submit),
        )
        .route("/", get(landing))
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
