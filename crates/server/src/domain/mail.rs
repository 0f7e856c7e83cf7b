//! Invitations by email: what each mail says and who gets it.
//!
//! A mail is composed in the transaction of the state change it reports and
//! stored as a delivery of kind [`KIND`] in the same outbox the callbacks
//! use, so it commits with the change, survives a restart and is retried by
//! the worker (`mailer.rs` sends it). Stored mails never hold a live link
//! token: their links carry [`LINK_TOKEN_PLACEHOLDER`], filled in from the
//! instance key when the mail is sent.

use askama::Template;
use convene_store::notify::Delivery;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::ids::new_id;

/// Stands in for a link token in what is stored (see `requests`).
pub const LINK_TOKEN_PLACEHOLDER: &str = "{link_token}";

/// The delivery kind of a mail.
pub const KIND: &str = "mail";

/// A mail as stored in the outbox (the delivery's body).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Mail {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The `text/calendar` part, when the mail carries an invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ics: Option<String>,
    /// `REQUEST` or `CANCEL`, with `ics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Whose link token the placeholder stands for: a kind and an id, as
    /// `LinkKey::token` takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<(String, String)>,
}

/// Whether mail goes out at all: without an SMTP server none is written.
pub fn enabled(state: &AppState) -> bool {
    state.cfg.smtp_url.is_some()
}

/// An address a mail can be sent to (RFC 5321's shape, as lettre reads it).
pub fn valid_address(s: &str) -> bool {
    s.len() <= 254 && s.parse::<lettre::Address>().is_ok()
}

/// The members whose calendar receives bookings itself: their primary
/// calendar is a writable connected (CalDAV) calendar, so the booking is
/// written there (write-back) and mailing them too would double it. The
/// others get the invitation at their account email.
pub async fn connected_members(
    db: &convene_store::Db,
    members: &[String],
) -> Result<std::collections::HashSet<String>, convene_store::StoreError> {
    let mut out = std::collections::HashSet::new();
    for cal in db.primary_calendars(members).await? {
        if db
            .provider_calendar(&cal.id)
            .await?
            .is_some_and(|pc| !pc.readonly && !pc.deleted)
        {
            out.insert(cal.account_id);
        }
    }
    Ok(out)
}

/// A member's own address, unless it is one Convene made up for an
/// application calendar (nobody reads those).
pub fn member_address(account: &convene_store::Account) -> Option<&str> {
    reaches_someone(&account.email).then_some(account.email.as_str())
}

/// The address a mail's organizer falls back to: the sender's own.
pub fn sender_address(cfg: &crate::Config) -> String {
    cfg.mail_from
        .parse::<lettre::message::Mailbox>()
        .map(|m| m.email.to_string())
        .unwrap_or_else(|_| "convene@localhost".into())
}

/// The host part of the public URL, which makes invitation UIDs global.
pub fn uid_host(cfg: &crate::Config) -> String {
    cfg.public_url
        .split("://")
        .nth(1)
        .unwrap_or("convene")
        .split(['/', ':'])
        .next()
        .unwrap_or("convene")
        .to_string()
}

/// Whether an address reaches a person: well formed, and not one Convene
/// made up for an application calendar.
pub fn reaches_someone(email: &str) -> bool {
    !email.ends_with(".calendars.convene") && valid_address(email)
}

/// The outbox row that sends `mail` for `application_id`.
pub fn delivery(state: &AppState, application_id: &str, mail: &Mail) -> Delivery {
    delivery_at(application_id, mail, state.now_ms())
}

/// [`delivery`] at a given time (decisions that carry their own clock).
pub fn delivery_at(application_id: &str, mail: &Mail, now: i64) -> Delivery {
    Delivery {
        id: new_id("dlv"),
        application_id: application_id.to_string(),
        notification_id: None,
        channel_id: None,
        kind: KIND.into(),
        url: format!("mailto:{}", mail.to),
        body: serde_json::to_string(mail).expect("serializable"),
        state: "pending".into(),
        attempts: 0,
        next_attempt_ms: now,
        locked_until_ms: 0,
        last_status: None,
        last_error: None,
        replay_of: None,
        created_ms: now,
        delivered_ms: None,
    }
}

