//! Time on the wire: lenient in, strict out.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

/// Parses a Time as clients send it: `T` or a space between date and time,
/// `Z`, `UTC` or a numeric offset, seconds optional, zero fractions allowed.
/// Non-zero fractions are refused, as Cronofy refuses them.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() < 16 {
        return None;
    }
    let mut t = s.replacen(' ', "T", 1);
    if let Some(stripped) = t.strip_suffix("UTC") {
        t = format!("{}Z", stripped.trim_end());
    }
    if t.ends_with('z') {
        t.pop();
        t.push('Z');
    }
    // Reject fractions that are not zero before parsing (jiff keeps them).
    if let Some(dot) = t.find('.') {
        let frac: String = t[dot + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if frac.is_empty() || frac.chars().any(|c| c != '0') {
            return None;
        }
        t = format!("{}{}", &t[..dot], &t[dot + 1 + frac.len()..]);
    }
    if !plausible_clock(&t) {
        return None;
    }
    // jiff refuses a civil time without an offset: it is not an instant.
    t.parse::<Timestamp>().ok()
}

/// jiff reads `:60` seconds as `:59` and offsets up to ±25:59; a Time on the
/// wire has neither (RFC 3339 offsets are at most ±23:59), and quietly
/// moving either would book the wrong instant.
fn plausible_clock(t: &str) -> bool {
    // Every Time is ASCII; anything else is refused before slicing by bytes.
    if !t.is_ascii() {
        return false;
    }
    let b = t.as_bytes();
    // YYYY-MM-DDTHH:MM[:SS]…
    if b.len() >= 19 && b[16] == b':' && &t[17..19] == "60" {
        return false;
    }
    if let Some(pos) = t[16..].find(['+', '-']).map(|p| p + 16) {
        let hours = &t[pos + 1..];
        match hours.get(..2).and_then(|h| h.parse::<u8>().ok()) {
            Some(h) if h < 24 => {}
            _ => return false,
        }
    }
    true
}

pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    s.parse::<Date>().ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the only Time spelling Convene emits.
pub fn fmt_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A Time that serializes as `YYYY-MM-DDTHH:MM:SSZ` without allocating:
/// replies of hundreds of slots format two of these each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireTime(pub Timestamp);

impl serde::Serialize for WireTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dt = jiff::tz::Offset::UTC.to_datetime(self.0);
        let year = dt.year();
        if !(0..=9999).contains(&year) {
            return s.serialize_str(&fmt_time(self.0));
        }
        let mut buf = *b"0000-00-00T00:00:00Z";
        let put = |buf: &mut [u8; 20], at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(&mut buf, 0, 4, year.into());
        put(&mut buf, 5, 2, dt.month().into());
        put(&mut buf, 8, 2, dt.day().into());
        put(&mut buf, 11, 2, dt.hour().into());
        put(&mut buf, 14, 2, dt.minute().into());
        put(&mut buf, 17, 2, dt.second().into());
        // Only ASCII digits and separators were written.
        s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

pub fn fmt_ms(ms: i64) -> String {
    fmt_time(from_ms(ms))
}

pub fn from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn to_ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// Durations are emitted as minutes only.
pub fn duration_json(d: SignedDuration) -> serde_json::Value {
    serde_json::json!({ "minutes": d.as_secs() / 60 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_leap_seconds_and_impossible_offsets() {
        for s in [
            "2030-01-07T23:59:60Z",
            "2030-01-07T09:00:00+24:00",
            "2030-01-07T09:00:00-25:00",
            "2030-01-07T09:00:00+2",
            "ÖaÑx¢¿d𧠿Rû",
            "2030-01-07T09:00:00Ö",
        ] {
            assert_eq!(parse_time(s), None, "{s}");
        }
        assert!(parse_time("2030-01-07T09:00:00+23:59").is_some());
        assert!(parse_time("2030-01-07T09:00:00-05:00").is_some());
    }

    #[test]
    fn accepts_client_spellings() {
        let want: Timestamp = "2030-01-07T09:00:00Z".parse().unwrap();
        for s in [
            "2030-01-07T09:00:00Z",
            "2030-01-07 09:00:00Z",
            "2030-01-07T09:00:00+00:00",
            "2030-01-07T09:00:00UTC",
            "2030-01-07 09:00:00 UTC",
            "2030-01-07T09:00:00.000Z",
            "2030-01-07T10:00:00+01:00",
            "2030-01-07T04:00:00-05:00",
            "2030-01-07T09:00Z",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for s in [
            "2030-01-07",
            "2030-01-07T09:00:00",
            "2030-01-07T09:00:00.5Z",
            "tomorrow",
            "",
            "2030-13-07T09:00:00Z",
        ] {
            assert_eq!(parse_time(s), None, "{s}");
        }
    }

    #[test]
    fn emits_one_spelling() {
        let t: Timestamp = "2030-01-07T10:00:00+01:00".parse().unwrap();
        assert_eq!(fmt_time(t), "2030-01-07T09:00:00Z");
        for t in [
            t,
            "1970-01-01T00:00:00Z".parse().unwrap(),
            "2024-02-29T23:59:59.999Z".parse().unwrap(),
            "0001-12-31T01:02:03Z".parse().unwrap(),
            Timestamp::MIN,
            Timestamp::MAX,
        ] {
            assert_eq!(
                serde_json::to_value(WireTime(t)).unwrap(),
                serde_json::json!(fmt_time(t))
            );
        }
    }
}
