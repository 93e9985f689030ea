//! Making a state fit the decode limits and the size cap, oldest data first.
//! The order is documented on [`super::encode`].

use super::{
    v5, MAX_AFFINITIES, MAX_BUCKETS_PER_SERIES, MAX_CATEGORIES, MAX_EXPERIMENTS,
    MAX_GOALS_PER_EXPERIMENT, MAX_LAST_EVENTS, MAX_MEMBERSHIPS, MAX_PAYLOAD_LEN, MAX_SERIES,
    MAX_VALUE_SERIES,
};
use crate::state::affinity::MAX_NAME_BYTES;
use crate::state::{Series, ValueSeries, VisitorState};

/// Whether `state` is within the decode limits (so that what we write, we read).
pub(super) fn within_limits(state: &VisitorState) -> bool {
    v5::campaign_within_limits(state)
        && state.counts.len() <= MAX_SERIES
        && state.last_events.len() <= MAX_LAST_EVENTS
        && state.memberships.len() <= MAX_MEMBERSHIPS
        && state.experiments.len() <= MAX_EXPERIMENTS
        && state.experiments.iter().all(|e| {
            e.goals.len() <= MAX_GOALS_PER_EXPERIMENT
                && e.covariates.len() <= MAX_GOALS_PER_EXPERIMENT
        })
        && state
            .counts
            .iter()
            .all(|wc| wc.series.counts.len() <= MAX_BUCKETS_PER_SERIES)
        && state.values.len() <= MAX_VALUE_SERIES
        && state
            .values
            .iter()
            .all(|v| v.buckets.len() <= MAX_BUCKETS_PER_SERIES)
        && state.affinities.len() <= MAX_AFFINITIES
        && state.affinities.iter().all(|a| {
            a.weights.len() <= MAX_CATEGORIES
                && a.weights.iter().all(|c| c.name.len() <= MAX_NAME_BYTES)
        })
}

/// The payload of `state` in the written format.
pub(super) fn payload(state: &VisitorState) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    v5::write(state, &mut out);
    out
}

fn fits(state: &VisitorState) -> bool {
    payload(state).len() <= MAX_PAYLOAD_LEN
}

