//! Sets of instants as sorted, disjoint, half-open runs of ticks.
//!
//! A tick is half a nanosecond: instant `t` (in nanoseconds) is tick `2t`,
//! and the odd tick `2t + 1` stands for the open gap `(t, t + 1ns)`. Inputs
//! only ever have nanosecond endpoints, so every set the engine builds is
//! constant on such gaps, and a closed interval of instants `[a, b]` is
//! exactly the half-open run `[2a, 2b + 1)`. That lets one set of half-open
//! primitives handle both the half-open busy/free intervals and the closed
//! sets of valid starts, and makes "touching" closed intervals (which share
//! a point) overlap, while `[9:00, 9:00]` and `[9:01, 9:05]` stay apart.

/// Half-nanoseconds since the Unix epoch; `i128` so that no sum of a
/// `Timestamp` and `SignedDuration`s can overflow.
pub(crate) type Tick = i128;

/// A half-open run `[start, end)` of ticks.
pub(crate) type Run = (Tick, Tick);

/// Below this many descents, `normalize` merges runs instead of sorting.
const FEW_RUNS: usize = 16;

/// Sorts `runs`, drops empty ones and merges overlapping or touching ones.
pub(crate) fn normalize(runs: &mut Vec<Run>) {
    runs.retain(|r| r.0 < r.1);
    // The merge below keeps the larger end, so the order of ends is moot.
    // The store hands each member's busy intervals over sorted per
    // calendar: one calendar is then one pass, and a few calendars are a
    // few sorted runs one after another, which the stable sort merges
    // (O(n log runs)). Anything else is sorted from scratch, where the
    // unstable sort is the faster.
    match runs.windows(2).filter(|w| w[1].0 < w[0].0).count() {
        0 => {}
        d if d < FEW_RUNS => runs.sort_by_key(|r| r.0),
        _ => runs.sort_unstable_by_key(|r| r.0),
    }
    let mut kept = 0;
    for i in 0..runs.len() {
        let run = runs[i];
        if kept > 0 && run.0 <= runs[kept - 1].1 {
            if run.1 > runs[kept - 1].1 {
                runs[kept - 1].1 = run.1;
            }
        } else {
            runs[kept] = run;
            kept += 1;
        }
    }
    runs.truncate(kept);
}

/// Appends `[start, end)` to a run list built in ascending start order,
/// merging with the last run when they touch.
pub(crate) fn push_merge(out: &mut Vec<Run>, start: Tick, end: Tick) {
    if start >= end {
        return;
    }
    if let Some(last) = out.last_mut()
        && start <= last.1
    {
        if end > last.1 {
            last.1 = end;
        }
        return;
    }
    out.push((start, end));
}

/// `a ∩ b` for normalized inputs; the result is normalized.
pub(crate) fn intersect(a: &[Run], b: &[Run], out: &mut Vec<Run>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// `a ∪ b` for normalized inputs; the result is normalized.
pub(crate) fn union(a: &[Run], b: &[Run], out: &mut Vec<Run>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i].0 <= b[j].0);
        let r = if take_a {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        push_merge(out, r.0, r.1);
    }
}

/// `[lo, hi) \ runs` for normalized `runs`.
pub(crate) fn complement_within(runs: &[Run], lo: Tick, hi: Tick, out: &mut Vec<Run>) {
    out.clear();
    let mut cursor = lo;
    for &(start, end) in runs {
        if end <= cursor {
            continue;
        }
        if start >= hi {
            break;
        }
        if start > cursor {
            out.push((cursor, start));
        }
        cursor = end;
        if cursor >= hi {
            return;
        }
    }
    if cursor < hi {
        out.push((cursor, hi));
    }
}

/// Scratch space for [`at_least`].
#[derive(Default)]
pub(crate) struct Sweep {
    starts: Vec<Tick>,
    ends: Vec<Tick>,
    tmp: Vec<Tick>,
    bounds: Vec<usize>,
    next: Vec<usize>,
}

/// Merges the sorted `parts` into one sorted `out`, pairwise in rounds
/// (O(total · log parts), sequential memory) instead of sorting their
/// concatenation: every member's runs already arrive sorted.
fn merge_sorted<T: Copy + Ord>(
    parts: impl Iterator<Item = impl Iterator<Item = T>>,
    out: &mut Vec<T>,
    tmp: &mut Vec<T>,
    bounds: &mut Vec<usize>,
    next: &mut Vec<usize>,
) {
    out.clear();
    bounds.clear();
    bounds.push(0);
    for p in parts {
        out.extend(p);
        bounds.push(out.len());
    }
    while bounds.len() > 2 {
        tmp.clear();
        next.clear();
        next.push(0);
        let segments = bounds.len() - 1;
        let mut k = 0;
        while k < segments {
            let (a, b) = (bounds[k], bounds[k + 1]);
            let c = if k + 1 < segments { bounds[k + 2] } else { b };
            let (mut i, mut j) = (a, b);
            while i < b && j < c {
                if out[j] < out[i] {
                    tmp.push(out[j]);
                    j += 1;
                } else {
                    tmp.push(out[i]);
                    i += 1;
                }
            }
            tmp.extend_from_slice(&out[i..b]);
            tmp.extend_from_slice(&out[j..c]);
            next.push(tmp.len());
            k += 2;
        }
        std::mem::swap(out, tmp);
        std::mem::swap(bounds, next);
    }
}

