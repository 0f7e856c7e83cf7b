//! Signing in and out.

#[allow(unused_imports)]
use super::*;

#[derive(askama::Template)]
#[template(path = "dashboard/sign_in.html")]
pub(super) struct SignInPage {
    csrf: String,
    next: String,
    email: String,
    message: Option<String>,
}

/// The form with a fresh double-submit token (cookie and hidden field).
pub(super) fn sign_in_page(
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
pub(super) async fn sign_in_form(
    State(state): State<AppState>,
    QueryInput(q): QueryInput,
) -> Response {
    let next = safe_next(Some(fstr(&q, "next")));
    sign_in_page(&state, StatusCode::OK, next, String::new(), None)
}

#[tracing::instrument(skip_all)]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(form): Body,
) -> Response {
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
pub(super) async fn sign_out(
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
