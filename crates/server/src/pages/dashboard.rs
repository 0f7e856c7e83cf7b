//! The admin dashboard: sign-in, templates (list and editor) and scheduling
//! requests (list and the page at each request's `dashboard_url`). Server-
//! rendered forms; every POST carries the session's CSRF token. An admin
//! sees only their own Organizational Unit: anything else is a 404.

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

pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "get",
        "/dashboard",
        "Dashboard home (HTML; sign-in required): the scheduling requests.",
    ),
    ("get", "/dashboard/sign-in", "Admin sign-in form (HTML)."),
    (
        "post",
        "/dashboard/sign-in",
        "Sign in with email and password (form); sets an HttpOnly session cookie.",
    ),
    (
        "post",
        "/dashboard/sign-out",
        "Sign out (form with the session's CSRF token).",
    ),
    (
        "get",
        "/dashboard/templates",
        "Templates of the admin's Organizational Unit (HTML).",
    ),
    (
        "post",
        "/dashboard/templates",
        "Create a template from the editor form.",
    ),
    (
        "get",
        "/dashboard/templates/new",
        "Template editor for a new template (HTML).",
    ),
    (
        "get",
        "/dashboard/templates/{sub}",
        "Template editor (cronofy_dashboard_url of template errors), with the problems a request would report.",
    ),
    (
        "post",
        "/dashboard/templates/{sub}",
        "Save a template from the editor form.",
    ),
    (
        "post",
        "/dashboard/templates/{sub}/delete",
        "Delete a template (form).",
    ),
    (
        "get",
        "/dashboard/requests",
        "Scheduling requests of the unit, filtered by ?state= (HTML).",
    ),
    (
        "get",
        "/dashboard/requests/{id}",
        "A scheduling request (its dashboard_url): recipient, history, booking, cancel (HTML).",
    ),
    (
        "post",
        "/dashboard/requests/{id}/cancel",
        "Cancel a scheduling request (form).",
    ),
    (
        "get",
        "/dashboard/webhooks",
        "Applications' webhook URLs and their delivery log, filtered by ?app= and ?state= (HTML).",
    ),
    (
        "post",
        "/dashboard/webhooks/{client_id}",
        "Set or clear an application's webhook URL (form).",
    ),
    (
        "post",
        "/dashboard/deliveries/{delivery_id}/replay",
        "Send a delivery again as a new delivery (form).",
    ),
    (
        "get",
        "/assets/{file}",
        "The pages' stylesheet and scripts.",
    ),
];

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

// ---------------------------------------------------------------- sign-in

#[derive(askama::Template)]
#[template(path = "dashboard/sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    email: String,
    message: Option<String>,
}

/// The form with a fresh double-submit token (cookie and hidden field).
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    message: Option<String>,
) -> Response {
    let token = new_secret();
    let mut resp = html(
        status,
        &SignInPage {
            csrf: token.clone(),
            next,
            email,
            message,
        },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SIGNIN_COOKIE, &token, 3600),
    );
    resp
}

#[tracing::instrument(skip_all)]
async fn sign_in_form(State(state): State<AppState>, QueryInput(q): QueryInput) -> Response {
    let next = safe_next(Some(fstr(&q, "next")));
    sign_in_page(&state, StatusCode::OK, next, String::new(), None)
}

#[tracing::instrument(skip_all)]
async fn sign_in(State(state): State<AppState>, headers: HeaderMap, Body(form): Body) -> Response {
    let next = safe_next(Some(fstr(&form, "next")));
    let email = fstr(&form, "email").trim().to_lowercase();
    let password = fstr(&form, "password").to_string();
    let fresh =
        cookie(&headers, SIGNIN_COOKIE).is_some_and(|c| same_secret(c, fstr(&form, "csrf")));
    if !fresh {
        return sign_in_page(
            &state,
            StatusCode::FORBIDDEN,
            next,
            email,
            Some("The sign-in form expired (or cookies are blocked). Please try again.".into()),
        );
    }
    let admin = match state.db.admin_by_email(&email).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let ok = !password.is_empty()
        && verify_password(password, admin.as_ref().map(|a| a.password_hash.clone())).await;
    let Some(admin) = admin.filter(|_| ok) else {
        tracing::info!("dashboard sign-in refused");
        return sign_in_page(
            &state,
            StatusCode::UNAUTHORIZED,
            next,
            email,
            Some("That email and password do not match an admin.".into()),
        );
    };
    let session = match start_session(&state, &admin).await {
        Ok(c) => c,
        Err(e) => return failed(ApiError::Internal(e)),
    };
    tracing::info!(admin = %admin.id, "dashboard sign-in");
    let mut resp = see_other(&next);
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, session);
    h.append(header::SET_COOKIE, set_cookie(&state, SIGNIN_COOKIE, "", 0));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
async fn sign_out(
    State(state): State<AppState>,
    s: Signed,
    headers: HeaderMap,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, "/dashboard");
    }
    let cleared = match end_session(&state, &headers).await {
        Ok(c) => c,
        Err(e) => return failed(ApiError::Internal(e)),
    };
    let mut resp = see_other("/dashboard/sign-in");
    resp.headers_mut().append(header::SET_COOKIE, cleared);
    resp
}

