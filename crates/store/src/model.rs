//! Rows as stored. Instants are epoch milliseconds; the server converts.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub organizational_unit_id: String,
    pub webhook_url: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub application_id: String,
    pub application_calendar_id: Option<String>,
    pub email: String,
    pub name: String,
    pub default_tzid: String,
    pub last_booked_ms: Option<i64>,
    pub organizational_unit_id: String,
    /// Changes whenever the account's events, rules or periods change.
    pub availability_version: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Profile {
    pub id: String,
    pub account_id: String,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Calendar {
    pub id: String,
    pub account_id: String,
    pub profile_id: String,
    pub name: String,
    pub color: Option<String>,
    pub is_primary: bool,
}

/// An account's primary calendar, and whether the account has connected
/// calendar profiles.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PrimaryCalendar {
    #[sqlx(flatten)]
    pub calendar: Calendar,
    pub connected: bool,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Token {
    pub kind: String,
    pub account_id: String,
    pub application_id: String,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub event_uid: String,
    pub calendar_id: String,
    pub account_id: String,
    pub event_id: Option<String>,
    pub summary: String,
    pub description: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub tzid: String,
    pub transparency: String,
    pub status: String,
    pub participation: String,
    pub body_json: String,
    pub deleted: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What the availability engine needs of an event.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BusyRow {
    pub account_id: String,
    pub calendar_id: String,
    pub event_id: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Rule {
    pub account_id: String,
    pub rule_id: String,
    pub tzid: String,
    pub calendar_ids_json: Option<String>,
    pub weekly_periods_json: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Period {
    pub account_id: String,
    pub period_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Which events a listing wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub account_id: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub calendar_ids: Option<Vec<String>>,
    pub last_modified_ms: Option<i64>,
    pub include_deleted: bool,
    /// Only events the application created (with an `event_id`).
    pub only_managed: bool,
    /// Leave out events the application created.
    pub exclude_managed: bool,
}

#[derive(Clone, Debug)]
pub struct NewNotification {
    pub id: String,
    pub application_id: String,
    pub account_id: Option<String>,
    pub kind: String,
    pub subject_id: Option<String>,
    pub payload_json: String,
    pub created_ms: i64,
}
