//! Push notification channels (contract §9.1): create, list, close.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::notify::Channel;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::events::{Accepted, Flag};
use super::openapi::Problems;

use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::new_id;
use crate::input::{Errors, F};
use crate::notifications::{ChannelInfo, channel_info, channel_json, check_url};
use crate::{AppState, now_ms};

/// Channels one account may hold open.
pub const MAX_CHANNELS: usize = 128;

/// `POST /v1/channels`.
#[derive(Serialize, ToSchema)]
pub struct ChannelBody {
    pub channel: ChannelInfo,
}

/// `GET /v1/channels`.
#[derive(Serialize, ToSchema)]
pub struct ChannelsBody {
    pub channels: Vec<ChannelInfo>,
}

/// What `POST /v1/channels` reads.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
pub struct CreateChannel {
    /// Where notifications are POSTed.
    #[schema(min_length = 1, example = "https://example.com/hooks/convene")]
    pub callback_url: String,
    pub filters: Option<CreateFilters>,
    pub scheduling_conversations: Option<EnabledIn>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct CreateFilters {
    /// Calendars of the account; only their changes are notified.
    pub calendar_ids: Option<Vec<String>>,
    pub only_managed: Option<Flag>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct EnabledIn {
    pub enabled: Option<Flag>,
}

/// Opens a push notification channel.
///
/// An identical open channel (same URL, filters and options) is answered
/// again instead of being duplicated. The channel's callback first gets a
/// `verification` notification.
#[utoipa::path(post, path = "/v1/channels", tag = "channels",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((CreateChannel = "application/json"), (CreateChannel = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The channel.", body = ChannelBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Json<ChannelBody>> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let url = root.get("callback_url").req_str(&mut errs);
    if let Some(u) = &url
        && let Err(why) = check_url(u, state.cfg.callback_policy)
    {
        errs.add("callback_url", "invalid", why);
    }
    let f = root.get("filters");
    // A non-object would read as "no filters" or "not enabled": a client
    // that meant something else must hear that it was not understood.
    for o in [&f, &root.get("scheduling_conversations")] {
        if o.v.is_some_and(|v| !v.is_object()) {
            errs.add(&o.path, "invalid", format!("{} must be an object", o.path));
        }
    }
    let mut filters = Map::new();
    // `str_array` drops null items; a list with holes is a mistake to report.
    for item in f
        .get("calendar_ids")
        .array(&mut Errors::new())
        .unwrap_or_default()
    {
        if !item.present() {
            errs.add(
                &item.path,
                "required",
                format!("{} must be a calendar id", item.path),
            );
        }
    }
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
        return Ok(Json(ChannelBody {
            channel: channel_info(c),
        }));
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
    Ok(Json(ChannelBody {
        channel: channel_info(&ch),
    }))
}

/// The account's open channels.
#[utoipa::path(get, path = "/v1/channels", tag = "channels",
    security(("account_token" = []), ("client_secret" = [])),
    responses((status = 200, description = "The open channels.", body = ChannelsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(
    State(state): State<AppState>,
    auth: AccountAuth,
) -> ApiResult<Json<ChannelsBody>> {
    let channels = state
        .db
        .channels(&auth.account.id)
        .await?
        .iter()
        .map(channel_info)
        .collect();
    Ok(Json(ChannelsBody { channels }))
}

/// Closes a channel.
///
/// No notification is sent to it afterwards.
#[utoipa::path(delete, path = "/v1/channels/{channel_id}", tag = "channels",
    security(("account_token" = []), ("client_secret" = [])),
    params(("channel_id" = String, Path, description = "The channel's id.")),
    responses((status = 202, description = "Closed.", body = Accepted), Problems))]
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

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(close))
}