// ---------------------------------------------------------------- templates

struct TemplateRow {
    sub: String,
    name: String,
    url: String,
    people: String,
    duration: String,
    problems: usize,
}

#[derive(askama::Template)]
#[template(path = "dashboard/templates.html")]
struct TemplatesPage {
    chrome: Chrome,
    rows: Vec<TemplateRow>,
    message: Option<String>,
}

fn body_of(t: &Template) -> Value {
    serde_json::from_str(&t.body_json).unwrap_or_else(|_| json!({}))
}

fn minutes(v: &Value) -> Option<i64> {
    v.get("minutes").and_then(Value::as_i64)
}

fn people_summary(v: &Value, names: &HashMap<String, String>) -> String {
    let name = |s: &str| names.get(s).cloned().unwrap_or_else(|| s.to_string());
    let mut parts = Vec::new();
    if let Some(h) = v.get("host").and_then(|h| h["sub"].as_str()) {
        parts.push(format!("Host {}", name(h)));
    } else if let Some(g) = v.get("host_group") {
        parts.push(format!("Host group: {}", group_rule(g)));
    }
    for g in v["collaborator_groups"].as_array().into_iter().flatten() {
        let label = g["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("Group");
        parts.push(format!("{label}: {}", group_rule(g)));
    }
    if parts.is_empty() {
        "No host".into()
    } else {
        parts.join(" · ")
    }
}

fn group_rule(g: &Value) -> String {
    let n = g["members"].as_array().map_or(0, Vec::len);
    match g["required"].as_u64() {
        Some(k) => format!("{k} of {n}"),
        None => format!("all {n}"),
    }
}

async fn account_names(state: &AppState, ou: &str) -> Result<Vec<Account>, ApiError> {
    Ok(state.db.unit_accounts(ou, 500).await?)
}

fn account_label(a: &Account) -> String {
    if a.email.is_empty() || a.email == a.name {
        a.name.clone()
    } else {
        format!("{} ({})", a.name, a.email)
    }
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
async fn templates(
    State(state): State<AppState>,
    s: Signed,
    QueryInput(q): QueryInput,
) -> Response {
    let ou = s.admin.organizational_unit_id.clone();
    let list = match state.db.templates(&ou).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let accounts = match account_names(&state, &ou).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let names: HashMap<String, String> = accounts
        .iter()
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    let mut rows = Vec::new();
    for t in list.iter().take(500) {
        let body = body_of(t);
        let problems = match template_problems(&state, &ou, &t.id, &body).await {
            Ok(p) => p.len(),
            Err(e) => return failed(e),
        };
        rows.push(TemplateRow {
            sub: t.id.clone(),
            name: t.name.clone(),
            url: format!("/dashboard/templates/{}", t.id),
            people: people_summary(&body, &names),
            duration: format!("{} min", minutes(&body["duration"]).unwrap_or(30)),
            problems,
        });
    }
    let message = (fstr(&q, "deleted") == "1").then(|| "Template deleted.".to_string());
    html(
        StatusCode::OK,
        &TemplatesPage {
            chrome: chrome(&s, "templates"),
            rows,
            message,
        },
    )
}

/// What the editor's inputs hold, as typed (so a rejected form comes back
/// exactly as it was sent).
#[derive(Clone, Debug, Default)]
struct EditorForm {
    name: String,
    host_kind: String,
    host: String,
    host_group: GroupForm,
    groups: Vec<GroupForm>,
    summary: String,
    description: String,
    location: String,
    duration: String,
    before: String,
    after: String,
    start_interval: String,
    minimum_notice: String,
    tzid: String,
    window_kind: String,
    days: String,
    periods: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
struct GroupForm {
    name: String,
    required: String,
    members: Vec<String>,
    remove: bool,
}

impl GroupForm {
    fn from_json(g: &Value) -> Self {
        GroupForm {
            name: fstr(g, "name").to_string(),
            required: match &g["required"] {
                Value::Number(n) => n.to_string(),
                _ => "all".into(),
            },
            members: g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["sub"].as_str().map(str::to_string))
                .collect(),
            remove: false,
        }
    }

    fn from_form(g: &Value) -> Self {
        let members = match g.get("members") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        };
        GroupForm {
            name: fstr(g, "name").trim().to_string(),
            required: match fstr(g, "required").trim() {
                "" => "all".into(),
                r => r.to_string(),
            },
            members,
            remove: fstr(g, "remove") == "true",
        }
    }

    fn is_blank(&self) -> bool {
        self.name.is_empty() && self.members.is_empty()
    }

    fn body(&self) -> Value {
        let mut g = json!({
            "members": self.members.iter().map(|s| json!({"sub": s})).collect::<Vec<_>>(),
            "required": self.required,
        });
        if !self.name.is_empty() {
            g["name"] = json!(self.name);
        }
        g
    }
}

fn mins_text(v: &Value) -> String {
    minutes(v).map(|m| m.to_string()).unwrap_or_default()
}

/// A stored UTC Time as the `datetime-local` value in the template's zone.
fn local_input(t: &str, zone: &TimeZone) -> String {
    match parse_time(t) {
        Some(ts) => ts
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string(),
        None => t.to_string(),
    }
}

/// A `datetime-local` value (in the template's zone) as a UTC Time; text
/// that is neither passes through for `normalize` to reject by name.
fn utc_time(local: &str, zone: &TimeZone) -> String {
    let local = local.trim();
    if let Some(t) = parse_time(local).filter(|_| local.ends_with('Z') || local.contains('+')) {
        return fmt_time(t);
    }
    match local
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(zone.clone()).ok())
    {
        Some(z) => fmt_time(z.timestamp()),
        None => local.to_string(),
    }
}

