//! Bucketed event counts over a sliding window.
//!
//! OWNER: state helper.

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
