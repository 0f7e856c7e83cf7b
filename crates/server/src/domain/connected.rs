//! Connected calendars: connecting a CalDAV account or an ICS feed to an
//! account (the authorization flow's work), and syncing its events into
//! Convene, where they count exactly like native events.
//!
//! Synced instances are ordinary rows of `events` written through the
//! store's availability writer, so availability, free/busy, requests and
//! conversations read them with no extra code, the availability version
//! moves, and `change` notifications are recorded in the same transaction.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use convene_store::connected::{Connection, NewConnection, NewProviderCalendar, ProviderCalendar};
use convene_store::{Account, Application, Event, Tx};

use crate::caldav::{Dav, DavError, Feed, RemoteCalendar, fetch_feed};
use crate::ids::{digest, new_id, new_nonce, new_secret};
use crate::{AppState, ical};

/// Authorization codes live ten minutes (Cronofy's lifetime).
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Link tokens live an hour.
pub const LINK_TOKEN_TTL_MS: i64 = 3600 * 1000;
/// How far back and ahead remote events are expanded.
const HORIZON_PAST_MS: i64 = 31 * 86_400_000;
const HORIZON_AHEAD_MS: i64 = 400 * 86_400_000;
/// A replica that claimed a profile holds it this long at most.
const LEASE_MS: i64 = 5 * 60 * 1000;

/// What a person submits on the authorize page.
pub enum ConnectForm {
    CalDav {
        server_url: String,
        username: String,
        password: String,
    },
    Ics {
        url: String,
    },
}

/// Seals credentials with a key derived from the instance key:
/// ChaCha20-Poly1305, a fresh nonce per value, `base64(nonce ‖ ciphertext)`.
fn cipher(state: &AppState) -> ChaCha20Poly1305 {
    let key = state.links.derive_key("connected-calendar-credentials");
    ChaCha20Poly1305::new(&Key::from(key))
}

pub fn seal(state: &AppState, secret: &str) -> String {
    let nonce = new_nonce();
    let ct = cipher(state)
        .encrypt(&Nonce::from(nonce), secret.as_bytes())
        .expect("encryption of a short value cannot fail");
    let mut out = nonce.to_vec();
    out.extend(ct);
    base64::engine::general_purpose::STANDARD.encode(out)
}

pub fn unseal(state: &AppState, sealed: &str) -> Option<String> {
    if sealed.is_empty() {
        return Some(String::new());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (nonce, ct) = raw.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let pt = cipher(state).decrypt(&Nonce::from(nonce), ct).ok()?;
    String::from_utf8(pt).ok()
}

/// Checks an authorization request's client and redirect URI; the error
/// is shown on a page, never sent to the redirect URI.
pub async fn check_client(
    state: &AppState,
    client_id: &str,
    redirect_uri: &str,
) -> Result<Application, String> {
    let app = state
        .db
        .application(client_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The application (client_id) is not known.")?;
    let uris = state
        .db
        .redirect_uris(&app.id)
        .await
        .map_err(|e| e.to_string())?;
    if redirect_uri.is_empty() || !uris.iter().any(|u| u == redirect_uri) {
        return Err("The redirect_uri is not registered for this application.".into());
    }
    Ok(app)
}

/// Where to send the person whose CalDAV profile was disconnected (its
/// server refused the stored password): the authorize page of the
/// profile's application, filled in with the profile's server and
/// username, so that the new password is all they type. Authorizing the
/// same server and username again gives the existing profile the new
/// password (see `connect`). `None` for a connected profile, an ICS feed
/// (nothing to re-enter), or an application with no redirect URI.
pub fn relink_url(
    cfg: &crate::Config,
    client_id: &str,
    c: &Connection,
    redirect_uris: &[String],
) -> Option<String> {
    if c.connected || c.provider_name != "caldav" {
        return None;
    }
    let redirect = redirect_uris.first()?;
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect.as_str()),
        ("scope", "read_write"),
        ("server_url", c.source_url.as_str()),
        ("username", c.username.as_str()),
    ])
    .ok()?;
    Some(cfg.url(&format!("/oauth/authorize?{query}")))
}