impl EditorForm {
    fn blank() -> Self {
        EditorForm {
            host_kind: "host".into(),
            host_group: GroupForm {
                required: "1".into(),
                ..GroupForm::default()
            },
            duration: "30".into(),
            tzid: "Etc/UTC".into(),
            window_kind: "days".into(),
            days: crate::domain::templates::DEFAULT_WINDOW_DAYS.to_string(),
            ..EditorForm::default()
        }
    }

    fn from_json(v: &Value) -> Self {
        let tzid = v["tzid"].as_str().unwrap_or("Etc/UTC").to_string();
        let zone = tz(&tzid).unwrap_or(TimeZone::UTC);
        let (host_kind, host, host_group) = if let Some(h) = v["host"]["sub"].as_str() {
            ("host", h.to_string(), GroupForm::default())
        } else if v.get("host_group").is_some_and(Value::is_object) {
            (
                "host_group",
                String::new(),
                GroupForm::from_json(&v["host_group"]),
            )
        } else {
            ("none", String::new(), GroupForm::default())
        };
        let mode = &v["availability_mode"];
        let (window_kind, days, periods) = match mode.get("query_periods").and_then(Value::as_array)
        {
            Some(ps) => (
                "periods",
                crate::domain::templates::DEFAULT_WINDOW_DAYS.to_string(),
                ps.iter()
                    .map(|p| {
                        (
                            local_input(fstr(p, "start"), &zone),
                            local_input(fstr(p, "end"), &zone),
                        )
                    })
                    .collect(),
            ),
            None => (
                "days",
                mode["days"]
                    .as_i64()
                    .unwrap_or(crate::domain::templates::DEFAULT_WINDOW_DAYS)
                    .to_string(),
                Vec::new(),
            ),
        };
        EditorForm {
            name: fstr(v, "name").to_string(),
            host_kind: host_kind.into(),
            host,
            host_group,
            groups: v["collaborator_groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(GroupForm::from_json)
                .collect(),
            summary: fstr(&v["event"], "summary").to_string(),
            description: fstr(&v["event"], "description").to_string(),
            location: fstr(&v["event"]["location"], "description").to_string(),
            duration: mins_text(&v["duration"]),
            before: mins_text(&v["buffer"]["before"]),
            after: mins_text(&v["buffer"]["after"]),
            start_interval: mins_text(&v["start_interval"]),
            minimum_notice: mins_text(&v["minimum_notice"]),
            tzid,
            window_kind: window_kind.into(),
            days,
            periods,
        }
    }

    fn from_form(f: &Value) -> Self {
        let text = |k: &str| fstr(f, k).trim().to_string();
        // `a[0][b]` arrives as `{"0": {…}}`; keep the submitted order.
        let indexed = |k: &str| -> Vec<Value> {
            match f.get(k) {
                Some(Value::Object(m)) => {
                    let mut kv: Vec<(usize, &Value)> = m
                        .iter()
                        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
                        .collect();
                    kv.sort_by_key(|(i, _)| *i);
                    kv.into_iter().map(|(_, v)| v.clone()).collect()
                }
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            }
        };
        let host_kind = match fstr(f, "host_kind") {
            k @ ("host" | "host_group" | "none") => k.to_string(),
            _ => "host".into(),
        };
        let window_kind = match fstr(f, "window_kind") {
            "periods" => "periods",
            _ => "days",
        };
        EditorForm {
            name: text("name"),
            host_kind,
            host: text("host"),
            host_group: GroupForm::from_form(f.get("host_group").unwrap_or(&Value::Null)),
            groups: indexed("groups").iter().map(GroupForm::from_form).collect(),
            summary: text("summary"),
            description: fstr(f, "description").to_string(),
            location: text("location"),
            duration: text("duration"),
            before: text("before"),
            after: text("after"),
            start_interval: text("start_interval"),
            minimum_notice: text("minimum_notice"),
            tzid: text("tzid"),
            window_kind: window_kind.into(),
            days: text("days"),
            periods: indexed("periods")
                .iter()
                .map(|p| {
                    (
                        fstr(p, "start").trim().to_string(),
                        fstr(p, "end").trim().to_string(),
                    )
                })
                .collect(),
        }
    }

    /// The template body the API would take, with where each collaborator
    /// group and period came from in the form (blank and removed rows are
    /// left out, so the indexes differ).
    fn body(&self) -> (Value, Vec<usize>, Vec<usize>) {
        let mut b = Map::new();
        b.insert("name".into(), json!(self.name));
        match self.host_kind.as_str() {
            "host" if !self.host.is_empty() => {
                b.insert("host".into(), json!({"sub": self.host}));
            }
            "host_group" => {
                b.insert("host_group".into(), self.host_group.body());
            }
            _ => {}
        }
        let mut group_map = Vec::new();
        let mut groups = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            if g.remove || g.is_blank() {
                continue;
            }
            group_map.push(i);
            groups.push(g.body());
        }
        b.insert("collaborator_groups".into(), Value::Array(groups));
        let mut event = Map::new();
        if !self.summary.is_empty() {
            event.insert("summary".into(), json!(self.summary));
        }
        if !self.description.trim().is_empty() {
            event.insert("description".into(), json!(self.description));
        }
        if !self.location.is_empty() {
            event.insert("location".into(), json!({"description": self.location}));
        }
        b.insert("event".into(), Value::Object(event));
        let num = |s: &str| -> Option<Value> { (!s.is_empty()).then(|| json!(s)) };
        if let Some(d) = num(&self.duration) {
            b.insert("duration".into(), d);
        }
        let mut buffer = Map::new();
        for (k, v) in [("before", &self.before), ("after", &self.after)] {
            if let Some(d) = num(v) {
                buffer.insert(k.into(), d);
            }
        }
        if !buffer.is_empty() {
            b.insert("buffer".into(), Value::Object(buffer));
        }
        for (k, v) in [
            ("start_interval", &self.start_interval),
            ("minimum_notice", &self.minimum_notice),
        ] {
            if let Some(d) = num(v) {
                b.insert(k.into(), d);
            }
        }
        if !self.tzid.is_empty() {
            b.insert("tzid".into(), json!(self.tzid));
        }
        let zone = tz(&self.tzid).unwrap_or(TimeZone::UTC);
        let mut period_map = Vec::new();
        if self.window_kind == "periods" {
            let mut ps = Vec::new();
            for (i, (s, e)) in self.periods.iter().enumerate() {
                if s.is_empty() && e.is_empty() {
                    continue;
                }
                period_map.push(i);
                let mut p = Map::new();
                if !s.is_empty() {
                    p.insert("start".into(), json!(utc_time(s, &zone)));
                }
                if !e.is_empty() {
                    p.insert("end".into(), json!(utc_time(e, &zone)));
                }
                ps.push(Value::Object(p));
            }
            b.insert("availability_mode".into(), json!({ "query_periods": ps }));
        } else if let Some(d) = num(&self.days) {
            b.insert("availability_mode".into(), json!({ "days": d }));
        }
        (Value::Object(b), group_map, period_map)
    }
}

