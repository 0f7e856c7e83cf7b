//! The domain layer: Convene's rules, with no HTTP in them.
//!
//! The JSON API (`api/`), the HTML pages (`pages/`) and the background
//! worker call these; they call the store and the engine. Nothing here
//! imports axum, `crate::api` or `crate::pages` (tests/architecture.rs
//! checks it).

pub mod availability;
pub mod connected;
pub mod conversations;
pub mod mail;
pub mod ou_grants;
pub mod requests;
pub mod rts;
pub mod templates;

/// A booked meeting's event in one member's calendar: a new uid, busy,
/// confirmed and accepted, written `now`. The caller names what the meeting
/// says (`summary`, `description`, `tzid`, `body_json`) with struct update
/// syntax: `Event { summary, ..booked_event(…) }`.
pub(crate) fn booked_event(
    calendar_id: &str,
    account_id: &str,
    event_id: &str,
    (start_ms, end_ms): (i64, i64),
    now: i64,
) -> convene_store::Event {
    convene_store::Event {
        event_uid: crate::ids::new_id("evt"),
        calendar_id: calendar_id.to_string(),
        account_id: account_id.to_string(),
        event_id: Some(event_id.to_string()),
        summary: String::new(),
        description: String::new(),
        start_ms,
        end_ms,
        start_date: None,
        end_date: None,
        tzid: String::new(),
        transparency: "opaque".into(),
        status: "confirmed".into(),
        participation: "accepted".into(),
        body_json: String::new(),
        deleted: false,
        created_ms: now,
        updated_ms: now,
    }
}