/// Connects a calendar: discovers it, and stores the account (when new),
/// profile, calendars and a fresh authorization code in one transaction.
/// Answers the code, or a message for the person (nothing stored).
pub async fn connect(
    state: &AppState,
    app: &Application,
    redirect_uri: &str,
    link_account: Option<&str>,
    form: ConnectForm,
) -> Result<String, String> {
    let (provider, source_url, username, password, calendars, profile_name) = match form {
        ConnectForm::CalDav {
            server_url,
            username,
            password,
        } => {
            let dav = Dav::new(state, &username, &password);
            let (home, cals) = dav.discover(server_url.trim()).await.map_err(message)?;
            let host = reqwest::Url::parse(&home)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            let name = if username.contains('@') {
                username.clone()
            } else {
                format!("{username}@{host}")
            };
            ("caldav", home, username, password, cals, name)
        }
        ConnectForm::Ics { url } => {
            let url = url.trim().to_string();
            let text = match fetch_feed(state, &url, None, None).await.map_err(message)? {
                Feed::Body { text, .. } => text,
                Feed::Unchanged => String::new(),
            };
            ical::expand(&text, "Etc/UTC", 0, 1)
                .map_err(|e| format!("The feed could not be read: {e}."))?;
            let name = feed_name(&text).unwrap_or_else(|| {
                reqwest::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| "Calendar feed".into())
            });
            let cal = RemoteCalendar {
                href: url.clone(),
                name: name.clone(),
                readonly: true,
                ctag: None,
            };
            ("ics", url, String::new(), String::new(), vec![cal], name)
        }
    };
    let now = state.now_ms();
    // The same account on the same server again (a changed password, or
    // after a disconnection): the existing profile takes the new
    // credentials rather than a second profile mirroring the same data.
    if provider == "caldav"
        && let Some(old) = state
            .db
            .find_connection(&app.id, provider, &source_url, &username)
            .await
            .map_err(|e| e.to_string())?
        && link_account.is_none_or(|a| a == old.account_id)
    {
        let code = new_secret();
        state
            .db
            .reauthorize_connection(
                &old.profile_id,
                &old.account_id,
                &seal(state, &password),
                &digest(&code),
                &app.id,
                redirect_uri,
                now + CODE_TTL_MS,
                now,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storing a re-authorized calendar failed");
                "Convene could not store the connection; please try again.".to_string()
            })?;
        return Ok(code);
    }
    let new_account = match link_account {
        Some(_) => None,
        None => Some(Account {
            id: new_id("acc"),
            application_id: app.id.clone(),
            application_calendar_id: None,
            email: if profile_name.contains('@') {
                profile_name.clone()
            } else {
                format!("{}@calendars.convene", new_id("ics"))
            },
            name: profile_name.clone(),
            default_tzid: "Etc/UTC".into(),
            last_booked_ms: None,
            organizational_unit_id: app.organizational_unit_id.clone(),
            availability_version: 0,
        }),
    };
    let account_id = link_account
        .map(str::to_string)
        .or_else(|| new_account.as_ref().map(|a| a.id.clone()))
        .unwrap_or_default();
    let code = new_secret();
    let new = NewConnection {
        new_account,
        profile_name,
        connection: Connection {
            profile_id: new_id("pro"),
            account_id,
            provider_name: provider.into(),
            source_url,
            username,
            credentials_enc: if password.is_empty() {
                String::new()
            } else {
                seal(state, &password)
            },
            connected: true,
            initial_sync_required: true,
            last_sync_ms: None,
            last_error: None,
        },
        calendars: {
            // A new account's bookings go to its first writable calendar.
            let primary = calendars
                .iter()
                .position(|c| !c.readonly)
                .filter(|_| link_account.is_none());
            calendars
                .into_iter()
                .enumerate()
                .map(|(i, c)| NewProviderCalendar {
                    calendar_id: new_id("cal"),
                    name: c.name,
                    href: c.href,
                    readonly: c.readonly,
                    primary: Some(i) == primary,
                })
                .collect()
        },
        code_hash: digest(&code),
        application_id: app.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        code_expires_ms: now + CODE_TTL_MS,
        now_ms: now,
    };
    state.db.connect_profile(&new).await.map_err(|e| {
        tracing::error!(error = %e, "storing a connected calendar failed");
        "Convene could not store the connection; please try again.".to_string()
    })?;
    Ok(code)
}

