//! Push notification channels (contract §9.1): create, list, close.

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::notify::Channel;
use serde_json::{Map, Value, json};

use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::new_id;
use crate::input::{Errors, F};
use crate::notifications::{channel_json, check_url};
use crate::{AppState, now_ms};

/// Channels one account may hold open.
pub const MAX_CHANNELS: usize = 128;

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let url = root.get("callback_url").req_str(&mut errs);
    if let Some(u) = &url
        && let Err(why) = check_url(u, state.cfg.callback_policy)
    {
        errs.add("callback_url", "invalid", why);
    }
    let f = root.get("filters");
    let mut filters = Map::new();
    if let Some(ids) = f.get("calendar_ids").str_array(&mut errs) {
        let own = state.db.calendars(&auth.account.id).await?;
        for (i, id) in ids.iter().enumerate() {
            if !own.iter().any(|c| &c.id == id) {
                errs.add(
                    &format!("filters.calendar_ids[{i}]"),
                    "not_found",
                    format!("{id} is not a calendar of this account"),
                );
            }
        }
        filters.insert("calendar_ids".into(), json!(ids));
    }
    if let Some(b) = f.get("only_managed").bool(&mut errs) {
        filters.insert("only_managed".into(), json!(b));
    }
    let conversations = root
        .get("scheduling_conversations")
        .get("enabled")
        .bool(&mut errs)
        .unwrap_or(false);
    errs.finish()?;
    let url = url.unwrap_or_default();
    let filters_json = Value::Object(filters).to_string();
    let existing = state.db.channels(&auth.account.id).await?;
    // An identical channel is answered again rather than duplicated.
    if let Some(c) = existing.iter().find(|c| {
        c.callback_url == url
            && c.filters_json == filters_json
            && c.conversations_enabled == conversations
    }) {
        return Ok(super::ok(json!({ "channel": channel_json(c) })));
    }
    if existing.len() >= MAX_CHANNELS {
        return Err(ApiError::field(
            "callback_url",
            "too_many",
            format!("at most {MAX_CHANNELS} open channels per account"),
        ));
    }
    let ch = Channel {
        id: new_id("chn"),
        account_id: auth.account.id.clone(),
        application_id: auth.app.id.clone(),
        callback_url: url,
        filters_json,
        conversations_enabled: conversations,
        closed: false,
        created_ms: now_ms(),
    };
    let verification =
        json!({ "notification": {"type": "verification"}, "channel": channel_json(&ch) });
    state
        .db
        .create_channel(&ch, &new_id("dlv"), &verification.to_string())
        .await?;
    Ok(super::ok(json!({ "channel": channel_json(&ch) })))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let items: Vec<Value> = state
        .db
        .channels(&auth.account.id)
        .await?
        .iter()
        .map(channel_json)
        .collect();
    Ok(super::ok(json!({ "channels": items })))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn close(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if !state.db.close_channel(&auth.account.id, &id).await? {
        return Err(ApiError::not_found(format!("channel {id} not found")));
    }
    Ok(super::accepted())
}

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route("/v1/channels", post(create).get(list))
        .route("/v1/channels/{channel_id}", axum::routing::delete(close))
}