/// Where an API field path shows up in the editor.
fn form_key(path: &str, group_map: &[usize], period_map: &[usize]) -> String {
    let indexed = |rest: &str, map: &[usize], prefix: &str| -> Option<String> {
        let inner = rest.strip_prefix('[')?;
        let (n, _) = inner.split_once(']')?;
        let i: usize = n.parse().ok()?;
        Some(format!("{prefix}[{}]", map.get(i).copied().unwrap_or(i)))
    };
    let first = path.split(['.', '[']).next().unwrap_or(path);
    match first {
        "collaborator_groups" => indexed(&path["collaborator_groups".len()..], group_map, "groups")
            .unwrap_or_else(|| "groups".into()),
        "host_group" => "host_group".into(),
        "host" => "host".into(),
        "event" => match path {
            "event.duration" => "duration".into(),
            p if p.starts_with("event.location") => "location".into(),
            p => p.trim_start_matches("event.").to_string(),
        },
        "buffer" => path.trim_start_matches("buffer.").to_string(),
        "availability_mode" => match path.strip_prefix("availability_mode.query_periods") {
            Some(rest) => indexed(rest, period_map, "periods").unwrap_or_else(|| "periods".into()),
            None => "days".into(),
        },
        other => other.to_string(),
    }
}

pub(super) struct Opt {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

struct MemberBox {
    sub: String,
    label: String,
    /// The email, shown under the name.
    detail: String,
    checked: bool,
    known: bool,
}

struct GroupView {
    id: String,
    prefix: String,
    legend: String,
    name: String,
    required_options: Vec<Opt>,
    members: Vec<MemberBox>,
    removable: bool,
    error: String,
}

struct PeriodView {
    index: usize,
    start: String,
    end: String,
    error: String,
}

struct ErrView {
    key: String,
    field: String,
    description: String,
}

struct ProblemView {
    key: String,
    description: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/editor.html")]
struct EditorPage {
    chrome: Chrome,
    title: String,
    is_new: bool,
    sub: String,
    action: String,
    saved: bool,
    f: EditorForm,
    host_options: Vec<Opt>,
    host_group: GroupView,
    groups: Vec<GroupView>,
    tz_options: Vec<Opt>,
    periods: Vec<PeriodView>,
    errors: Vec<ErrView>,
    problems: Option<Vec<ProblemView>>,
}

impl EditorPage {
    fn has_err(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }

    fn err(&self, key: &str) -> String {
        self.errors
            .iter()
            .filter(|e| e.key == key)
            .map(|e| e.description.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn group_view(
    g: &GroupForm,
    id: &str,
    prefix: &str,
    legend: &str,
    accounts: &[Account],
    removable: bool,
    error: String,
) -> GroupView {
    let mut members: Vec<MemberBox> = accounts
        .iter()
        .map(|a| MemberBox {
            sub: a.id.clone(),
            label: a.name.clone(),
            detail: if a.email == a.name {
                String::new()
            } else {
                a.email.clone()
            },
            checked: g.members.contains(&a.id),
            known: true,
        })
        .collect();
    // Members that are not accounts of this unit stay visible (and
    // checked) so the admin sees what the "not recognized" problem is about.
    for m in &g.members {
        if !accounts.iter().any(|a| &a.id == m) {
            members.push(MemberBox {
                sub: m.clone(),
                label: m.clone(),
                detail: String::new(),
                checked: true,
                known: false,
            });
        }
    }
    let current: Option<usize> = g.required.parse().ok();
    let top = accounts
        .len()
        .max(current.unwrap_or(0))
        .max(g.members.len())
        .max(1);
    let mut required_options = vec![Opt {
        value: "all".into(),
        label: "All members".into(),
        selected: current.is_none(),
    }];
    required_options.extend((1..=top).map(|n| Opt {
        value: n.to_string(),
        label: format!("Any {n}"),
        selected: current == Some(n),
    }));
    GroupView {
        id: id.into(),
        prefix: prefix.into(),
        legend: legend.into(),
        name: g.name.clone(),
        required_options,
        members,
        removable,
        error,
    }
}

struct EditorInput<'a> {
    sub: Option<&'a str>,
    form: EditorForm,
    errors: Vec<FieldError>,
    group_map: Vec<usize>,
    period_map: Vec<usize>,
    saved: bool,
    problems: Option<Vec<FieldError>>,
}

async fn editor(
    state: &AppState,
    s: &Signed,
    status: StatusCode,
    input: EditorInput<'_>,
) -> Response {
    let accounts = match account_names(state, &s.admin.organizational_unit_id).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let f = input.form;
    let errors: Vec<ErrView> = input
        .errors
        .iter()
        .map(|e| ErrView {
            key: form_key(&e.field, &input.group_map, &input.period_map),
            field: e.field.clone(),
            description: e.description.clone(),
        })
        .collect();
    let errs_for = |k: &str| -> String {
        errors
            .iter()
            .filter(|e| e.key == k || e.key.starts_with(&format!("{k}[")))
            .map(|e| e.description.clone())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut host_options: Vec<Opt> = accounts
        .iter()
        .map(|a| Opt {
            value: a.id.clone(),
            label: account_label(a),
            selected: a.id == f.host,
        })
        .collect();
    if !f.host.is_empty() && !accounts.iter().any(|a| a.id == f.host) {
        host_options.push(Opt {
            value: f.host.clone(),
            label: format!("{} (not recognized)", f.host),
            selected: true,
        });
    }
    let host_group = group_view(
        &f.host_group,
        "hg",
        "host_group",
        "Host group",
        &accounts,
        false,
        errs_for("host_group"),
    );
    let mut groups: Vec<GroupView> = f
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.is_blank() || g.remove)
        .map(|(i, g)| {
            let label = if g.name.is_empty() {
                format!("Collaborator group {}", i + 1)
            } else {
                format!("Collaborator group: {}", g.name)
            };
            group_view(
                g,
                &format!("g{i}"),
                &format!("groups[{i}]"),
                &label,
                &accounts,
                true,
                errs_for(&format!("groups[{i}]")),
            )
        })
        .collect();
    // One spare group, so a group can be added without JavaScript.
    let spare = f.groups.len();
    groups.push(group_view(
        &GroupForm {
            required: "1".into(),
            ..GroupForm::default()
        },
        &format!("g{spare}"),
        &format!("groups[{spare}]"),
        "Add a collaborator group",
        &accounts,
        false,
        String::new(),
    ));
    let mut tz_options: Vec<Opt> = ZONES
        .iter()
        .map(|z| Opt {
            value: z.to_string(),
            label: z.replace('_', " "),
            selected: *z == f.tzid,
        })
        .collect();
    if !f.tzid.is_empty() && !ZONES.contains(&f.tzid.as_str()) {
        tz_options.insert(
            0,
            Opt {
                value: f.tzid.clone(),
                label: f.tzid.clone(),
                selected: true,
            },
        );
    }
    let mut periods: Vec<PeriodView> = f
        .periods
        .iter()
        .enumerate()
        .map(|(i, (s, e))| PeriodView {
            index: i,
            start: s.clone(),
            end: e.clone(),
            error: errs_for(&format!("periods[{i}]")),
        })
        .collect();
    periods.push(PeriodView {
        index: periods.len(),
        start: String::new(),
        end: String::new(),
        error: String::new(),
    });
    let (title, action) = match input.sub {
        Some(sub) => (
            if f.name.is_empty() {
                "Template".to_string()
            } else {
                f.name.clone()
            },
            format!("/dashboard/templates/{sub}"),
        ),
        None => (
            "New template".to_string(),
            "/dashboard/templates".to_string(),
        ),
    };
    let problems = input.problems.map(|ps| {
        ps.into_iter()
            .map(|p| ProblemView {
                key: p.key,
                description: p.description,
            })
            .collect()
    });
    html(
        status,
        &EditorPage {
            chrome: chrome(s, "templates"),
            title,
            is_new: input.sub.is_none(),
            sub: input.sub.unwrap_or_default().to_string(),
            action,
            saved: input.saved,
            f,
            host_options,
            host_group,
            groups,
            tz_options,
            periods,
            errors,
            problems,
        },
    )
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
async fn new_template(State(state): State<AppState>, s: Signed) -> Response {
    let input = EditorInput {
        sub: None,
        form: EditorForm::blank(),
        errors: Vec::new(),
        group_map: Vec::new(),
        period_map: Vec::new(),
        saved: false,
        problems: None,
    };
    editor(&state, &s, StatusCode::OK, input).await
}

async fn owned_template(
    state: &AppState,
    s: &Signed,
    sub: &str,
) -> Result<Option<Template>, ApiError> {
    Ok(state
        .db
        .template(&s.admin.organizational_unit_id, sub)
        .await?
        .filter(|t| !t.deleted))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
async fn edit_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    QueryInput(q): QueryInput,
) -> Response {
    let t = match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(&s, "template", "/dashboard/templates"),
        Err(e) => return failed(e),
    };
    let body = body_of(&t);
    let problems =
        match template_problems(&state, &s.admin.organizational_unit_id, &t.id, &body).await {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
    let input = EditorInput {
        sub: Some(&sub),
        form: EditorForm::from_json(&body),
        errors: Vec::new(),
        group_map: Vec::new(),
        period_map: Vec::new(),
        saved: fstr(&q, "saved") == "1",
        problems: Some(problems),
    };
    editor(&state, &s, StatusCode::OK, input).await
}

/// Validates the form as the API validates a template body; a rejected
/// form is shown again with its problems (422), an accepted one is stored.
async fn store_template(
    state: &AppState,
    s: &Signed,
    existing: Option<Template>,
    form: &Value,
) -> Response {
    let f = EditorForm::from_form(form);
    let (body, group_map, period_map) = f.body();
    let sub = existing.as_ref().map(|t| t.id.clone());
    let norm = match normalize(&body) {
        Ok(n) => n,
        Err(ApiError::Invalid(errors)) => {
            let input = EditorInput {
                sub: sub.as_deref(),
                form: f,
                errors,
                group_map,
                period_map,
                saved: false,
                problems: None,
            };
            return editor(state, s, StatusCode::UNPROCESSABLE_ENTITY, input).await;
        }
        Err(e) => return failed(e),
    };
    let now = state.now_ms();
    let t = match existing {
        Some(mut t) => {
            t.name = norm["name"].as_str().unwrap_or_default().to_string();
            t.body_json = norm.to_string();
            t.updated_ms = now;
            t
        }
        None => Template {
            id: new_id("sgr"),
            organizational_unit_id: s.admin.organizational_unit_id.clone(),
            name: norm["name"].as_str().unwrap_or_default().to_string(),
            body_json: norm.to_string(),
            deleted: false,
            created_ms: now,
            updated_ms: now,
        },
    };
    if let Err(e) = state.db.upsert_template(&t).await {
        return failed(e);
    }
    tracing::info!(template = %t.id, "template saved from the dashboard");
    see_other(&format!("/dashboard/templates/{}?saved=1", t.id))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
async fn create_template(State(state): State<AppState>, s: Signed, Body(form): Body) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, "/dashboard/templates/new");
    }
    store_template(&state, &s, None, &form).await
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
async fn save_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &format!("/dashboard/templates/{sub}"));
    }
    match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => store_template(&state, &s, Some(t), &form).await,
        Ok(None) => not_found(&s, "template", "/dashboard/templates"),
        Err(e) => failed(e),
    }
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
async fn delete_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &format!("/dashboard/templates/{sub}"));
    }
    let mut t = match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(&s, "template", "/dashboard/templates"),
        Err(e) => return failed(e),
    };
    t.deleted = true;
    t.updated_ms = state.now_ms();
    if let Err(e) = state.db.upsert_template(&t).await {
        return failed(e);
    }
    see_other("/dashboard/templates?deleted=1")
}

