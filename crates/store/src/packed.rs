//! Busy intervals read packed. Triggers keep every busy event as an entry
//! of one `busy_days` row per (account, calendar, UTC day of its start)
//! (migration 0013, one file per backend), so a cold availability query
//! reads a few dozen rows, not one per event.

use crate::{Db, Result, dispatch};

/// One calendar's busy intervals (milliseconds), in start order.
#[derive(Clone, Debug)]
pub struct BusyRuns {
    pub account_id: String,
    pub calendar_id: String,
    pub intervals: Vec<(i64, i64)>,
    /// The intervals' event ids (`""` for none), in the same order,
    /// joined by [`ID_SEP`]: split only when a query leaves an event out.
    pub event_ids: String,
}

/// Separates the event ids of [`BusyRuns::event_ids`]. An id containing it
/// (or `\u{1e}`) is stored empty, so it cannot be matched: that event
/// stays busy, never a double booking.
pub const ID_SEP: char = '\u{1f}';

/// Starts an entry of `busy_days.spans`; [`ID_SEP`] ends it.
const ENTRY_START: char = '\u{1e}';

/// `busy_days.day`: the migration's `start_ms / 86400000`, which truncates
/// toward zero in both dialects, as Rust's `/` does.
const DAY_MS: i64 = 86_400_000;

/// The conditions of a busy event, as literals so both planners match the
/// partial covering index `events_busy_cover`.
const BUSY: &str = " AND deleted = FALSE AND transparency = 'opaque' AND status <> 'cancelled' AND participation <> 'declined'";

/// An integer as the triggers write it (SQLite and PostgreSQL print
/// `-?[0-9]+`); `None` for anything else or an overflow.
fn int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if neg { -n } else { n })
}

/// Appends the entries of one `spans` text that overlap `[from_ms, to_ms)`
/// to `out` as (start, end, event id), in start order (a day's entries are
/// stored in the order they were written). Entries are
/// `\u{1e}start,end,id\u{1f}`; a malformed one (never written by the
/// triggers) is skipped. This runs for every busy event of a cold query:
/// it works on bytes and allocates nothing per entry.
fn unpack_day<'a>(spans: &'a str, from_ms: i64, to_ms: i64, out: &mut Vec<(i64, i64, &'a str)>) {
    let first = out.len();
    let bytes = spans.as_bytes();
    let mut at = 0;
    while let Some(open) = bytes[at..].iter().position(|&b| b == ENTRY_START as u8) {
        let body = at + open + 1;
        let Some(len) = bytes[body..].iter().position(|&b| b == ID_SEP as u8) else {
            break;
        };
        at = body + len + 1;
        let entry = &bytes[body..body + len];
        let Some(c1) = entry.iter().position(|&b| b == b',') else {
            continue;
        };
        let Some(c2) = entry[c1 + 1..].iter().position(|&b| b == b',') else {
            continue;
        };
        let c2 = c1 + 1 + c2;
        let (Some(start), Some(end)) = (int(&entry[..c1]), int(&entry[c1 + 1..c2])) else {
            continue;
        };
        if start < to_ms && end > from_ms {
            // Both ends of the id are ASCII delimiters: a char boundary.
            out.push((start, end, &spans[body + c2 + 1..body + len]));
        }
    }
    let day = &mut out[first..];
    if !day.is_sorted_by_key(|e| e.0) {
        day.sort_by_key(|e| e.0);
    }
}

