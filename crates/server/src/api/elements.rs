//! UI Elements element tokens (`POST /v1/element_tokens`): short-lived
//! tokens the application hands to a browser page, which Cronofy's
//! Elements send as `?et=`. What they allow is checked in `auth`
//! (`ElementGrant`); only their digests are stored.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use convene_store::Tx;
use convene_store::rts::ElementToken;
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::Problems;

use crate::AppState;
use crate::auth::{ELEMENT_TOKEN_TTL_SECS, client_app, origin_of};
use crate::error::ApiResult;
use crate::http::Body;
use crate::ids::{digest, new_secret};
use crate::input::{Errors, F};

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(create))
}

/// Permissions an element token may carry.
pub const PERMISSIONS: &[&str] = &[
    "agenda",
    "availability",
    "managed_availability",
    "account_management",
];

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct ElementTokenRequest {
    /// `"1"`.
    pub version: Option<String>,
    /// Of `availability`, `managed_availability`, `agenda`, `account_management`.
    pub permissions: Vec<String>,
    /// Accounts of the application's Organizational Unit.
    pub subs: Vec<String>,
    /// The page's origin, e.g. `https://example.com`.
    pub origin: String,
}

#[derive(Serialize, ToSchema)]
pub struct ElementTokenOut {
    pub permissions: Vec<String>,
    pub origin: String,
    pub token: String,
    /// Seconds.
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ElementTokenBody {
    pub element_token: ElementTokenOut,
}

/// Issue an element token for the UI Elements (64 minutes).
#[utoipa::path(post, path = "/v1/element_tokens", tag = "elements",
    security(("client_secret" = []), ()),
    request_body(content((ElementTokenRequest = "application/json"), (ElementTokenRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The token.", body = ElementTokenBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Json<ElementTokenBody>> {
    let app = client_app(&state, &headers, &body).await?;
    let root = F::root(&body);
    let mut errs = Errors::new();
    match root.get("version").str(&mut errs).as_deref() {
        None | Some("1") => {}
        Some(_) => errs.add("version", "invalid", "version must be \"1\""),
    }
    let permissions = root
        .get("permissions")
        .str_array(&mut errs)
        .unwrap_or_default();
    if permissions.is_empty() {
        errs.add("permissions", "required", "permissions are required");
    }
    if permissions
        .iter()
        .any(|p| !PERMISSIONS.contains(&p.as_str()))
    {
        errs.add(
            "permissions",
            "invalid",
            format!("permissions are among {}", PERMISSIONS.join(", ")),
        );
    }
    let mut subs = root.get("subs").str_array(&mut errs).unwrap_or_default();
    subs.sort();
    subs.dedup();
    if subs.is_empty() {
        errs.add("subs", "required", "subs are required");
    }
    let origin_text = root.get("origin").req_str(&mut errs);
    let origin = origin_text.as_deref().and_then(origin_of);
    if origin_text.is_some() && origin.is_none() {
        errs.add(
            "origin",
            "invalid",
            "origin must be an http or https origin",
        );
    }
    errs.finish()?;
    let known = state.db.accounts(&subs).await?;
    let mut errs = Errors::new();
    for (i, s) in subs.iter().enumerate() {
        if !known
            .iter()
            .any(|a| &a.id == s && a.organizational_unit_id == app.organizational_unit_id)
        {
            errs.add(
                &format!("subs[{i}]"),
                "not_recognized",
                format!("{s} is not an account of this Organizational Unit"),
            );
        }
    }
    errs.finish()?;
    let origin = origin.unwrap_or_default();
    let token = new_secret();
    let now = state.now_ms();
    let row = ElementToken {
        token_hash: digest(&token),
        application_id: app.id.clone(),
        permissions_json: serde_json::to_string(&permissions).expect("serializable"),
        subs_json: serde_json::to_string(&subs).expect("serializable"),
        origin: origin.clone(),
        expires_ms: now + ELEMENT_TOKEN_TTL_SECS * 1000,
        created_ms: now,
    };
    state
        .db
        .write(async |tx: &mut Tx| tx.insert_element_token(&row).await)
        .await?;
    Ok(Json(ElementTokenBody {
        element_token: ElementTokenOut {
            permissions,
            origin,
            token,
            expires_in: ELEMENT_TOKEN_TTL_SECS,
        },
    }))
}