// ---------------------------------------------------------------- requests

const STATES: &[(&str, &str)] = &[
    ("pending", "Waiting for the recipient"),
    ("pending_rescheduling", "Rescheduling"),
    ("complete", "Complete"),
    ("cancelled", "Cancelled"),
    ("expired", "Expired"),
];

fn state_label(s: &str) -> String {
    STATES
        .iter()
        .find(|(k, _)| *k == s)
        .map_or_else(|| s.to_string(), |(_, l)| l.to_string())
}

fn when(ms: i64, zone: &TimeZone, fmt: &str) -> String {
    from_ms(ms).to_zoned(zone.clone()).strftime(fmt).to_string()
}

fn utc_label(ms: i64) -> String {
    when(ms, &TimeZone::UTC, "%Y-%m-%d %H:%M UTC")
}

/// `Tuesday 7 January 2030, 09:00–09:30 (Europe/London)`.
fn booked_label(start_ms: i64, end_ms: i64, tzid: &str) -> String {
    let zone = tz(tzid).unwrap_or(TimeZone::UTC);
    format!(
        "{}–{} ({tzid})",
        when(start_ms, &zone, "%A %-d %B %Y, %H:%M"),
        when(end_ms, &zone, "%H:%M")
    )
}

struct RequestRow {
    id: String,
    url: String,
    created: String,
    summary: String,
    recipient: String,
    state: String,
    state_label: String,
    booked: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/requests.html")]
struct RequestsPage {
    chrome: Chrome,
    filters: Vec<Opt>,
    filter_label: String,
    rows: Vec<RequestRow>,
    truncated: bool,
}

const LIST_LIMIT: i64 = 200;

fn recipient_of(spec: &crate::domain::requests::RequestSpec) -> String {
    spec.recipients
        .iter()
        .map(|r| match &r.display_name {
            Some(n) if !n.is_empty() => format!("{n} <{}>", r.email),
            _ => r.email.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
async fn requests(State(state): State<AppState>, s: Signed, QueryInput(q): QueryInput) -> Response {
    // Unknown states are treated as no filter rather than an error page.
    let filter = STATES
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == fstr(&q, "state"));
    let list = match state
        .db
        .requests(&s.admin.organizational_unit_id, filter, LIST_LIMIT)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let rows = list
        .iter()
        .map(|r| {
            let (summary, recipient, booked) = match spec_of(r) {
                Ok(spec) => (
                    spec.summary.clone(),
                    recipient_of(&spec),
                    booking_of(r)
                        .filter(|_| matches!(r.state.as_str(), "complete" | "pending_rescheduling"))
                        .map(|b| booked_label(b.start_ms, b.end_ms, &spec.tzid))
                        .unwrap_or_default(),
                ),
                Err(_) => (r.id.clone(), String::new(), String::new()),
            };
            RequestRow {
                id: r.id.clone(),
                url: format!("/dashboard/requests/{}", r.id),
                created: utc_label(r.created_ms),
                summary: if summary.is_empty() {
                    r.id.clone()
                } else {
                    summary
                },
                recipient,
                state: r.state.as_str().to_string(),
                state_label: state_label(r.state.as_str()),
                booked,
            }
        })
        .collect::<Vec<_>>();
    let mut filters = vec![Opt {
        value: "/dashboard/requests".into(),
        label: "All".into(),
        selected: filter.is_none(),
    }];
    filters.extend(STATES.iter().map(|(k, l)| Opt {
        value: format!("/dashboard/requests?state={k}"),
        label: l.to_string(),
        selected: filter == Some(*k),
    }));
    html(
        StatusCode::OK,
        &RequestsPage {
            chrome: chrome(&s, "requests"),
            filters,
            filter_label: filter.map(state_label).unwrap_or_default(),
            truncated: rows.len() as i64 >= LIST_LIMIT,
            rows,
        },
    )
}

struct HistoryView {
    at: String,
    state: String,
    note: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/request.html")]
struct RequestPage {
    chrome: Chrome,
    id: String,
    summary: String,
    state: String,
    state_label: String,
    message: Option<String>,
    recipient: String,
    duration: String,
    location: Option<String>,
    hosts: String,
    groups: Vec<(String, String)>,
    template: Option<(String, String)>,
    created: String,
    select_url: String,
    booked: Option<String>,
    booked_members: String,
    history: Vec<HistoryView>,
    cancellable: bool,
}

async fn owned_request(
    state: &AppState,
    s: &Signed,
    id: &str,
) -> Result<Option<Request>, ApiError> {
    match state.db.request(id).await? {
        Some(r) if r.organizational_unit_id == s.admin.organizational_unit_id => {
            Ok(Some(refresh(state, r).await?))
        }
        _ => Ok(None),
    }
}

async fn show_request(
    state: &AppState,
    s: &Signed,
    r: &Request,
    message: Option<String>,
) -> Result<Response, ApiError> {
    let spec = spec_of(r)?;
    let zone = tz(&spec.tzid).unwrap_or(TimeZone::UTC);
    let booking =
        booking_of(r).filter(|_| matches!(r.state.as_str(), "complete" | "pending_rescheduling"));
    let mut everyone = spec.members();
    if let Some(b) = &booking {
        everyone.extend(b.members.iter().cloned());
    }
    let names: HashMap<String, String> = state
        .db
        .accounts(&everyone)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let name = |m: &String| names.get(m).cloned().unwrap_or_else(|| m.clone());
    let list = |ms: &[String]| ms.iter().map(name).collect::<Vec<_>>().join(", ");
    let rule = |g: &crate::domain::requests::GroupDef| match g.required {
        Some(n) => format!("any {n} of {}", list(&g.members)),
        None => list(&g.members),
    };
    let hosts = if spec.host_kind == "host" {
        list(&spec.host.members)
    } else {
        format!("Host group: {}", rule(&spec.host))
    };
    let groups = spec
        .collaborator_groups
        .iter()
        .map(|g| {
            (
                g.name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "Collaborators".into()),
                rule(g),
            )
        })
        .collect();
    let template = match &r.template_id {
        Some(t) => {
            let name = state
                .db
                .template(&r.organizational_unit_id, t)
                .await?
                .filter(|t| !t.deleted)
                .map_or_else(|| format!("{t} (deleted)"), |t| t.name);
            Some((name, format!("/dashboard/templates/{t}")))
        }
        None => None,
    };
    let history = history_of(r)
        .into_iter()
        .map(|h| HistoryView {
            at: format!(
                "{} · {}",
                when(h.at_ms, &zone, "%a %-d %b %Y %H:%M"),
                spec.tzid
            ),
            state: state_label(&h.state),
            note: h.note,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &RequestPage {
            chrome: chrome(s, "requests"),
            id: r.id.clone(),
            summary: spec.summary.clone(),
            state: r.state.as_str().to_string(),
            state_label: state_label(r.state.as_str()),
            message,
            recipient: recipient_of(&spec),
            duration: format!("{} minutes", spec.duration_min),
            location: spec.location.clone(),
            hosts,
            groups,
            template,
            created: utc_label(r.created_ms),
            select_url: select_url(state, r),
            booked: booking
                .as_ref()
                .map(|b| booked_label(b.start_ms, b.end_ms, &spec.tzid)),
            booked_members: booking
                .as_ref()
                .map(|b| list(&b.members))
                .unwrap_or_default(),
            history,
            cancellable: matches!(
                r.state.as_str(),
                "pending" | "pending_rescheduling" | "complete"
            ),
        },
    ))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, request = %id))]
async fn request_page(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    QueryInput(q): QueryInput,
) -> Response {
    let r = match owned_request(&state, &s, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&s, "scheduling request", "/dashboard/requests"),
        Err(e) => return failed(e),
    };
    let message = (fstr(&q, "cancelled") == "1").then(|| "Request cancelled.".to_string());
    show_request(&state, &s, &r, message)
        .await
        .unwrap_or_else(failed)
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, request = %id))]
async fn cancel(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Body(form): Body,
) -> Response {
    let back = format!("/dashboard/requests/{id}");
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &back);
    }
    let r = match owned_request(&state, &s, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&s, "scheduling request", "/dashboard/requests"),
        Err(e) => return failed(e),
    };
    if !matches!(
        r.state.as_str(),
        "pending" | "pending_rescheduling" | "complete"
    ) {
        // Already over: show it as it is rather than an error.
        return see_other(&back);
    }
    let note = format!("cancelled in the dashboard by {}", s.admin.email);
    match cancel_request(&state, &r, &note, "scheduling_request_cancelled").await {
        Ok(_) => see_other(&format!("{back}?cancelled=1")),
        // The recipient acted meanwhile: the page shows what happened.
        Err(ApiError::Invalid(_)) => see_other(&back),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_map_to_editor_fields() {
        assert_eq!(
            form_key("collaborator_groups[1].required", &[0, 3], &[]),
            "groups[3]"
        );
        assert_eq!(
            form_key("availability_mode.query_periods[0].end", &[], &[2]),
            "periods[2]"
        );
        assert_eq!(form_key("availability_mode.days", &[], &[]), "days");
        assert_eq!(form_key("event.duration", &[], &[]), "duration");
        assert_eq!(form_key("buffer.before", &[], &[]), "before");
        assert_eq!(form_key("host.sub", &[], &[]), "host");
        assert_eq!(form_key("name", &[], &[]), "name");
    }

    #[test]
    fn forms_round_trip_through_the_api_shape() {
        let form = json!({
            "name": "Intro", "host_kind": "host", "host": "acc_1",
            "groups": {"0": {"name": "Pool", "members": ["acc_2", "acc_3"], "required": "1"}, "1": {"name": "", "required": "1"}},
            "summary": "Hi", "duration": "45", "before": "5", "tzid": "Europe/London",
            "window_kind": "periods", "periods": {"0": {"start": "2030-07-01T09:00", "end": "2030-07-01T17:00"}}
        });
        let f = EditorForm::from_form(&form);
        let (body, gm, pm) = f.body();
        assert_eq!(gm, vec![0]);
        assert_eq!(pm, vec![0]);
        let norm = normalize(&body).unwrap();
        assert_eq!(norm["collaborator_groups"][0]["required"], json!(1));
        // 09:00 in London in July is 08:00 UTC.
        assert_eq!(
            norm["availability_mode"]["query_periods"][0]["start"],
            json!("2030-07-01T08:00:00Z")
        );
        let back = EditorForm::from_json(&norm);
        assert_eq!(back.periods[0].0, "2030-07-01T09:00");
        assert_eq!(back.groups[0].members, vec!["acc_2", "acc_3"]);
        assert_eq!(back.duration, "45");
        assert_eq!(back.before, "5");
    }
}