/// The stored mail with its link put back, ready to send.
pub fn with_link(state: &AppState, mut mail: Mail) -> Mail {
    if let Some((kind, id)) = &mail.link {
        let token = state.links.token(kind, id);
        for part in [&mut mail.text, &mut mail.html] {
            *part = part.replace(LINK_TOKEN_PLACEHOLDER, &token);
        }
    }
    mail
}

/// One person in an invitation.
#[derive(Clone, Debug)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
}

/// What an iCalendar invitation says (RFC 5545 / iTIP, RFC 5546).
#[derive(Clone, Debug)]
pub struct Invite {
    pub uid: String,
    pub sequence: i64,
    /// `REQUEST` or `CANCEL`.
    pub method: &'static str,
    pub start: Timestamp,
    pub end: Timestamp,
    pub stamp: Timestamp,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub organizer: Person,
    pub attendees: Vec<Person>,
}

/// TEXT values escape backslash, semicolon, comma and newlines (RFC 5545
/// 3.3.11).
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted, since names hold commas and colons; DQUOTE
/// and controls cannot appear in one at all (RFC 5545 3.1).
fn param(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    format!("\"{clean}\"")
}

/// Lines longer than 75 octets are folded (CRLF and a space), never inside
/// a UTF-8 character (RFC 5545 3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn mailto(p: &Person) -> String {
    format!("mailto:{}", p.email)
}

/// The `text/calendar` body: one VCALENDAR with one VEVENT, times in UTC.
pub fn ics(inv: &Invite) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//Convene//Convene//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        format!("METHOD:{}", inv.method),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", escape_text(&inv.uid)),
        format!("SEQUENCE:{}", inv.sequence),
        format!("DTSTAMP:{}", utc(inv.stamp)),
        format!("DTSTART:{}", utc(inv.start)),
        format!("DTEND:{}", utc(inv.end)),
        format!("SUMMARY:{}", escape_text(&inv.summary)),
    ];
    if !inv.description.is_empty() {
        lines.push(format!("DESCRIPTION:{}", escape_text(&inv.description)));
    }
    if let Some(l) = &inv.location {
        lines.push(format!("LOCATION:{}", escape_text(l)));
    }
    let cn = |p: &Person| {
        p.name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(|n| format!(";CN={}", param(n)))
            .unwrap_or_default()
    };
    lines.push(format!(
        "ORGANIZER{}:{}",
        cn(&inv.organizer),
        mailto(&inv.organizer)
    ));
    for a in &inv.attendees {
        let partstat = if a.email.eq_ignore_ascii_case(&inv.organizer.email) {
            "ACCEPTED"
        } else {
            "NEEDS-ACTION"
        };
        lines.push(format!(
            "ATTENDEE{};ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};RSVP=FALSE:{}",
            cn(a),
            mailto(a)
        ));
    }
    let cancelled = inv.method == "CANCEL";
    lines.push(format!(
        "STATUS:{}",
        if cancelled { "CANCELLED" } else { "CONFIRMED" }
    ));
    lines.push("TRANSP:OPAQUE".into());
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for l in &lines {
        fold(l, &mut out);
    }
    out
}

/// What the text and HTML parts of an invitation say.
#[derive(Template)]
#[template(path = "mail/invitation.html")]
pub struct InvitationHtml<'a> {
    pub v: &'a InvitationView,
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
pub struct InvitationText<'a> {
    pub v: &'a InvitationView,
}

/// The words of one invitation, shared by its text and HTML parts.
#[derive(Clone, Debug)]
pub struct InvitationView {
    /// `booked` | `moved` | `cancelled` | `pick` (the link to choose a time).
    pub mode: &'static str,
    pub greeting: String,
    pub summary: String,
    /// The time in the reader's zone, e.g. "Tuesday 3 March 2026, 14:00 – 14:30 (Europe/London)".
    pub when: String,
    pub location: Option<String>,
    pub description: String,
    pub host: String,
    pub view_url: Option<String>,
    pub reschedule_url: Option<String>,
    pub decline_url: Option<String>,
}

