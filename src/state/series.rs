//! Bucketed event counts over a sliding window.
//!
//! A [`Series`] keeps the number of events in fixed-width time buckets: bucket
//! `b` holds the events whose time `t` satisfies `t / width == b`, i.e. the
//! seconds `[b * width, (b + 1) * width)`. Only the newest buckets are held
//! (newest first), so the memory (and cookie) cost of a tracker is bounded by
//! the number of buckets its window needs, not by the number of events.
//!
//! # The counting guarantee
//!
//! [`Series::count_within`]`(now, window)` adds up every held bucket that
//! overlaps `[now - window, now]`. For events that happened at or before `now`,
//! with a series that was fed with `max_buckets >= `[`buckets_needed`]`(window, width)`
//! and pruned with `keep >= window` at times `<= now`, and counts below
//! saturation:
//!
//! ```text
//! exact(window) <= count_within(now, window) <= exact(window + width - 1)
//! ```
//!
//! where `exact(w)` is the number of events with a time in `[now - w, now]`.
//! Put differently: an event is counted for at least `window` and at most
//! `window + width - 1` seconds after it happened (one bucket of slack). Proof
//! sketch: an event at `t` in `[now - window, now]` lies in a bucket between
//! `(now - window) / width` and `now / width`, both bounds included, so it is
//! counted; a counted event lies in a bucket `b >= (now - window) / width`, so
//! `t >= b * width > now - window - width`. The property tests in
//! `tests/state_props.rs` check this against an exact model.
//!
//! All arithmetic saturates: counts stop at `u32::MAX`, and times near `0` or
//! `u64::MAX` never panic.

use super::Timestamp;

/// How many buckets a window is split into by [`bucket_width_for`].
pub const BUCKETS_PER_WINDOW: u32 = 12;

/// Counts of events in fixed-width time buckets, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Series {
    /// Bucket width in seconds.
    pub width: u32,
    /// Index (time / width) of the newest bucket.
    pub head: u64,
    /// `counts[i]` is the count of bucket `head - i`.
    pub counts: Vec<u32>,
}

/// Bucket width for a window: the window split into [`BUCKETS_PER_WINDOW`]
/// (12) buckets, rounded up, at least 1 s (and at most `u32::MAX` s).
///
/// Rounding up keeps a window at no more than 12 buckets (14 held, see
/// [`buckets_needed`]), which bounds the cookie.
pub fn bucket_width_for(window: u64) -> u32 {
    let width = window.div_ceil(u64::from(BUCKETS_PER_WINDOW)).max(1);
    u32::try_from(width).unwrap_or(u32::MAX)
}

/// The `max_buckets` to pass to [`Series::add`] so that
/// [`Series::count_within`] keeps its guarantee for `window`: a window of
/// `window` seconds overlaps at most `window / width + 2` buckets.
pub fn buckets_needed(window: u64, width: u32) -> usize {
    let buckets = (window / u64::from(width.max(1))).saturating_add(2);
    usize::try_from(buckets).unwrap_or(usize::MAX)
}

impl Series {
    /// An empty series with buckets of `width` seconds (0 is treated as 1).
    pub fn new(width: u32) -> Self {
        Series {
            width: width.max(1),
            head: 0,
            counts: Vec::new(),
        }
    }

    /// The bucket width in seconds, never 0 (a `width` of 0 counts as 1).
    fn width_secs(&self) -> u64 {
        u64::from(self.width.max(1))
    }

    /// Record `n` events at time `at`.
    ///
    /// An event in a bucket newer than the newest one advances `head`, shifting
    /// older buckets back (those past `max_buckets` fall off). An event in an
    /// older bucket is added to that bucket if it is among the `max_buckets`
    /// newest, else it is dropped. The series never holds more than
    /// `max_buckets` entries (a `max_buckets` of 0 is treated as 1). Adding 0
    /// events changes nothing.
    pub fn add(&mut self, at: Timestamp, n: u32, max_buckets: usize) {
        if n == 0 {
            return;
        }
        let width = self.width_secs();
        if let Some(c) = slot(&mut self.head, &mut self.counts, at / width, max_buckets) {
            *c = c.saturating_add(n);
        }
    }

