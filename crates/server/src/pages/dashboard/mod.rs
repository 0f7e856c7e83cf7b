//! The admin dashboard: sign-in, templates (list and editor), scheduling
//! requests (list and the page at each request's `dashboard_url`) and the
//! webhook settings with the delivery log. Server-rendered forms; every POST
//! carries the session's CSRF token. An admin sees only their own
//! Organizational Unit: anything else is a 404.
//!
//! This module holds the routes and what every page shares; each section is
//! a child module.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use convene_store::Account;
use convene_store::scheduling::{Request, Template};
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

use super::admin_auth::{
    SIGNIN_COOKIE, Signed, cookie, end_session, safe_next, same_secret, set_cookie, start_session,
    verify_password,
};
use super::template_check::template_problems;
use super::{ZONES, assets};
use crate::domain::requests::{
    booking_of, cancel_request, history_of, refresh, select_url, spec_of,
};
use crate::domain::templates::normalize;
use crate::error::{ApiError, FieldError};
use crate::http::{Body, QueryInput};
use crate::ids::{new_id, new_secret};
use crate::time::{fmt_time, from_ms, parse_time};
use crate::{AppState, tz};

mod request_pages;
mod sign_in;
mod template_form;
mod template_list;
pub mod webhooks;

use request_pages::*;
use sign_in::*;
use template_form::*;
use template_list::*;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/sign-in", get(sign_in_form).post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/dashboard/templates", get(templates).post(create_template))
        .route("/dashboard/templates/new", get(new_template))
        .route(
            "/dashboard/templates/{sub}",
            get(edit_template).post(save_template),
        )
        .route("/dashboard/templates/{sub}/delete", post(delete_template))
        .route("/dashboard/requests", get(requests))
        .route("/dashboard/requests/{id}", get(request_page))
        .route("/dashboard/requests/{id}/cancel", post(cancel))
        .route("/assets/{file}", get(assets::serve))
}

/// The frame every signed-in page shares.
pub struct Chrome {
    pub email: String,
    pub ou_name: String,
    pub csrf: String,
    pub section: &'static str,
    /// Whether the webhooks section is offered.
    pub webhooks: bool,
}

pub(super) fn chrome(s: &Signed, section: &'static str) -> Chrome {
    Chrome {
        email: s.admin.email.clone(),
        ou_name: s.ou_name.clone(),
        csrf: s.csrf.clone(),
        section,
        webhooks: true,
    }
}

/// A rendered page with the headers every dashboard page carries: no
/// caching, no framing (clickjacking), and a CSP that only allows Convene's
/// own stylesheet and scripts.
pub(super) fn html<T: askama::Template>(status: StatusCode, t: &T) -> Response {
    assets::secure(super::render(status, t))
}

#[derive(askama::Template)]
#[template(path = "dashboard/message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    message: String,
    back: String,
}

fn message(s: &Signed, status: StatusCode, title: &str, text: &str, back: &str) -> Response {
    html(
        status,
        &MessagePage {
            chrome: chrome(s, ""),
            title: title.into(),
            message: text.into(),
            back: back.into(),
        },
    )
}

pub(super) fn not_found(s: &Signed, what: &str, back: &str) -> Response {
    message(
        s,
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("No {what} of that id exists in your Organizational Unit."),
        back,
    )
}

pub(super) fn csrf_failed(s: &Signed, back: &str) -> Response {
    message(
        s,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not sent from your current session. Reload the page and try again.",
        back,
    )
}

/// Unexpected failures: logged, and a plain page (never the error text).
pub(super) fn failed(e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    tracing::error!(error = ?e, "dashboard failed");
    assets::secure(
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::response::Html(
                "<!doctype html><title>Error</title><h1>Something went wrong</h1>",
            ),
        )
            .into_response(),
    )
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(super) fn fstr<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

#[tracing::instrument(skip_all)]
async fn home(_s: Signed) -> Response {
    see_other("/dashboard/requests")
}