impl InvitationView {
    pub fn headline(&self) -> String {
        match self.mode {
            "moved" => format!("{} has moved", self.summary),
            "cancelled" => format!("{} is cancelled", self.summary),
            "pick" | "conversation" => format!("Pick a time for {}", self.summary),
            _ => format!("{} is booked", self.summary),
        }
    }

    pub fn subject(&self) -> String {
        // Header text: one line whatever the summary holds.
        let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        one_line(self.subject_text())
    }

    fn subject_text(&self) -> String {
        match self.mode {
            "moved" => format!("Moved: {} — {}", self.summary, self.when),
            "cancelled" => format!("Cancelled: {} — {}", self.summary, self.when),
            "pick" | "conversation" => {
                format!("{} invites you to pick a time: {}", self.host, self.summary)
            }
            _ => format!("Invitation: {} — {}", self.summary, self.when),
        }
    }

    pub fn is_pick(&self) -> bool {
        matches!(self.mode, "pick" | "conversation")
    }

    pub fn is_conversation(&self) -> bool {
        self.mode == "conversation"
    }

    pub fn is_cancelled(&self) -> bool {
        self.mode == "cancelled"
    }
}

/// The time of a meeting as its reader sees it: in `tzid` (the zone they
/// picked in), falling back to UTC for a name the database does not know.
pub fn when(start: Timestamp, end: Timestamp, tzid: &str) -> String {
    let (name, zone) = match crate::tz(tzid) {
        Some(z) => (tzid.to_string(), z),
        None => ("UTC".to_string(), jiff::tz::TimeZone::UTC),
    };
    let s = start.to_zoned(zone.clone());
    let e = end.to_zoned(zone);
    let end_fmt = if s.date() == e.date() {
        e.strftime("%H:%M").to_string()
    } else {
        e.strftime("%A %-d %B %Y, %H:%M").to_string()
    };
    format!("{}{end_fmt} ({name})", s.strftime("%A %-d %B %Y, %H:%M – "))
}

/// A mail from its view, with an invitation when `invite` is given.
pub fn compose(
    to: &Person,
    view: &InvitationView,
    invite: Option<&Invite>,
    link: Option<(String, String)>,
) -> Mail {
    Mail {
        to: to.email.clone(),
        to_name: to.name.clone(),
        subject: view.subject(),
        text: InvitationText { v: view }
            .render()
            .expect("the text template renders"),
        html: InvitationHtml { v: view }
            .render()
            .expect("the HTML template renders"),
        ics: invite.map(ics),
        method: invite.map(|i| i.method.to_string()),
        link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Invite {
        Invite {
            uid: "srq_1@convene".into(),
            sequence: 2,
            method: "REQUEST",
            start: "2026-03-03T14:00:00Z".parse().unwrap(),
            end: "2026-03-03T14:30:00Z".parse().unwrap(),
            stamp: "2026-03-01T00:00:00Z".parse().unwrap(),
            summary: "Intro, call; with \\ and\nnewline".into(),
            description: "é".repeat(60),
            location: None,
            organizer: Person {
                email: "host@example.com".into(),
                name: Some("Host \"H\", Ltd".into()),
            },
            attendees: vec![],
        }
    }

    #[test]
    fn text_is_escaped_and_long_lines_fold_on_character_boundaries() {
        let s = ics(&invite());
        assert!(s.contains("SUMMARY:Intro\\, call\\; with \\\\ and\\nnewline\r\n"));
        assert!(s.contains("ORGANIZER;CN=\"Host H, Ltd\":mailto:host@example.com\r\n"));
        for l in s.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        // Unfolding gives the description back whole.
        let unfolded = s.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{}\r\n", "é".repeat(60))));
        assert!(s.contains("DTSTART:20260303T140000Z\r\n"));
    }

    #[test]
    fn addresses_are_checked() {
        assert!(valid_address("ann@example.com"));
        assert!(!valid_address("ann"));
        assert!(!valid_address("ann@"));
        assert!(!valid_address("a b@example.com"));
        assert!(!valid_address("ann@example.com\r\nBcc: x@y.z"));
    }
}
