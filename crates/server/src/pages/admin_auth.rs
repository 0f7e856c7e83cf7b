//! Dashboard sign-in: argon2 passwords, cookie sessions stored as digests,
//! and a CSRF token per session that every form echoes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use convene_store::admins::{Admin, AdminSession};

use crate::ids::{digest, new_secret};
use crate::{AppState, now_ms};

/// The session cookie. Scoped to the dashboard so recipient pages and the
/// API never see it.
pub const SESSION_COOKIE: &str = "convene_admin";
/// The sign-in form's own CSRF cookie: there is no session to hold a token
/// before sign-in, so the form and the cookie carry the same random value
/// (a cross-site page can set neither).
pub const SIGNIN_COOKIE: &str = "convene_signin";
pub const COOKIE_PATH: &str = "/dashboard";
/// A working day; signing in again after that is cheap.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
/// Argon2 is deliberately slow, so it runs off the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
    })
    .await?
}

/// A hash of no password, verified against when the email is unknown so
/// that a wrong email costs as long as a wrong password.
static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Argon2::default()
        .hash_password(new_secret().as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// At most this many argon2 checks run at once: each takes ~19 MiB and tens
/// of milliseconds, so a flood of sign-in attempts queues instead of
/// exhausting memory and the blocking pool.
static VERIFY_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Whether `password` matches the stored PHC string (`None`: no such
/// admin, checked against a decoy all the same).
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let Ok(_slot) = VERIFY_SLOTS.acquire().await else {
        return false;
    };
    let ok = tokio::task::spawn_blocking(move || {
        // The decoy is hashed on first use, here off the async workers too.
        let hash = stored.unwrap_or_else(|| DECOY.clone());
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    ok && known
}

/// Compares secrets without an early exit, so response timing does not
/// reveal how many leading characters of a guess were right.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, Secure when the
/// public URL is https (a plain-http deployment could not send it back).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.cfg.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Starts a session for `admin`: the cookie to set.
pub async fn start_session(state: &AppState, admin: &Admin) -> anyhow::Result<HeaderValue> {
    // 256 random bits; only the digest is stored.
    let token = new_secret();
    let now = now_ms();
    state
        .db
        .insert_admin_session(&AdminSession {
            token_hash: digest(&token),
            admin_id: admin.id.clone(),
            csrf_token: new_secret(),
            expires_ms: now + SESSION_TTL_MS,
            created_ms: now,
        })
        .await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        &token,
        SESSION_TTL_MS / 1000,
    ))
}

/// Ends the session behind the request's cookie, if any.
pub async fn end_session(state: &AppState, headers: &HeaderMap) -> anyhow::Result<HeaderValue> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        state.db.delete_admin_session(&digest(token)).await?;
    }
    Ok(set_cookie(state, SESSION_COOKIE, "", 0))
}

/// A local dashboard path to return to after sign-in; anything else (other
/// hosts, `//evil`, backslashes) falls back to the dashboard's home, so the
/// sign-in page cannot be used as an open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/dashboard")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/dashboard".to_string(),
    }
}

/// A signed-in admin: handlers that take this require a live session.
#[derive(Clone, Debug)]
pub struct Signed {
    pub admin: Admin,
    pub csrf: String,
    pub ou_name: String,
}

impl Signed {
    /// Checks the form's `csrf` field against the session's token.
    pub fn csrf_ok(&self, form: &serde_json::Value) -> bool {
        form.get("csrf")
            .and_then(|v| v.as_str())
            .is_some_and(|t| same_secret(t, &self.csrf))
    }
}

/// Why a request has no session: browsers are sent to sign in.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next = self.0;
        let to = if next == "/dashboard" {
            "/dashboard/sign-in".to_string()
        } else {
            format!("/dashboard/sign-in?next={}", form_encode(&next))
        };
        ([(header::CACHE_CONTROL, "no-store")], Redirect::to(&to)).into_response()
    }
}

/// Percent-encodes a query value.
pub fn form_encode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|q| q[2..].to_string())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // Only GETs come back to where they were; a form POST is not replayed.
        let here = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let back = || SignInFirst(safe_next(Some(&here))).into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(back());
        };
        let found = state
            .db
            .admin_session(&digest(token), now_ms())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading the admin session");
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
            })?;
        let Some((session, admin)) = found else {
            return Err(back());
        };
        let ou_name = state
            .db
            .org_unit(&admin.organizational_unit_id)
            .await
            .ok()
            .flatten()
            .map(|o| o.name)
            .unwrap_or_default();
        Ok(Signed {
            admin,
            csrf: session.csrf_token,
            ou_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(
            safe_next(Some("/dashboard/requests?state=complete")),
            "/dashboard/requests?state=complete"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/dashboard");
        assert_eq!(safe_next(Some("/dashboard//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/dashboard\\x")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; convene_admin=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }

    #[tokio::test]
    async fn passwords_round_trip() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(h.clone())).await);
        assert!(!verify_password("wrong".into(), Some(h)).await);
        assert!(!verify_password("correct horse".into(), None).await);
    }
}
