//! Reading remote iCalendar data: parse a calendar object (or a whole ICS
//! feed) and expand it into busy-relevant instances over a window.
//!
//! Parsing and recurrence expansion are `calcard`'s (Stalwart's iCalendar
//! library): RRULE, EXDATE, RDATE, RECURRENCE-ID overrides (also
//! `RANGE=THISANDFUTURE`), VTIMEZONE definitions and floating times are
//! handled there, so Convene only turns its instances into instants.

use calcard::icalendar::dates::TimeOrDelta;
use calcard::icalendar::{
    ICalendar, ICalendarComponentType, ICalendarProperty, ICalendarStatus, ICalendarTransparency,
    ICalendarValue,
};

/// Most instances one calendar object may expand to (a daily rule without
/// end would otherwise never stop).
const MAX_INSTANCES: usize = 20_000;

/// One occurrence of a remote event.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// All-day events: their dates (`YYYY-MM-DD`), end exclusive.
    pub dates: Option<(String, String)>,
    /// The zone the event was written in (`Etc/UTC` for UTC and floating).
    pub tzid: String,
    pub transparent: bool,
    pub cancelled: bool,
}

/// Expands every VEVENT of `text` whose instances overlap
/// `[from_ms, to_ms)`. Floating times and dates are read in `default_tz`.
pub fn expand(
    text: &str,
    default_tz: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Instance>, String> {
    let cal = ICalendar::parse(text).map_err(|_| "not an iCalendar object".to_string())?;
    let zone: chrono_tz::Tz = default_tz.parse().unwrap_or(chrono_tz::UTC);
    let expanded = cal.expand_dates(zone, MAX_INSTANCES);
    let mut out = Vec::new();
    for ev in expanded.events {
        let Some(comp) = cal.components.get(ev.comp_id as usize) else {
            continue;
        };
        if comp.component_type != ICalendarComponentType::VEvent {
            continue;
        }
        let start = ev.start;
        let end = match ev.end {
            TimeOrDelta::Time(t) => t,
            TimeOrDelta::Delta(d) => start + d,
        };
        let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
        let end_ms = end_ms.max(start_ms);
        if end_ms <= from_ms && start_ms < from_ms || start_ms >= to_ms {
            continue;
        }
        let dtstart = comp.property(&ICalendarProperty::Dtstart);
        let all_day = dtstart
            .and_then(|e| e.values.first())
            .and_then(|v| v.as_partial_date_time())
            .is_some_and(|d| !d.has_time());
        let tzid = dtstart
            .and_then(|e| e.tz_id())
            .filter(|t| crate::tz(t).is_some())
            .unwrap_or(if all_day { default_tz } else { "Etc/UTC" })
            .to_string();
        let text = |p: ICalendarProperty| {
            comp.property(&p)
                .and_then(|e| e.values.first())
                .and_then(ICalendarValue::as_text)
                .unwrap_or_default()
                .to_string()
        };
        out.push(Instance {
            uid: comp.uid().unwrap_or_default().to_string(),
            summary: text(ICalendarProperty::Summary),
            description: text(ICalendarProperty::Description),
            start_ms,
            end_ms,
            dates: all_day.then(|| {
                (
                    start.date_naive().format("%Y-%m-%d").to_string(),
                    end.date_naive().format("%Y-%m-%d").to_string(),
                )
            }),
            tzid,
            transparent: comp.transparency() == Some(&ICalendarTransparency::Transparent),
            cancelled: comp.status() == Some(&ICalendarStatus::Cancelled),
        });
    }
    out.sort_by_key(|i| (i.start_ms, i.end_ms));
    Ok(out)
}

/// Who an event written to a remote calendar is from.
pub struct Organizer<'a> {
    pub email: &'a str,
    pub name: &'a str,
}

fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or_default()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The stable UID of a Convene event on remote calendars.
pub fn uid_of(event_uid: &str) -> String {
    format!("{event_uid}@convene")
}

