//! Sums and maxima of a numeric event property over a sliding window (the
//! "monetary" of RFM: what a visitor spent in 90 days, their largest order).
//!
//! A [`ValueSeries`] is bucketed exactly like a count [`super::Series`] (same
//! widths, same slot rules, so the same one-bucket slack), but each bucket
//! holds the sum and the maximum of the values added to it and how many there
//! were. Values are kept in hundredths (cents) as signed integers: negative
//! values (refunds) are allowed and lower the sum; amounts are clamped to
//! ±2^53 hundredths so that every sum stays exact and every encoding fits.

use super::series::{prune, slot, within};
use super::Timestamp;

/// The largest magnitude of a stored amount, in hundredths.
pub const MAX_HUNDREDTHS: i64 = 1 << 53;

/// One bucket: how many values, their sum and their maximum (hundredths).
/// A bucket with `events == 0` is empty and its `sum`/`max` are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValueBucket {
    pub events: u32,
    pub sum: i64,
    pub max: i64,
}

/// A value tracker's buckets, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueSeries {
    /// Hash of the tracker definition (event, property, filters, window).
    pub tracker: u32,
    /// Bucket width in seconds.
    pub width: u32,
    /// Index (time / width) of the newest bucket.
    pub head: u64,
    /// `buckets[i]` is bucket `head - i`.
    pub buckets: Vec<ValueBucket>,
}

/// An amount in hundredths, rounded to the nearest and clamped to
/// ±[`MAX_HUNDREDTHS`]; `None` for NaN.
pub fn to_hundredths(amount: f64) -> Option<i64> {
    if amount.is_nan() {
        return None;
    }
    let max = MAX_HUNDREDTHS as f64;
    Some((amount * 100.0).round().clamp(-max, max) as i64)
}

impl ValueSeries {
    pub fn new(tracker: u32, width: u32) -> Self {
        ValueSeries {
            tracker,
            width: width.max(1),
            head: 0,
            buckets: Vec::new(),
        }
    }

    fn width_secs(&self) -> u64 {
        u64::from(self.width.max(1))
    }

    /// Adds one value (hundredths) at time `at`, keeping at most `max_buckets`
    /// buckets (see [`super::series::buckets_needed`]).
    pub fn add(&mut self, at: Timestamp, hundredths: i64, max_buckets: usize) {
        let v = hundredths.clamp(-MAX_HUNDREDTHS, MAX_HUNDREDTHS);
        let width = self.width_secs();
        if let Some(b) = slot(&mut self.head, &mut self.buckets, at / width, max_buckets) {
            b.max = if b.events == 0 { v } else { b.max.max(v) };
            b.sum = b
                .sum
                .saturating_add(v)
                .clamp(-MAX_HUNDREDTHS, MAX_HUNDREDTHS);
            b.events = b.events.saturating_add(1);
        }
    }

    /// The sum (hundredths) of the values in the window ending at `now`, and
    /// the largest of them (`None` when the window holds none).
    pub fn within(&self, now: Timestamp, window: u64) -> (i64, Option<i64>) {
        within(self.head, self.width_secs(), &self.buckets, now, window)
            .filter(|b| b.events > 0)
            .fold((0i64, None), |(sum, max), b| {
                (
                    sum.saturating_add(b.sum),
                    Some(max.map_or(b.max, |m: i64| m.max(b.max))),
                )
            })
    }

    /// Drops buckets entirely older than `now - keep`, then trailing empty ones.
    pub fn prune(&mut self, now: Timestamp, keep: u64) {
        prune(
            self.head,
            self.width_secs(),
            &mut self.buckets,
            now,
            keep,
            |b| b.events == 0,
        );
    }

    /// Whether no bucket holds a value.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.events == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_maxima_over_the_window_refunds_included() {
        let mut v = ValueSeries::new(1, 10);
        v.add(100, 4_999, 14);
        v.add(105, -1_000, 14); // a refund, same bucket
        v.add(130, 20_000, 14);
        assert_eq!(v.within(130, 0), (20_000, Some(20_000)));
        assert_eq!(v.within(130, 30), (23_999, Some(20_000)));
        assert_eq!(v.within(500, 30), (0, None));
        v.prune(500, 30);
        assert!(v.is_empty() && v.buckets.is_empty());
    }

    #[test]
    fn a_lone_negative_value_is_its_own_maximum() {
        let mut v = ValueSeries::new(1, 1);
        v.add(5, -250, 3);
        assert_eq!(v.within(5, 10), (-250, Some(-250)));
    }

    #[test]
    fn amounts_round_to_hundredths_and_clamp() {
        assert_eq!(to_hundredths(49.994), Some(4_999));
        assert_eq!(to_hundredths(-0.015), Some(-2));
        assert_eq!(to_hundredths(f64::INFINITY), Some(MAX_HUNDREDTHS));
        assert_eq!(to_hundredths(f64::NAN), None);
        let mut v = ValueSeries::new(1, 1);
        v.add(1, i64::MAX, 3);
        v.add(1, i64::MAX, 3);
        assert_eq!(v.within(1, 1).0, MAX_HUNDREDTHS);
    }
}