/// A copy of `state` within the limits and the cap, having lost as little and
/// as recent data as the documented order allows.
pub(super) fn fit(state: &VisitorState) -> VisitorState {
    let mut s = state.clone();

    // 0. Lossless: trailing zero buckets count nothing.
    for wc in &mut s.counts {
        strip_trailing_zeros(&mut wc.series.counts);
    }
    for v in &mut s.values {
        strip_empty_buckets(v);
    }

    // 1. The decode limits.
    if !v5::campaign_within_limits(&s) {
        s.campaign.sort_by_key(|u| u.param);
        s.campaign.dedup_by_key(|u| u.param);
        s.campaign.retain(|u| {
            usize::from(u.param) < crate::state::campaign::UTM_PARAMS.len()
                && u.value.len() <= crate::state::campaign::MAX_VALUE_BYTES
        });
    }
    for wc in &mut s.counts {
        wc.series.counts.truncate(MAX_BUCKETS_PER_SERIES);
        strip_trailing_zeros(&mut wc.series.counts);
    }
    if s.counts.len() > MAX_SERIES {
        let order = oldest_first(s.counts.iter().map(|wc| activity(&wc.series)));
        let drop = without(&order[..s.counts.len() - MAX_SERIES], s.counts.len());
        s.counts = keep(&s.counts, &drop);
    }
    if s.last_events.len() > MAX_LAST_EVENTS {
        let order = oldest_first(s.last_events.iter().map(|e| e.at));
        let drop = without(
            &order[..s.last_events.len() - MAX_LAST_EVENTS],
            s.last_events.len(),
        );
        s.last_events = keep(&s.last_events, &drop);
    }
    if s.memberships.len() > MAX_MEMBERSHIPS {
        let order = membership_order(&s);
        let drop = without(
            &order[..s.memberships.len() - MAX_MEMBERSHIPS],
            s.memberships.len(),
        );
        s.memberships = keep(&s.memberships, &drop);
    }
    for v in &mut s.values {
        v.buckets.truncate(MAX_BUCKETS_PER_SERIES);
        strip_empty_buckets(v);
    }
    if s.values.len() > MAX_VALUE_SERIES {
        let order = oldest_first(s.values.iter().map(value_activity));
        let drop = without(&order[..s.values.len() - MAX_VALUE_SERIES], s.values.len());
        s.values = keep(&s.values, &drop);
    }
    for a in &mut s.affinities {
        a.weights.retain(|c| c.name.len() <= MAX_NAME_BYTES);
        a.weights.truncate(MAX_CATEGORIES);
    }
    if s.affinities.len() > MAX_AFFINITIES {
        let order = oldest_first(s.affinities.iter().map(|a| a.updated));
        let drop = without(
            &order[..s.affinities.len() - MAX_AFFINITIES],
            s.affinities.len(),
        );
        s.affinities = keep(&s.affinities, &drop);
    }
    for e in &mut s.experiments {
        e.goals.truncate(MAX_GOALS_PER_EXPERIMENT);
        e.covariates.truncate(MAX_GOALS_PER_EXPERIMENT);
    }
    if s.experiments.len() > MAX_EXPERIMENTS {
        let order = experiment_order(&s);
        let drop = without(
            &order[..s.experiments.len() - MAX_EXPERIMENTS],
            s.experiments.len(),
        );
        s.experiments = keep(&s.experiments, &drop);
    }
    if fits(&s) {
        return s;
    }

    // 2. Old buckets, by the time they end, keeping each series' newest bucket.
    let mut ends: Vec<u64> = s
        .counts
        .iter()
        .flat_map(|wc| (1..wc.series.counts.len()).map(|i| bucket_end(&wc.series, i)))
        .chain(
            s.values
                .iter()
                .flat_map(|v| (1..v.buckets.len()).map(|i| end_of(v.head, v.width, i))),
        )
        .collect();
    ends.sort_unstable();
    ends.dedup();
    let drop_buckets = |k: usize| {
        let mut t = s.clone();
        if k > 0 {
            let cutoff = ends[k - 1];
            for wc in &mut t.counts {
                let series = &mut wc.series;
                let kept = (1..series.counts.len())
                    .find(|&i| bucket_end(series, i) <= cutoff)
                    .unwrap_or(series.counts.len());
                series.counts.truncate(kept);
                strip_trailing_zeros(&mut series.counts);
            }
            for v in &mut t.values {
                let kept = (1..v.buckets.len())
                    .find(|&i| end_of(v.head, v.width, i) <= cutoff)
                    .unwrap_or(v.buckets.len());
                v.buckets.truncate(kept);
                strip_empty_buckets(v);
            }
        }
        t
    };
    match smallest_fitting(ends.len(), drop_buckets) {
        (t, true) => return t,
        (t, false) => s = t,
    }

    // 3. The weakest affinity categories (never an affinity's strongest).
    let mut weak: Vec<(u32, usize, usize)> = s
        .affinities
        .iter()
        .enumerate()
        .flat_map(|(a, aff)| {
            aff.weights
                .iter()
                .enumerate()
                .skip(1)
                .map(move |(c, w)| (w.weight, a, c))
        })
        .collect();
    weak.sort_unstable_by_key(|&(w, a, c)| (w, a, std::cmp::Reverse(c)));
    let drop_categories = |k: usize| {
        let mut t = s.clone();
        for (a, aff) in t.affinities.iter_mut().enumerate() {
            let dropped: Vec<usize> = weak[..k].iter().filter(|w| w.1 == a).map(|w| w.2).collect();
            let mut i = 0;
            aff.weights.retain(|_| {
                i += 1;
                !dropped.contains(&(i - 1))
            });
        }
        t
    };
    match smallest_fitting(weak.len(), drop_categories) {
        (t, true) => return t,
        (t, false) => s = t,
    }

    // 4. Whole series, value series, affinities and last events, oldest
    //    activity first (in that order at equal times).
    let series_activity = s.counts.iter().map(|wc| activity(&wc.series));
    let value_activity = s.values.iter().map(value_activity);
    let affinity_activity = s.affinities.iter().map(|a| a.updated);
    let event_activity = s.last_events.iter().map(|e| e.at);
    let mut items: Vec<(u64, u8, usize)> = series_activity
        .enumerate()
        .map(|(i, t)| (t, 0, i))
        .chain(value_activity.enumerate().map(|(i, t)| (t, 1, i)))
        .chain(affinity_activity.enumerate().map(|(i, t)| (t, 2, i)))
        .chain(event_activity.enumerate().map(|(i, t)| (t, 3, i)))
        .collect();
    items.sort_unstable();
    let drop_items = |k: usize| {
        let mut drop = [
            vec![false; s.counts.len()],
            vec![false; s.values.len()],
            vec![false; s.affinities.len()],
            vec![false; s.last_events.len()],
        ];
        for &(_, kind, i) in &items[..k] {
            drop[usize::from(kind)][i] = true;
        }
        let mut t = s.clone();
        t.counts = keep(&s.counts, &drop[0]);
        t.values = keep(&s.values, &drop[1]);
        t.affinities = keep(&s.affinities, &drop[2]);
        t.last_events = keep(&s.last_events, &drop[3]);
        t
    };
    match smallest_fitting(items.len(), drop_items) {
        (t, true) => return t,
        (t, false) => s = t,
    }

    // 5. Memberships: pending ones (oldest first), then members (oldest first).
    let order = membership_order(&s);
    let drop_memberships = |k: usize| {
        let mut t = s.clone();
        t.memberships = keep(&s.memberships, &without(&order[..k], s.memberships.len()));
        t
    };
    match smallest_fitting(order.len(), drop_memberships) {
        (t, true) => return t,
        (t, false) => s = t,
    }

    // 6. Experiments: never exposed first, then the oldest exposures.
    let order = experiment_order(&s);
    let drop_experiments = |k: usize| {
        let mut t = s.clone();
        t.experiments = keep(&s.experiments, &without(&order[..k], s.experiments.len()));
        t
    };
    let (t, _) = smallest_fitting(order.len(), drop_experiments);
    // With no counts, values, affinities, events, memberships or experiments left, only
    // fixed-size fields remain: about 100 bytes, far below the cap.
    debug_assert!(fits(&t));
    t
}