    /// Raises the bucket of time `at` to at least `v` (a maximum per bucket
    /// rather than a count: the deepest scroll). The same bucket rules as
    /// [`Series::add`]; a `v` of 0 changes nothing.
    pub fn raise(&mut self, at: Timestamp, v: u32, max_buckets: usize) {
        if v == 0 {
            return;
        }
        let width = self.width_secs();
        if let Some(c) = slot(&mut self.head, &mut self.counts, at / width, max_buckets) {
            *c = (*c).max(v);
        }
    }

    /// The largest bucket value in the window ending at `now` (0 with none):
    /// the counterpart of [`Series::count_within`] for series fed by
    /// [`Series::raise`], with the same one-bucket slack.
    pub fn max_within(&self, now: Timestamp, window: u64) -> u32 {
        within(self.head, self.width_secs(), &self.counts, now, window)
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Events in the window ending at `now`: the sum (saturating) of every held
    /// bucket that overlaps `[now - window, now]`.
    ///
    /// See the [module documentation](self) for the guarantee: an event is
    /// counted for at least `window` and at most `window + width - 1` seconds
    /// after it happened.
    pub fn count_within(&self, now: Timestamp, window: u64) -> u32 {
        within(self.head, self.width_secs(), &self.counts, now, window)
            .fold(0u32, |total, &c| total.saturating_add(c))
    }

    /// Drop the buckets entirely older than `now - keep` (their last second is
    /// before it), then trailing zero buckets.
    pub fn prune(&mut self, now: Timestamp, keep: u64) {
        prune(
            self.head,
            self.width_secs(),
            &mut self.counts,
            now,
            keep,
            |&c| c == 0,
        );
    }

    /// Whether the series counts no event at all.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

/// The slot of bucket `bucket` in `slots` (newest first, `slots[i]` is bucket
/// `head - i`), making room for it: a bucket newer than `head` advances
/// `head`, shifting older slots back (those past `max_buckets` fall off); an
/// older bucket among the `max_buckets` newest gets its slot; anything older is
/// `None` (dropped). `slots` never holds more than `max_buckets` entries (0 is
/// treated as 1). Shared by every bucketed series of the state (counts, value
/// sums), so they all keep the same window guarantee.
pub(crate) fn slot<'a, T: Clone + Default>(
    head: &mut u64,
    slots: &'a mut Vec<T>,
    bucket: u64,
    max_buckets: usize,
) -> Option<&'a mut T> {
    let max = max_buckets.max(1);
    if slots.is_empty() {
        // No data: `head` means nothing yet, start at this bucket.
        *head = bucket;
    }
    let index = if bucket > *head {
        let shift = bucket - *head;
        match usize::try_from(shift) {
            Ok(shift) if shift < max => {
                slots.truncate(max - shift);
                slots.splice(0..0, std::iter::repeat_n(T::default(), shift));
            }
            _ => slots.clear(),
        }
        *head = bucket;
        0
    } else {
        match usize::try_from(*head - bucket) {
            Ok(index) if index < max => index,
            _ => {
                slots.truncate(max);
                return None;
            }
        }
    };
    if slots.len() <= index {
        slots.resize(index + 1, T::default());
    }
    slots.truncate(max);
    slots.get_mut(index)
}

/// The slots of the buckets that overlap `[now - window, now]`.
pub(crate) fn within<T>(
    head: u64,
    width: u64,
    slots: &[T],
    now: Timestamp,
    window: u64,
) -> impl Iterator<Item = &T> {
    let width = width.max(1);
    let newest = now / width;
    let oldest = now.saturating_sub(window) / width;
    slots
        .iter()
        .enumerate()
        .map_while(move |(i, s)| {
            let bucket = u64::try_from(i).ok().and_then(|i| head.checked_sub(i))?;
            (bucket >= oldest).then_some((bucket, s))
        })
        .filter(move |(bucket, _)| *bucket <= newest)
        .map(|(_, s)| s)
}