fn message(e: DavError) -> String {
    match e {
        DavError::Unauthorized => {
            "The server refused the username or password. Check them and try again.".into()
        }
        DavError::Unreachable(why) => {
            format!("The server could not be reached ({why}). Check the address.")
        }
        DavError::NoCalendars => "No calendars were found at this address.".into(),
        other => format!("This address could not be used as a calendar: {other}."),
    }
}

fn feed_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("X-WR-CALNAME:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// One turn of the sync loop: syncs every profile that is due and not
/// leased by another replica. Answers how many were synced.
pub async fn sync_due(state: &AppState) -> usize {
    let now = state.now_ms();
    let due = match state.db.claim_due_connections(now, LEASE_MS, 20).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "claiming profiles to sync failed");
            return 0;
        }
    };
    let n = due.len();
    for conn in due {
        let outcome = sync_connection(state, &conn).await;
        let err = outcome.as_ref().err().map(String::as_str);
        if let Some(e) = err {
            tracing::warn!(profile = %conn.profile_id, error = %e, "sync failed");
        }
        let next =
            state.now_ms() + i64::try_from(state.cfg.sync_interval_secs).unwrap_or(60) * 1000;
        if let Err(e) = state
            .db
            .finish_sync(&conn.profile_id, next, state.now_ms(), err)
            .await
        {
            tracing::warn!(error = %e, "recording a sync failed");
        }
        if err == Some(unauthorized().as_str()) {
            disconnect(state, &conn).await;
        }
    }
    n
}

/// What a sync answers when the server refused the stored credentials.
fn unauthorized() -> String {
    DavError::Unauthorized.to_string()
}

/// Whether the profile was disconnected because its server refused the
/// credentials (rather than revoked): it comes back when authorized again,
/// so its write-backs wait for it.
pub fn refused_credentials(conn: &Connection) -> bool {
    !conn.connected && conn.last_error.as_deref() == Some(unauthorized().as_str())
}

/// The server refused the profile's credentials (a changed password, a
/// revoked app password): trying again every interval cannot help and
/// might lock the account, so the profile is disconnected, with a
/// `profile_disconnected` push, until it is authorized again through
/// `/oauth/authorize`. Its synced events stay: they are the best
/// knowledge Convene has.
async fn disconnect(state: &AppState, conn: &Connection) {
    let Ok(Some(account)) = state.db.account(&conn.account_id).await else {
        return;
    };
    let now = state.now_ms();
    let n = convene_store::NewNotification {
        id: new_id("ntf"),
        application_id: account.application_id.clone(),
        account_id: Some(account.id.clone()),
        kind: "profile_disconnected".into(),
        subject_id: Some(conn.profile_id.clone()),
        payload_json: serde_json::json!({"notification": {"type": "profile_disconnected"}})
            .to_string(),
        created_ms: now,
    };
    match state
        .db
        .disconnect_connection(&conn.profile_id, &unauthorized(), &n)
        .await
    {
        Ok(true) => {
            tracing::warn!(profile = %conn.profile_id, "the server refused the credentials; the profile is disconnected until authorized again")
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "disconnecting a profile failed"),
    }
}