impl Db {
    /// Busy intervals of `account_ids` overlapping `[from_ms, to_ms)`, one
    /// entry per calendar, each in start order. One query, reading one row
    /// per calendar and day.
    #[tracing::instrument(skip_all, fields(n = account_ids.len()))]
    pub async fn busy_packed(
        &self,
        account_ids: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BusyRuns>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        // An event starting before `to_ms` is filed under a day no later
        // than `to_ms`'s (truncation is monotonic); one ending after
        // `from_ms` is in a row whose `max_end_ms` is, too.
        let mut rows: Vec<(String, String, i64, String)> = dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT account_id, calendar_id, day, spans FROM busy_days WHERE account_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(") AND day <= ")
                .push_bind(to_ms / DAY_MS)
                .push(" AND max_end_ms > ")
                .push_bind(from_ms);
            qb.build_query_as().fetch_all(p).await?
        });
        // Days in order make each calendar's entries one sorted run.
        rows.sort_unstable_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        let mut out: Vec<BusyRuns> = Vec::new();
        let mut entries: Vec<(i64, i64, &str)> = Vec::new();
        let mut rows = rows.iter().peekable();
        while let Some((account_id, calendar_id, _, spans)) = rows.next() {
            unpack_day(spans, from_ms, to_ms, &mut entries);
            let last_of_calendar = rows
                .peek()
                .is_none_or(|next| (&next.0, &next.1) != (account_id, calendar_id));
            if !last_of_calendar || entries.is_empty() {
                continue;
            }
            let mut event_ids = String::with_capacity(entries.iter().map(|e| e.2.len() + 1).sum());
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    event_ids.push(ID_SEP);
                }
                event_ids.push_str(e.2);
            }
            out.push(BusyRuns {
                account_id: account_id.clone(),
                calendar_id: calendar_id.clone(),
                intervals: entries.drain(..).map(|(s, e, _)| (s, e)).collect(),
                event_ids,
            });
        }
        Ok(out)
    }

    /// What [`Db::busy_packed`] answers, read from the events themselves,
    /// one row each: the oracle its tests compare with.
    #[doc(hidden)]
    pub async fn busy_from_events(
        &self,
        account_ids: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BusyRuns>> {
        let mut rows: Vec<(String, String, i64, i64, Option<String>)> = dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT account_id, calendar_id, start_ms, end_ms, event_id FROM events WHERE account_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(") AND start_ms < ")
                .push_bind(to_ms)
                .push(" AND end_ms > ")
                .push_bind(from_ms)
                .push(BUSY);
            qb.build_query_as().fetch_all(p).await?
        });
        rows.sort();
        let mut out: Vec<BusyRuns> = Vec::new();
        for (account_id, calendar_id, start, end, id) in rows {
            let id = id
                .filter(|id| !id.contains([ID_SEP, ENTRY_START]))
                .unwrap_or_default();
            match out.last_mut() {
                Some(b) if b.account_id == account_id && b.calendar_id == calendar_id => {
                    b.intervals.push((start, end));
                    b.event_ids.push(ID_SEP);
                    b.event_ids.push_str(&id);
                }
                _ => out.push(BusyRuns {
                    account_id,
                    calendar_id,
                    intervals: vec![(start, end)],
                    event_ids: id,
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unpack_filters_and_sorts_a_day() {
        let spans = "\u{1e}30,40,b\u{1f}\u{1e}10,20,a,with,commas\u{1f}\u{1e}50,60,\u{1f}\u{1e}junk\u{1f}\u{1e}x,1,y\u{1f}\u{1e}-5,70,é\u{1f}";
        let mut out = Vec::new();
        super::unpack_day(spans, 15, 55, &mut out);
        assert_eq!(
            out,
            vec![
                (-5, 70, "é"),
                (10, 20, "a,with,commas"),
                (30, 40, "b"),
                (50, 60, "")
            ]
        );
        out.clear();
        super::unpack_day(spans, 20, 30, &mut out);
        assert_eq!(out, vec![(-5, 70, "é")]);
        out.clear();
        super::unpack_day("", 0, 100, &mut out);
        assert_eq!(out, vec![]);
        super::unpack_day("\u{1e}1,2", 0, 100, &mut out);
        assert_eq!(out, vec![], "an unterminated entry is not read");
    }

    #[test]
    fn int_reads_what_the_triggers_print() {
        assert_eq!(super::int(b"1733097600000"), Some(1_733_097_600_000));
        assert_eq!(super::int(b"-86400000"), Some(-86_400_000));
        assert_eq!(super::int(b"0"), Some(0));
        for bad in [&b""[..], b"-", b"1x", b"1 ", b"+1", b"1234567890123456789"] {
            assert_eq!(super::int(bad), None, "{bad:?}");
        }
    }
}