/// Experiment indices in drop order: never exposed first (in list order),
/// then by exposure time, oldest first.
fn experiment_order(s: &VisitorState) -> Vec<usize> {
    let mut order: Vec<(Option<u64>, usize)> = s
        .experiments
        .iter()
        .enumerate()
        .map(|(i, e)| (e.exposed, i))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Binary search for the smallest `k` in `0..=n` such that `build(k)` fits,
/// assuming that dropping more never makes the payload longer. Returns that
/// state and `true`, or `build(n)` and `false` when even that does not fit.
fn smallest_fitting(n: usize, build: impl Fn(usize) -> VisitorState) -> (VisitorState, bool) {
    let all = build(n);
    if !fits(&all) {
        return (all, false);
    }
    let (mut lo, mut hi) = (0, n); // build(hi) fits
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(&build(mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (if hi == n { all } else { build(hi) }, true)
}

fn strip_trailing_zeros(counts: &mut Vec<u32>) {
    while counts.last() == Some(&0) {
        counts.pop();
    }
}

/// When bucket `i` of `series` ends (its first second after), 0 for entries
/// that would be before time 0.
fn bucket_end(series: &Series, i: usize) -> u64 {
    end_of(series.head, series.width, i)
}

/// When bucket `i` (newest first, from bucket `head`) of width `width` ends.
fn end_of(head: u64, width: u32, i: usize) -> u64 {
    let width = u64::from(width.max(1));
    u64::try_from(i)
        .ok()
        .and_then(|i| head.checked_sub(i))
        .map_or(0, |b| b.saturating_add(1).saturating_mul(width))
}

/// The end of the newest non-empty bucket of a value series, 0 for none.
fn value_activity(v: &ValueSeries) -> u64 {
    v.buckets
        .iter()
        .position(|b| b.events != 0)
        .map_or(0, |i| end_of(v.head, v.width, i))
}

fn strip_empty_buckets(v: &mut ValueSeries) {
    while v.buckets.last().is_some_and(|b| b.events == 0) {
        v.buckets.pop();
    }
}

/// The end of the newest non-zero bucket, 0 for a series that counts nothing.
fn activity(series: &Series) -> u64 {
    series
        .counts
        .iter()
        .position(|&c| c != 0)
        .map_or(0, |i| bucket_end(series, i))
}

/// Indices sorted by ascending time (stable: the earlier index first on ties).
fn oldest_first(times: impl Iterator<Item = u64>) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = times.enumerate().map(|(i, t)| (t, i)).collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Membership indices in drop order: pending before members, oldest `since` first.
fn membership_order(s: &VisitorState) -> Vec<usize> {
    let mut order: Vec<(bool, u64, usize)> = s
        .memberships
        .iter()
        .enumerate()
        .map(|(i, m)| (m.member, m.since, i))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, _, i)| i).collect()
}

/// A drop mask of length `len` with the given indices set.
fn without(indices: &[usize], len: usize) -> Vec<bool> {
    let mut mask = vec![false; len];
    for &i in indices {
        mask[i] = true;
    }
    mask
}

/// The items not marked in `drop`, in their original order.
fn keep<T: Clone>(items: &[T], drop: &[bool]) -> Vec<T> {
    items
        .iter()
        .zip(drop)
        .filter(|(_, &d)| !d)
        .map(|(x, _)| x.clone())
        .collect()
}