/// How long a booking waits for the members' calendar servers before it
/// goes on with the data Convene already has.
const SLOT_CHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// Right before a booking takes its locks: asks the members' CalDAV
/// calendars what they hold in [`from`, `to`) (the slot with its buffers)
/// with a `calendar-query` time-range REPORT, and writes whatever is new
/// into Convene, so the booking's own re-check inside its transaction
/// (`requests::recheck_and_pick`, conversations' decision) sees it and
/// refuses the slot as taken. ICS feeds cannot be asked about a range:
/// they are read again (conditionally) instead.
///
/// Why before the transaction rather than inside it: the network call
/// would otherwise hold the write lock (on SQLite, every writer of the
/// database) for up to [`SLOT_CHECK`]. Asked here and decided inside, an
/// event added on the server after this answer and before the commit, a
/// window of milliseconds, can still be double-booked; one added any
/// earlier, however recently, cannot. The events are written in their own
/// transaction because they are true whether the booking succeeds or not.
///
/// A server that does not answer within [`SLOT_CHECK`] (or refuses) leaves
/// the data of the last sync: the booking stands, and the window is then
/// one sync interval, as for every calendar between syncs.
#[tracing::instrument(skip_all)]
pub async fn check_slot(
    state: &AppState,
    account_ids: &[String],
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) {
    let work = async {
        let mut found = Vec::new();
        // One query for every member: most bookings have no connected calendar.
        let conns = state
            .db
            .connections_of(account_ids)
            .await
            .unwrap_or_default();
        for c in conns.iter().filter(|c| c.connected) {
            if c.provider_name != "caldav" {
                if let Err(e) = sync_connection(state, c).await {
                    tracing::debug!(profile = %c.profile_id, error = %e, "refresh before booking failed");
                }
                continue;
            }
            match slot_objects(state, c, from, to).await {
                Ok(f) => found.extend(f),
                Err(e) => {
                    tracing::warn!(profile = %c.profile_id, error = %e, "the slot could not be checked on the CalDAV server; booking on synced data")
                }
            }
        }
        found
    };
    let found = match tokio::time::timeout(SLOT_CHECK, work).await {
        Ok(f) => f,
        Err(_) => {
            tracing::warn!(
                "checking connected calendars before a booking timed out; booking on synced data"
            );
            return;
        }
    };
    let now = state.now_ms();
    for (account, cal, writes) in found {
        if let Err(e) = apply(state, &account, &cal, &writes, &[], now).await {
            tracing::warn!(error = %e, "writing events found before a booking failed");
        }
    }
}

type Found = (
    Account,
    ProviderCalendar,
    Vec<(String, String, String, Vec<Event>)>,
);

