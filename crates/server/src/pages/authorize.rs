//! `/oauth/authorize`: the page where a person connects a calendar
//! (Cronofy's authorization flow, so the SDKs' `user_auth_link` and
//! `get_authorization_from_code` work unchanged).
//!
//! A bad `client_id` or a `redirect_uri` the application did not register
//! gets an error page, never a redirect. A server that refuses the
//! password or cannot be reached shows the page again with the reason, and
//! nothing is stored. Success redirects to `redirect_uri?code=…&state=…`.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::render;
use crate::AppState;
use crate::domain::connected::{self, ConnectForm};
use crate::http::{Body, QueryInput};
use crate::ids::digest;

/// The request parameters carried from the page to its form.
const CARRIED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "link_token",
    "avoid_linking",
];

#[derive(Template)]
#[template(path = "authorize.html")]
struct Page {
    fatal: Option<String>,
    app_name: String,
    message: Option<String>,
    hidden: Vec<(String, String)>,
    server_url: String,
    username: String,
    ics_url: String,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("").trim()
}

/// The authorize page's own headers: as the other pages, except that the
/// form's answer redirects to the application, which a `form-action 'self'`
/// policy would block in browsers that apply it to redirects.
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn fatal(msg: String) -> Response {
    secure(render(
        StatusCode::BAD_REQUEST,
        &Page {
            fatal: Some(msg),
            app_name: String::new(),
            message: None,
            hidden: Vec::new(),
            server_url: String::new(),
            username: String::new(),
            ics_url: String::new(),
        },
    ))
}

/// Checks what every authorize request needs; answers the application and
/// the account a link token names, or the error page.
async fn check(
    state: &AppState,
    q: &Value,
) -> Result<(convene_store::Application, Option<String>), Response> {
    let app = connected::check_client(state, s(q, "client_id"), s(q, "redirect_uri"))
        .await
        .map_err(fatal)?;
    if s(q, "response_type") != "code" {
        return Err(fatal("response_type must be code.".into()));
    }
    let link = match s(q, "link_token") {
        "" => None,
        t => Some(
            state
                .db
                .link_token_account(&digest(t), &app.id, state.now_ms())
                .await
                .map_err(|e| fatal(e.to_string()))?
                .ok_or_else(|| fatal("The link_token is not valid or has expired.".into()))?,
        ),
    };
    Ok((app, link))
}

fn page(
    status: StatusCode,
    app: &convene_store::Application,
    q: &Value,
    message: Option<String>,
) -> Response {
    secure(render(
        status,
        &Page {
            fatal: None,
            app_name: app.name.clone(),
            message,
            hidden: CARRIED
                .iter()
                .filter(|k| !s(q, k).is_empty())
                .map(|k| (k.to_string(), s(q, k).to_string()))
                .collect(),
            server_url: s(q, "server_url").to_string(),
            username: s(q, "username").to_string(),
            ics_url: s(q, "ics_url").to_string(),
        },
    ))
}

/// `GET /oauth/authorize`.
#[tracing::instrument(skip_all)]
pub async fn show(State(state): State<AppState>, QueryInput(q): QueryInput) -> Response {
    match check(&state, &q).await {
        Ok((app, _)) => page(StatusCode::OK, &app, &q, None),
        Err(r) => r,
    }
}

/// `POST /oauth/authorize`: connects the calendar, then redirects.
#[tracing::instrument(skip_all)]
pub async fn submit(State(state): State<AppState>, Body(form): Body) -> Response {
    let (app, link) = match check(&state, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let input = match s(&form, "provider") {
        "ics" => ConnectForm::Ics {
            url: s(&form, "ics_url").to_string(),
        },
        _ => ConnectForm::CalDav {
            server_url: s(&form, "server_url").to_string(),
            username: s(&form, "username").to_string(),
            password: form
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        },
    };
    let redirect_uri = s(&form, "redirect_uri");
    match connected::connect(&state, &app, redirect_uri, link.as_deref(), input).await {
        Ok(code) => {
            let mut to = match reqwest::Url::parse(redirect_uri) {
                Ok(u) => u,
                Err(_) => return fatal("The redirect_uri is not a URL.".into()),
            };
            to.query_pairs_mut().append_pair("code", &code);
            if !s(&form, "state").is_empty() {
                to.query_pairs_mut().append_pair("state", s(&form, "state"));
            }
            let mut resp = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(to.as_str()) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            secure(resp)
        }
        Err(msg) => page(StatusCode::UNPROCESSABLE_ENTITY, &app, &form, Some(msg)),
    }
}