/// One Convene event as an iCalendar object (a VEVENT with a stable UID,
/// ORGANIZER and ATTENDEEs; `sequence` grows with every rewrite).
pub fn event_ics(
    ev: &convene_store::Event,
    organizer: &Organizer,
    sequence: i64,
    now_ms: i64,
) -> String {
    let body: serde_json::Value = serde_json::from_str(&ev.body_json).unwrap_or_default();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Convene//Convene//EN".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", uid_of(&ev.event_uid)),
        format!("DTSTAMP:{}", utc(now_ms)),
        format!("SEQUENCE:{sequence}"),
    ];
    match (&ev.start_date, &ev.end_date) {
        (Some(s), Some(e)) => {
            lines.push(format!("DTSTART;VALUE=DATE:{}", s.replace('-', "")));
            lines.push(format!("DTEND;VALUE=DATE:{}", e.replace('-', "")));
        }
        _ => {
            lines.push(format!("DTSTART:{}", utc(ev.start_ms)));
            lines.push(format!("DTEND:{}", utc(ev.end_ms)));
        }
    }
    lines.push(format!("SUMMARY:{}", escape(&ev.summary)));
    if !ev.description.is_empty() {
        lines.push(format!("DESCRIPTION:{}", escape(&ev.description)));
    }
    if let Some(l) = body["location"]["description"].as_str() {
        lines.push(format!("LOCATION:{}", escape(l)));
    }
    lines.push(format!(
        "TRANSP:{}",
        if ev.transparency == "transparent" {
            "TRANSPARENT"
        } else {
            "OPAQUE"
        }
    ));
    lines.push(format!(
        "STATUS:{}",
        match ev.status.as_str() {
            "tentative" => "TENTATIVE",
            "cancelled" => "CANCELLED",
            _ => "CONFIRMED",
        }
    ));
    let param = |s: &str| s.replace(['"', ';', ':', ',', '\r', '\n'], " ");
    lines.push(format!(
        "ORGANIZER;CN=\"{}\":mailto:{}",
        param(organizer.name),
        organizer.email
    ));
    for a in body["attendees"].as_array().into_iter().flatten() {
        let Some(email) = a["email"].as_str() else {
            continue;
        };
        let partstat = match a["status"].as_str() {
            Some("accepted") => "ACCEPTED",
            Some("declined") => "DECLINED",
            Some("tentative") => "TENTATIVE",
            _ => "NEEDS-ACTION",
        };
        let cn = a["display_name"].as_str().unwrap_or(email);
        lines.push(format!(
            "ATTENDEE;CN=\"{}\";PARTSTAT={partstat}:mailto:{}",
            param(cn),
            param(email)
        ));
    }
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for l in lines {
        out.push_str(&fold(&l));
        out.push_str("\r\n");
    }
    out
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), on char boundaries.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for ch in line.chars() {
        let w = ch.len_utf8();
        if width + w > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly\r\nDTSTART;TZID=America/New_York:20270104T090000\r\nDTEND;TZID=America/New_York:20270104T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=America/New_York:20270111T090000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Moved\r\nRECURRENCE-ID;TZID=America/New_York:20270118T090000\r\nDTSTART;TZID=America/New_York:20270118T140000\r\nDTEND;TZID=America/New_York:20270118T150000\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn a_weekly_rule_with_an_exdate_and_an_override_in_new_york() {
        let got = expand(
            WEEKLY,
            "Etc/UTC",
            ms("2026-12-01T00:00:00Z"),
            ms("2028-01-01T00:00:00Z"),
        )
        .unwrap();
        let starts: Vec<i64> = got.iter().map(|i| i.start_ms).collect();
        assert_eq!(
            starts,
            vec![
                ms("2027-01-04T14:00:00Z"),
                ms("2027-01-18T19:00:00Z"),
                ms("2027-01-25T14:00:00Z")
            ]
        );
        assert_eq!(got[1].summary, "Moved");
        assert_eq!(got[0].tzid, "America/New_York");
    }

    #[test]
    fn all_day_transparent_and_cancelled() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n\
BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20270301\r\nDTEND;VALUE=DATE:20270302\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270301T120000\r\nDTEND:20270301T130000\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let got = expand(ics, "Europe/Paris", 0, ms("2028-01-01T00:00:00Z")).unwrap();
        assert_eq!(got.len(), 3);
        let a = got.iter().find(|i| i.uid == "a").unwrap();
        assert_eq!(a.dates, Some(("2027-03-01".into(), "2027-03-02".into())));
        assert_eq!(a.start_ms, ms("2027-02-28T23:00:00Z"));
        assert!(got.iter().find(|i| i.uid == "b").unwrap().transparent);
        let c = got.iter().find(|i| i.uid == "c").unwrap();
        assert!(c.cancelled);
        // Floating: read in the default zone.
        assert_eq!(c.start_ms, ms("2027-03-01T11:00:00Z"));
    }
}