/// The objects of one CalDAV profile's calendars with an instance in the
/// range that Convene does not hold yet (at that etag), expanded as a sync
/// would expand them.
async fn slot_objects(
    state: &AppState,
    conn: &Connection,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<Found>, String> {
    let s = |e: convene_store::StoreError| e.to_string();
    let account = state
        .db
        .account(&conn.account_id)
        .await
        .map_err(s)?
        .ok_or("the account is gone")?;
    let password = unseal(state, &conn.credentials_enc).ok_or("credentials cannot be decrypted")?;
    let dav = Dav::new(state, &conn.username, &password);
    let now = state.now_ms();
    let mut out = Vec::new();
    for cal in state
        .db
        .profile_calendars(&conn.profile_id)
        .await
        .map_err(s)?
        .into_iter()
        .filter(|c| !c.deleted)
    {
        let objects = dav
            .time_range(&cal.href, from, to, SLOT_CHECK)
            .await
            .map_err(|e| e.to_string())?;
        let known = state
            .db
            .remote_resources(&cal.calendar_id)
            .await
            .map_err(s)?;
        let writes: Vec<_> = objects
            .into_iter()
            .filter(|(h, _, _)| !is_pushed_href(h))
            .filter(|(h, e, _)| !known.iter().any(|k| &k.href == h && &k.etag == e))
            .map(|(href, etag, data)| {
                let prefix = prefix_of(&href);
                let events = instance_events(
                    &account,
                    &cal,
                    &prefix,
                    expand_for(&account, &data, now),
                    now,
                );
                (href, etag, prefix, events)
            })
            .collect();
        if !writes.is_empty() {
            out.push((account.clone(), cal, writes));
        }
    }
    Ok(out)
}

/// Reads every calendar of one connected profile.
#[tracing::instrument(skip_all, fields(profile = %conn.profile_id, provider = %conn.provider_name))]
pub async fn sync_connection(state: &AppState, conn: &Connection) -> Result<(), String> {
    let account = state
        .db
        .account(&conn.account_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the account is gone")?;
    let cals = state
        .db
        .profile_calendars(&conn.profile_id)
        .await
        .map_err(|e| e.to_string())?;
    let password = unseal(state, &conn.credentials_enc).ok_or("credentials cannot be decrypted")?;
    let dav = Dav::new(state, &conn.username, &password);
    for cal in cals.iter().filter(|c| !c.deleted) {
        match conn.provider_name.as_str() {
            "caldav" => sync_caldav(state, &dav, &account, cal).await?,
            "ics" => sync_feed(state, &account, cal).await?,
            _ => {}
        }
    }
    Ok(())
}

/// The events of one instance list, with ids stable across syncs (the
/// prefix of their object, then the instance's start).
fn instance_events(
    account: &Account,
    cal: &ProviderCalendar,
    prefix: &str,
    instances: Vec<ical::Instance>,
    now: i64,
) -> Vec<Event> {
    let mut seen = std::collections::HashSet::new();
    instances
        .into_iter()
        .map(|i| {
            let mut id = format!("{prefix}{}", i.start_ms);
            let mut k = 1;
            while !seen.insert(id.clone()) {
                id = format!("{prefix}{}_{k}", i.start_ms);
                k += 1;
            }
            let (start_date, end_date) = match i.dates {
                Some((s, e)) => (Some(s), Some(e)),
                None => (None, None),
            };
            Event {
                event_uid: new_id("evt"),
                calendar_id: cal.calendar_id.clone(),
                account_id: account.id.clone(),
                event_id: Some(id),
                summary: i.summary,
                description: i.description,
                start_ms: i.start_ms,
                end_ms: i.end_ms,
                start_date,
                end_date,
                tzid: i.tzid,
                transparency: if i.transparent {
                    "transparent"
                } else {
                    "opaque"
                }
                .into(),
                status: if i.cancelled {
                    "cancelled"
                } else {
                    "confirmed"
                }
                .into(),
                participation: "accepted".into(),
                body_json: serde_json::json!({"remote_uid": i.uid}).to_string(),
                deleted: false,
                created_ms: now,
                updated_ms: now,
            }
        })
        .collect()
}

fn prefix_of(href: &str) -> String {
    format!("rmt_{}_", &digest(href)[..16])
}

fn expand_for(account: &Account, text: &str, now: i64) -> Vec<ical::Instance> {
    match ical::expand(
        text,
        &account.default_tzid,
        now - HORIZON_PAST_MS,
        now + HORIZON_AHEAD_MS,
    ) {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, "a remote object could not be read; skipped");
            Vec::new()
        }
    }
}

/// Every object of a calendar is read again (and its recurrences expanded
/// over the moving horizon) at least this often.
const FULL_READ_MS: i64 = 7 * 86_400_000;

