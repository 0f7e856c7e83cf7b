//! Busy intervals read packed: one row per (account, calendar) whose text
//! is every interval's `start_ms,end_ms`, in start order. A cold
//! availability query then decodes integers, not one JSON value (with two
//! strings) per event.

use crate::{Db, Result, dispatch};

/// One calendar's busy intervals (milliseconds; usually in start order, not promised).
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
/// cannot be matched, so that event stays busy: never a double booking.
pub const ID_SEP: char = '\u{1f}';

/// The conditions of a busy event, as literals so both planners match the
/// partial covering index `events_busy_cover`.
const BUSY: &str = " AND deleted = FALSE AND transparency = 'opaque' AND status <> 'cancelled' AND participation <> 'declined'";

/// `a,b,c,d,…` into pairs; a malformed text (never written by us) is cut
/// where it stops parsing.
fn unpack(text: &str) -> Vec<(i64, i64)> {
    let mut nums = text.split(',').map_while(|n| n.parse::<i64>().ok());
    let mut out = Vec::with_capacity(text.len() / 28);
    while let (Some(a), Some(b)) = (nums.next(), nums.next()) {
        out.push((a, b));
    }
    out
}

impl Db {
    /// Busy intervals of `account_ids` overlapping `[from_ms, to_ms)`, one
    /// entry per calendar. One query when each account's busy events are in
    /// one calendar (the usual case); a second, per calendar, for the
    /// accounts with several.
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
        // Grouped by account alone, the covering index's order serves the
        // grouping (no temporary B-tree), and the starts and ends are two
        // aggregates of bare integers: SQLite formats nothing else per row.
        // Both aggregates see the rows in the same order, so they pair up.
        let rows: Vec<(String, String, String, String, String, String)> = dispatch!(self, |p| {
            let agg = if IS_PG { "string_agg" } else { "group_concat" };
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT account_id, min(calendar_id), max(calendar_id), {agg}(CAST(start_ms AS TEXT), ','), {agg}(CAST(end_ms AS TEXT), ','), {agg}(coalesce(event_id, ''), "
            ));
            qb.push_bind(ID_SEP.to_string())
                .push(") FROM events WHERE account_id IN (");
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(") AND start_ms < ")
                .push_bind(to_ms)
                .push(" AND end_ms > ")
                .push_bind(from_ms)
                .push(BUSY)
                .push(" GROUP BY account_id");
            qb.build_query_as().fetch_all(p).await?
        });
        let mut out = Vec::with_capacity(rows.len());
        let mut several = Vec::new();
        for (account_id, first, last, starts, ends, event_ids) in rows {
            if first != last {
                several.push(account_id);
                continue;
            }
            let intervals = starts
                .split(',')
                .zip(ends.split(','))
                .map_while(|(s, e)| Some((s.parse().ok()?, e.parse().ok()?)))
                .collect();
            out.push(BusyRuns {
                account_id,
                calendar_id: first,
                intervals,
                event_ids,
            });
        }
        if several.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String, String, String)> = dispatch!(self, |p| {
            let agg = if IS_PG { "string_agg" } else { "group_concat" };
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT account_id, calendar_id, {agg}(CAST(start_ms AS TEXT) || ',' || CAST(end_ms AS TEXT), ','), {agg}(coalesce(event_id, ''), "
            ));
            qb.push_bind(ID_SEP.to_string())
                .push(") FROM events WHERE account_id IN (");
            let mut sep = qb.separated(", ");
            for id in &several {
                sep.push_bind(id);
            }
            qb.push(") AND start_ms < ")
                .push_bind(to_ms)
                .push(" AND end_ms > ")
                .push_bind(from_ms)
                .push(BUSY)
                .push(" GROUP BY account_id, calendar_id");
            qb.build_query_as().fetch_all(p).await?
        });
        out.extend(
            rows.into_iter()
                .map(|(account_id, calendar_id, text, event_ids)| BusyRuns {
                    account_id,
                    calendar_id,
                    intervals: unpack(&text),
                    event_ids,
                }),
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unpack_pairs() {
        assert_eq!(super::unpack("1,2,-3,4"), vec![(1, 2), (-3, 4)]);
        assert_eq!(super::unpack(""), vec![]);
        assert_eq!(super::unpack("1,2,3"), vec![(1, 2)]);
    }
}