/// The ticks covered by at least `n` (≥ 1) of the normalized `sets`.
pub(crate) fn at_least(sets: &[&[Run]], n: usize, sweep: &mut Sweep, out: &mut Vec<Run>) {
    out.clear();
    debug_assert!(n >= 1);
    if n > sets.len() {
        return;
    }
    if n == sets.len() {
        // Intersection needs no sort: chain two-pointer merges.
        let mut acc: Vec<Run> = sets[0].to_vec();
        let mut tmp = Vec::new();
        for set in &sets[1..] {
            intersect(&acc, set, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if acc.is_empty() {
                break;
            }
        }
        *out = acc;
        return;
    }
    let Sweep {
        starts,
        ends,
        tmp,
        bounds,
        next,
    } = sweep;
    if n == 1 {
        // Unions in a balanced tree: each merge also joins overlapping runs,
        // so a pool's lists shrink as they climb (free time overlaps), and
        // the work is near linear instead of a sort of every run.
        let mut level: Vec<Vec<Run>> = sets.iter().map(|s| s.to_vec()).collect();
        while level.len() > 1 {
            let mut up = Vec::with_capacity(level.len().div_ceil(2));
            let mut it = level.into_iter();
            while let Some(a) = it.next() {
                match it.next() {
                    Some(b) => {
                        let mut u = Vec::with_capacity(a.len() + b.len());
                        union(&a, &b, &mut u);
                        up.push(u);
                    }
                    None => up.push(a),
                }
            }
            level = up;
        }
        *out = level.pop().unwrap_or_default();
        return;
    }
    // Starts and ends merged apart: each member's runs are sorted and
    // disjoint, so both its starts and its ends are sorted lists.
    merge_sorted(
        sets.iter().map(|s| s.iter().map(|r| r.0)),
        starts,
        tmp,
        bounds,
        next,
    );
    merge_sorted(
        sets.iter().map(|s| s.iter().map(|r| r.1)),
        ends,
        tmp,
        bounds,
        next,
    );
    let (mut i, mut j) = (0, 0);
    let mut count = 0usize;
    let mut open: Option<Tick> = None;
    // Every run ends after it starts, so the ends never run out first.
    while j < ends.len() {
        let at = match starts.get(i) {
            Some(&s) if s < ends[j] => s,
            _ => ends[j],
        };
        // Every boundary at the same tick is applied before judging it, so a
        // run ending where another starts does not split the coverage.
        while j < ends.len() && ends[j] == at {
            count -= 1;
            j += 1;
        }
        while i < starts.len() && starts[i] == at {
            count += 1;
            i += 1;
        }
        match (open, count >= n) {
            (None, true) => open = Some(at),
            (Some(start), false) => {
                out.push((start, at));
                open = None;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_merges_touching_and_drops_empty() {
        let mut v = vec![(5, 7), (1, 3), (3, 4), (9, 9), (10, 8), (6, 8)];
        normalize(&mut v);
        assert_eq!(v, vec![(1, 4), (5, 8)]);
    }

    #[test]
    fn normalize_sorts_few_runs_and_many_alike() {
        // Two calendars' sorted runs one after the other (the merge path),
        // and a shuffled list with many descents (the sort path).
        let few: Vec<Run> = (0..40).map(|i| (i * 10, i * 10 + 3)).collect();
        let mut two = [&few[20..], &few[..20]].concat();
        normalize(&mut two);
        assert_eq!(two, few);
        let mut many: Vec<Run> = (0..40)
            .map(|i| ((i * 17 % 40) * 10, (i * 17 % 40) * 10 + 3))
            .collect();
        normalize(&mut many);
        assert_eq!(many, few);
    }

    #[test]
    fn complement_clips_to_bounds() {
        let mut out = Vec::new();
        complement_within(&[(0, 2), (4, 6), (8, 20)], 1, 10, &mut out);
        assert_eq!(out, vec![(2, 4), (6, 8)]);
        complement_within(&[], 1, 10, &mut out);
        assert_eq!(out, vec![(1, 10)]);
    }

    #[test]
    fn at_least_counts_overlaps() {
        let a: &[Run] = &[(0, 10)];
        let b: &[Run] = &[(5, 15)];
        let c: &[Run] = &[(10, 20)];
        let mut ev = Sweep::default();
        let mut out = Vec::new();
        at_least(&[a, b, c], 2, &mut ev, &mut out);
        assert_eq!(out, vec![(5, 15)]);
        at_least(&[a, b, c], 1, &mut ev, &mut out);
        assert_eq!(out, vec![(0, 20)]);
        at_least(&[a, b, c], 3, &mut ev, &mut out);
        assert_eq!(out, vec![]);
        at_least(&[a, b], 2, &mut ev, &mut out);
        assert_eq!(out, vec![(5, 10)]);
    }
}