/// One CalDAV collection: nothing more than the change marker when it is
/// unchanged; otherwise what changed since the last `sync-token`
/// (RFC 6578), or, without one, the etags of every object, and the data of
/// the objects whose etag moved, applied in one transaction.
async fn sync_caldav(
    state: &AppState,
    dav: &Dav,
    account: &Account,
    cal: &ProviderCalendar,
) -> Result<(), String> {
    let now = state.now_ms();
    let full_due = cal.full_read_ms.is_none_or(|t| now - t > FULL_READ_MS);
    let ctag = dav.ctag(&cal.href).await.map_err(|e| e.to_string())?;
    if !full_due && ctag.is_some() && ctag == cal.ctag {
        return Ok(());
    }
    let known = state
        .db
        .remote_resources(&cal.calendar_id)
        .await
        .map_err(|e| e.to_string())?;
    let delta = match (&cal.sync_token, full_due) {
        (Some(t), false) => dav.sync_collection(&cal.href, Some(t)).await.ok(),
        _ => None,
    };
    let (remote, removed, token, full) = match delta {
        Some((changed, removed, token)) => (changed, removed, token, false),
        None => {
            let (all, token) = match dav.sync_collection(&cal.href, None).await {
                Ok((all, _, token)) => (all, token),
                Err(_) => (dav.etags(&cal.href).await.map_err(|e| e.to_string())?, None),
            };
            let removed = known
                .iter()
                .filter(|k| !all.iter().any(|(h, _)| h == &k.href))
                .map(|k| k.href.clone())
                .collect();
            (all, removed, token, true)
        }
    };
    // What Convene wrote there itself is already in Convene.
    let changed: Vec<String> = remote
        .iter()
        .filter(|(h, _)| !is_pushed_href(h))
        .filter(|(h, e)| full_due || !known.iter().any(|k| &k.href == h && &k.etag == e))
        .map(|(h, _)| h.clone())
        .collect();
    let removed: Vec<String> = removed.into_iter().filter(|h| !is_pushed_href(h)).collect();
    let mut fetched = Vec::new();
    for chunk in changed.chunks(200) {
        fetched.extend(
            dav.multiget(&cal.href, chunk)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let writes: Vec<(String, String, String, Vec<Event>)> = fetched
        .into_iter()
        .map(|(href, etag, data)| {
            let prefix = prefix_of(&href);
            let events =
                instance_events(account, cal, &prefix, expand_for(account, &data, now), now);
            (href, etag, prefix, events)
        })
        .collect();
    apply(state, account, cal, &writes, &removed, now).await?;
    state
        .db
        .set_calendar_sync_state(
            &cal.calendar_id,
            token.as_deref(),
            ctag.as_deref(),
            None,
            None,
            (full && full_due).then_some(now),
        )
        .await
        .map_err(|e| e.to_string())
}

async fn apply(
    state: &AppState,
    account: &Account,
    cal: &ProviderCalendar,
    writes: &[(String, String, String, Vec<Event>)],
    removed: &[String],
    now: i64,
) -> Result<(), String> {
    if writes.is_empty() && removed.is_empty() {
        return Ok(());
    }
    state
        .db
        .write(async |tx: &mut Tx| -> convene_store::Result<()> {
            for (href, etag, prefix, events) in writes {
                tx.put_remote_resource(
                    &account.id,
                    &cal.calendar_id,
                    href,
                    etag,
                    prefix,
                    events,
                    now,
                )
                .await?;
            }
            for href in removed {
                tx.remove_remote_resource(&account.id, &cal.calendar_id, href, now)
                    .await?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

/// An ICS feed: a conditional GET; a changed feed replaces all its events.
async fn sync_feed(
    state: &AppState,
    account: &Account,
    cal: &ProviderCalendar,
) -> Result<(), String> {
    // Unconditionally now and then, to expand recurrences over the horizon.
    let full_due = cal
        .full_read_ms
        .is_none_or(|t| state.now_ms() - t > FULL_READ_MS);
    let feed = fetch_feed(
        state,
        &cal.href,
        cal.etag.as_deref().filter(|_| !full_due),
        cal.last_modified.as_deref().filter(|_| !full_due),
    )
    .await
    .map_err(|e| e.to_string())?;
    let Feed::Body {
        text,
        etag,
        last_modified,
    } = feed
    else {
        return Ok(());
    };
    let now = state.now_ms();
    let prefix = prefix_of(&cal.href);
    let events = instance_events(account, cal, &prefix, expand_for(account, &text, now), now);
    let marker = etag.clone().unwrap_or_else(|| digest(&text));
    apply(
        state,
        account,
        cal,
        &[(cal.href.clone(), marker, prefix, events)],
        &[],
        now,
    )
    .await?;
    state
        .db
        .set_calendar_sync_state(
            &cal.calendar_id,
            None,
            None,
            etag.as_deref(),
            last_modified.as_deref(),
            Some(now),
        )
        .await
        .map_err(|e| e.to_string())
}

/// The file name under which Convene writes an event to a CalDAV calendar.
fn pushed_href(cal_href: &str, event_uid: &str) -> String {
    let base = if cal_href.ends_with('/') {
        cal_href.to_string()
    } else {
        format!("{cal_href}/")
    };
    format!("{base}convene-{event_uid}.ics")
}

fn is_pushed_href(href: &str) -> bool {
    href.rsplit('/')
        .find(|s| !s.is_empty())
        .is_some_and(|s| s.starts_with("convene-"))
}

/// One turn of write-back: every due event is written to (or deleted
/// from) its CalDAV calendar; a failure is tried again later, with
/// backoff, while the event stays in Convene. Answers how many were tried.
pub async fn push_due(state: &AppState) -> usize {
    let now = state.now_ms();
    let due = match state.db.claim_remote_writes(now, LEASE_MS, 20).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "claiming write-backs failed");
            return 0;
        }
    };
    let n = due.len();
    for w in due {
        if let Err(e) = push_one(state, &w).await {
            // 1 s, 2 s, 4 s … at most an hour.
            let backoff = 1000i64 << w.attempts.clamp(0, 12);
            let next = state.now_ms() + backoff.min(3_600_000);
            tracing::warn!(event = %w.event_uid, error = %e, "write-back failed; will retry");
            if let Err(e) = state.db.retry_remote_write(&w, next, &e).await {
                tracing::warn!(error = %e, "recording a failed write-back failed");
            }
        }
    }
    n
}

#[tracing::instrument(skip_all, fields(event = %w.event_uid))]
async fn push_one(
    state: &AppState,
    w: &convene_store::connected::RemoteWrite,
) -> Result<(), String> {
    let s = |e: convene_store::StoreError| e.to_string();
    let ev = state.db.event_by_uid(&w.event_uid).await.map_err(s)?;
    let pushed = state.db.pushed_event(&w.event_uid).await.map_err(s)?;
    let cal = state
        .db
        .provider_calendar(&w.calendar_id)
        .await
        .map_err(s)?
        .ok_or("the calendar is gone")?;
    let conn = state
        .db
        .connection(&cal.profile_id)
        .await
        .map_err(s)?
        .ok_or("the profile is gone")?;
    let password = unseal(state, &conn.credentials_enc).ok_or("credentials cannot be decrypted")?;
    let dav = Dav::new(state, &conn.username, &password);
    if refused_credentials(&conn) {
        // Not revoked: once authorized again the write goes through.
        return Err("the profile is disconnected until authorized again".into());
    }
    let live = ev
        .as_ref()
        .filter(|e| !e.deleted && e.calendar_id == w.calendar_id && conn.connected);
    let Some(ev) = live else {
        // Deleted: gone from the server. The row stays (an empty etag: not
        // there) so a returning event (a reschedule) goes on with its
        // SEQUENCE.
        let kept = match pushed {
            Some(mut p) if p.etag.as_deref() != Some("") => {
                dav.delete(&p.href).await.map_err(|e| e.to_string())?;
                p.etag = Some(String::new());
                Some(p)
            }
            other => other,
        };
        return match kept {
            Some(p) => state.db.finish_remote_write(w, Some(&p)).await.map_err(s),
            None => state.db.finish_remote_write(w, None).await.map_err(s),
        };
    };
    let account = state
        .db
        .account(&ev.account_id)
        .await
        .map_err(s)?
        .ok_or("the account is gone")?;
    let href = pushed
        .as_ref()
        .map(|p| p.href.clone())
        .unwrap_or_else(|| pushed_href(&cal.href, &ev.event_uid));
    let sequence = pushed.as_ref().map_or(0, |p| p.sequence + 1);
    let ics = ical::event_ics(
        ev,
        &ical::Organizer {
            email: &account.email,
            name: &account.name,
        },
        sequence,
        state.now_ms(),
    );
    // A new (or deleted) object must not exist yet; a known one must be as
    // Convene wrote it.
    let cond = match pushed.as_ref().map(|p| p.etag.as_deref()) {
        Some(Some("")) | None => ("if-none-match", "*"),
        Some(Some(e)) => ("if-match", e),
        Some(None) => ("if-match", "*"),
    };
    let etag = match dav.put(&href, &ics, Some(cond)).await {
        Ok(e) => e,
        // Someone changed or removed the copy on the server: Convene's
        // event wins.
        Err(DavError::Status(412, _)) => dav
            .put(&href, &ics, None)
            .await
            .map_err(|e| e.to_string())?,
        Err(e) => return Err(e.to_string()),
    };
    state
        .db
        .finish_remote_write(
            w,
            Some(&convene_store::connected::Pushed {
                event_uid: ev.event_uid.clone(),
                calendar_id: w.calendar_id.clone(),
                href,
                etag,
                sequence,
            }),
        )
        .await
        .map_err(s)
}