/// Drops the slots of buckets entirely older than `now - keep` (their last
/// second is before it), then trailing empty slots.
pub(crate) fn prune<T>(
    head: u64,
    width: u64,
    slots: &mut Vec<T>,
    now: Timestamp,
    keep: u64,
    empty: impl Fn(&T) -> bool,
) {
    // Bucket b ends at (b + 1) * width, so it is kept iff b >= cutoff / width.
    let oldest_kept = now.saturating_sub(keep) / width.max(1);
    match head.checked_sub(oldest_kept) {
        None => slots.clear(),
        Some(span) => {
            let len = usize::try_from(span.saturating_add(1)).unwrap_or(usize::MAX);
            slots.truncate(len);
        }
    }
    while slots.last().is_some_and(&empty) {
        slots.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_is_a_twelfth_rounded_up_and_at_least_one() {
        assert_eq!(bucket_width_for(0), 1);
        assert_eq!(bucket_width_for(5), 1);
        assert_eq!(bucket_width_for(12), 1);
        assert_eq!(bucket_width_for(13), 2);
        assert_eq!(bucket_width_for(600), 50);
        assert_eq!(bucket_width_for(u64::MAX), u32::MAX);
        assert_eq!(buckets_needed(600, 50), 14);
        assert_eq!(buckets_needed(u64::MAX, 0), usize::MAX);
    }

    #[test]
    fn counts_buckets_overlapping_the_window() {
        let mut s = Series::new(10);
        s.add(100, 1, 14); // bucket 10
        s.add(115, 2, 14); // bucket 11
        s.add(129, 3, 14); // bucket 12
        assert_eq!(s.head, 12);
        assert_eq!(s.counts, vec![3, 2, 1]);
        assert_eq!(s.count_within(129, 0), 3);
        assert_eq!(s.count_within(129, 14), 5); // [115, 129] -> buckets 11..=12
        assert_eq!(s.count_within(129, 29), 6); // [100, 129]
        assert_eq!(s.count_within(140, 5), 0);
        assert_eq!(s.count_within(90, 100), 0); // all in the future of `now`
    }

    #[test]
    fn out_of_order_events_land_in_their_bucket_or_drop() {
        let mut s = Series::new(1);
        s.add(10, 1, 3);
        s.add(8, 1, 3); // index 2, held
        assert_eq!(s.counts, vec![1, 0, 1]);
        s.add(7, 1, 3); // index 3, dropped
        assert_eq!(s.counts, vec![1, 0, 1]);
        s.add(11, 1, 3); // shifts the bucket of 8 out
        assert_eq!(s.counts, vec![1, 1, 0]);
        s.add(1_000, 1, 3);
        assert_eq!((s.head, s.counts.clone()), (1_000, vec![1]));
    }

    #[test]
    fn never_holds_more_than_max_buckets() {
        let mut s = Series {
            width: 1,
            head: 10,
            counts: vec![1; 20],
        };
        s.add(10, 1, 5);
        assert_eq!(s.counts.len(), 5);
        s.add(12, 1, 4);
        assert_eq!(s.counts, vec![1, 0, 2, 1]);
        s.add(0, 1, 0);
        assert_eq!(s.counts, vec![1]);
    }

    #[test]
    fn saturates_and_survives_extreme_times() {
        let mut s = Series::new(0);
        s.add(u64::MAX, u32::MAX, usize::MAX);
        s.add(u64::MAX, 5, usize::MAX);
        assert_eq!(s.count_within(u64::MAX, u64::MAX), u32::MAX);
        s.add(0, 1, 3);
        s.prune(u64::MAX, 0);
        assert!(!s.is_empty());
        s.prune(0, u64::MAX);
        assert!(!s.is_empty());
        let mut t = Series {
            width: 0,
            head: 1,
            counts: vec![1, 1, 1, 1],
        };
        assert_eq!(t.count_within(u64::MAX, u64::MAX), 2);
        t.prune(u64::MAX, u64::MAX);
        assert_eq!(t.counts, vec![1, 1]);
    }

    #[test]
    fn prune_drops_old_buckets_and_trailing_zeros() {
        let mut s = Series {
            width: 10,
            head: 20,
            counts: vec![0, 1, 0, 0, 4, 5],
        };
        // cutoff 170: bucket 16 ends at 170 (dropped), bucket 17 kept.
        s.prune(200, 30);
        assert_eq!(s.counts, vec![0, 1]);
        s.prune(300, 30);
        assert!(s.counts.is_empty());
        assert!(s.is_empty());
    }
}
