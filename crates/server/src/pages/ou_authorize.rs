//! `GET`/`POST /oauth/authorize?scope=organizational_unit_scheduler`: an
//! admin of the application's Organizational Unit signs in and allows (or
//! denies) it; the browser goes back to `redirect_uri` with a `code` (or
//! `error=access_denied`) and the `state`. Account scopes are not served
//! here.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use convene_store::Application;
use serde_json::Value;

use super::admin_auth::verify_password;
use crate::AppState;
use crate::domain::ou_grants::{SCOPE, issue_code};
use crate::http::{Body, QueryInput};

#[derive(Template)]
#[template(path = "ou_authorize.html")]
struct Consent {
    app_name: String,
    ou_name: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    valid: bool,
    message: Option<String>,
}

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A request checked: the application and where to send the browser back.
struct Checked {
    app: Application,
    ou_name: String,
    redirect_uri: String,
}

/// The parameters every step re-checks; `Err` is the page explaining why
/// nothing can be authorized (never a redirect to an unchecked address).
async fn check(state: &AppState, p: &Value) -> Result<Checked, Response> {
    let refuse = |msg: &str| {
        page(
            StatusCode::BAD_REQUEST,
            Consent {
                app_name: "an application".into(),
                ou_name: String::new(),
                client_id: String::new(),
                redirect_uri: String::new(),
                scope: String::new(),
                state: String::new(),
                valid: false,
                message: Some(msg.to_string()),
            },
            None,
        )
    };
    if field(p, "response_type") != "code" {
        return Err(refuse("response_type must be code."));
    }
    if !field(p, "scope").split_whitespace().any(|s| s == SCOPE) {
        return Err(refuse(
            "This page grants the organizational_unit_scheduler scope only.",
        ));
    }
    let app = match state.db.application(field(p, "client_id")).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(refuse("The client_id is not recognised.")),
        Err(e) => {
            tracing::error!(error = %e, "reading the application");
            return Err(refuse("Convene cannot read its database right now."));
        }
    };
    let redirect_uri = field(p, "redirect_uri").to_string();
    if crate::auth::origin_of(&redirect_uri).is_none() {
        return Err(refuse("redirect_uri must be an http or https URL."));
    }
    let ou_name = state
        .db
        .org_unit(&app.organizational_unit_id)
        .await
        .ok()
        .flatten()
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(Checked {
        app,
        ou_name,
        redirect_uri,
    })
}

/// Pages carry Convene's CSP; the consent form's redirect may go to the
/// application's origin too (browsers hold redirects to `form-action`).
fn page(status: StatusCode, c: Consent, redirect_origin: Option<&str>) -> Response {
    let mut resp = super::assets::secure(super::render(status, &c));
    if let Some(origin) = redirect_origin {
        let csp = super::assets::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            resp.headers_mut()
                .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

fn consent(c: &Checked, p: &Value, message: Option<String>) -> Consent {
    Consent {
        app_name: c.app.name.clone(),
        ou_name: c.ou_name.clone(),
        client_id: c.app.id.clone(),
        redirect_uri: c.redirect_uri.clone(),
        scope: SCOPE.to_string(),
        state: field(p, "state").to_string(),
        valid: true,
        message,
    }
}

/// `redirect_uri` with `params` added to its query.
fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut u) = reqwest::Url::parse(redirect_uri) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    Redirect::to(u.as_str()).into_response()
}

#[tracing::instrument(skip_all)]
pub async fn show(State(state): State<AppState>, QueryInput(q): QueryInput) -> Response {
    match check(&state, &q).await {
        Ok(c) => {
            let origin = crate::auth::origin_of(&c.redirect_uri);
            page(StatusCode::OK, consent(&c, &q, None), origin.as_deref())
        }
        Err(r) => r,
    }
}

#[tracing::instrument(skip_all)]
pub async fn submit(State(state): State<AppState>, Body(form): Body) -> Response {
    let c = match check(&state, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let st = field(&form, "state");
    if field(&form, "decision") != "allow" {
        return back_to(
            &c.redirect_uri,
            &[("error", "access_denied"), ("state", st)],
        );
    }
    let email = field(&form, "email").trim().to_ascii_lowercase();
    let admin = state.db.admin_by_email(&email).await.ok().flatten();
    let ok = verify_password(
        field(&form, "password").to_string(),
        admin.as_ref().map(|a| a.password_hash.clone()),
    )
    .await
        && admin
            .as_ref()
            .is_some_and(|a| a.organizational_unit_id == c.app.organizational_unit_id);
    let origin = crate::auth::origin_of(&c.redirect_uri);
    if !ok {
        let msg = "Sign in as an admin of this Organizational Unit to allow it.".to_string();
        return page(
            StatusCode::UNAUTHORIZED,
            consent(&c, &form, Some(msg)),
            origin.as_deref(),
        );
    }
    match issue_code(&state, &c.app, &c.redirect_uri).await {
        Ok(code) => back_to(&c.redirect_uri, &[("code", &code), ("state", st)]),
        Err(e) => e.into_response(),
    }
}
