//! One isolate's counts in memory, and the batches it sends to its shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::IsolateId;
use super::{hour_of, CounterSettings};
use crate::state::Timestamp;

/// Counts by counter name.
pub type Counts = BTreeMap<String, u64>;

/// What an isolate sends to its shard: the counts it recorded between two
/// sends, per UTC hour, under the id `(isolate, seq)`.
///
/// ```json
/// {"isolate":"00010203fafbfcff","seq":17,"hours":{"480000":{"page_views":12}}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub isolate: IsolateId,
    pub seq: u64,
    pub hours: BTreeMap<u64, Counts>,
}

impl Batch {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("batch serializes")
    }

    /// Parses a batch as the shard receives it; the message says what is wrong.
    pub fn from_json(text: &str) -> Result<Batch, String> {
        serde_json::from_str(text).map_err(|e| format!("not a counter batch: {e}"))
    }

    /// Sum of all counts (for reports).
    pub fn total(&self) -> u64 {
        self.hours.values().flat_map(|c| c.values()).sum()
    }
}

/// What an isolate's counting has done, for the health endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchStats {
    /// Counts thrown away: recorded while the open map was full, or in a batch
    /// that could not be delivered for `give_up_secs`.
    pub dropped: u64,
    /// Batches acknowledged by the shard.
    pub acked: u64,
    /// Send attempts that failed or timed out.
    pub failures: u64,
    /// Failures since the last acknowledgement.
    pub consecutive_failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Pending {
    batch: Batch,
    sealed_at: Timestamp,
    failures: u32,
    next_try: Timestamp,
    in_flight_since: Option<Timestamp>,
}

/// Counts recorded by one isolate, batched in memory and sent to its shard.
///
/// The Worker keeps one per isolate, calls [`record`](Self::record) while
/// handling requests, and after the response (`ctx.wait_until`):
///
/// ```text
/// if let Some(batch) = counters.take_send(now, false) {   // sync
///     match send_to_shard(&batch).await {                  // async, off the content path
///         Ok(()) => counters.ack(batch.seq),
///         Err(e) => counters.failed(batch.seq, now, e),    // re-sent later, same id
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CounterBatch {
    isolate: IsolateId,
    settings: CounterSettings,
    next_seq: u64,
    open: BTreeMap<u64, Counts>,
    open_entries: usize,
    pending: Option<Pending>,
    last_seal: Option<Timestamp>,
    stats: BatchStats,
}

impl CounterBatch {
    /// An empty batch for the isolate with this random id.
    pub fn new(isolate: IsolateId, settings: CounterSettings) -> Self {
        CounterBatch {
            isolate,
            settings,
            next_seq: 1,
            open: BTreeMap::new(),
            open_entries: 0,
            pending: None,
            last_seal: None,
            stats: BatchStats::default(),
        }
    }

    pub fn isolate(&self) -> &IsolateId {
        &self.isolate
    }

    pub fn settings(&self) -> &CounterSettings {
        &self.settings
    }

    /// Replaces the settings (the Worker learns them from its vars after the
    /// first count may have been recorded).
    pub fn set_settings(&mut self, settings: CounterSettings) {
        self.settings = settings;
    }

    pub fn stats(&self) -> &BatchStats {
        &self.stats
    }

    /// Adds `n` to counter `name` in UTC hour `hour`. A new (hour, name) pair
    /// beyond `max_open_entries` is dropped and counted in [`BatchStats::dropped`].
    pub fn add(&mut self, name: &str, hour: u64, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(c) = self.open.get_mut(&hour).and_then(|h| h.get_mut(name)) {
            *c = c.saturating_add(n);
            return;
        }
        if self.open_entries >= self.settings.max_open_entries {
            self.stats.dropped = self.stats.dropped.saturating_add(n);
            return;
        }
        self.open_entries += 1;
        self.open
            .entry(hour)
            .or_default()
            .insert(name.to_string(), n);
    }

    /// Adds `n` to counter `name` in the hour of `at`.
    pub fn record(&mut self, name: &str, at: Timestamp, n: u64) {
        self.add(name, hour_of(at), n);
    }

    /// The batch to send now, if any, marked as in flight:
    /// * the outstanding batch again (same id, same counts) once its retry is
    ///   due, or once its last attempt has gone unanswered for
    ///   `in_flight_timeout_secs`;
    /// * otherwise, if nothing is outstanding, everything recorded so far as a
    ///   new batch, at most once per `send_interval_secs`.
    ///
    /// `force` ignores the send interval and the retry delay (not an attempt
    /// still in flight): for the cron and the admin "publish now".
    ///
    /// A batch still unacknowledged `give_up_secs` after it was sealed is
    /// dropped (its counts go to [`BatchStats::dropped`]), so the shard's
    /// memory of applied ids (`seen_ttl_secs`) always outlives every retry.
    pub fn take_send(&mut self, now: Timestamp, force: bool) -> Option<Batch> {
        if let Some(p) = &self.pending {
            if now.saturating_sub(p.sealed_at) >= self.settings.give_up_secs {
                let lost = p.batch.total();
                self.stats.dropped = self.stats.dropped.saturating_add(lost);
                self.pending = None;
            }
        }
        if let Some(p) = &mut self.pending {
            let waiting = p
                .in_flight_since
                .is_some_and(|t| now >= t && now - t < self.settings.in_flight_timeout_secs);
            if waiting || (!force && now < p.next_try) {
                return None;
            }
            p.in_flight_since = Some(now);
            return Some(p.batch.clone());
        }
        if self.open.is_empty() {
            return None;
        }
        let recent = self
            .last_seal
            .is_some_and(|t| now >= t && now - t < self.settings.send_interval_secs);
        if recent && !force {
            return None;
        }
        let batch = Batch {
            isolate: self.isolate.clone(),
            seq: self.next_seq,
            hours: std::mem::take(&mut self.open),
        };
        self.open_entries = 0;
        self.next_seq += 1;
        self.last_seal = Some(now);
        self.pending = Some(Pending {
            batch: batch.clone(),
            sealed_at: now,
            failures: 0,
            next_try: now,
            in_flight_since: Some(now),
        });
        Some(batch)
    }

    /// The shard acknowledged batch `seq` (applied now or before): forget it.
    /// Returns whether it was the outstanding batch.
    pub fn ack(&mut self, seq: u64) -> bool {
        if self.pending.as_ref().is_some_and(|p| p.batch.seq == seq) {
            self.pending = None;
            self.stats.acked += 1;
            self.stats.consecutive_failures = 0;
            true
        } else {
            false
        }
    }

    /// Sending batch `seq` failed or its outcome is unknown: it is re-sent,
    /// unchanged, after an exponential backoff with jitter.
    pub fn failed(&mut self, seq: u64, now: Timestamp, error: impl Into<String>) {
        self.stats.failures += 1;
        self.stats.consecutive_failures = self.stats.consecutive_failures.saturating_add(1);
        self.stats.last_error = Some(error.into());
        let isolate = self.isolate.clone();
        let settings = self.settings.clone();
        if let Some(p) = self.pending.as_mut().filter(|p| p.batch.seq == seq) {
            p.failures = p.failures.saturating_add(1);
            p.in_flight_since = None;
            p.next_try = now + backoff_secs(&settings, &isolate, seq, p.failures);
        }
    }

    /// Counts of `hour` this isolate holds that its shard has not acknowledged.
    pub fn unflushed(&self, hour: u64) -> Counts {
        let mut out = self.open.get(&hour).cloned().unwrap_or_default();
        if let Some(counts) = self.pending.as_ref().and_then(|p| p.batch.hours.get(&hour)) {
            for (name, n) in counts {
                let c = out.entry(name.clone()).or_insert(0);
                *c = c.saturating_add(*n);
            }
        }
        out
    }

    /// Whether a batch is sealed and not yet acknowledged.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Distinct (hour, counter) pairs recorded and not yet sealed.
    pub fn open_entries(&self) -> usize {
        self.open_entries
    }

    /// Nothing recorded and nothing awaiting acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.pending.is_none()
    }
}

/// Delay before retry number `failures` (1 = the first retry):
/// `retry_base_secs * 2^(failures-1)`, capped at `retry_max_secs`, plus up to
/// half of that again as jitter derived from the isolate id and batch (so
/// isolates that lost their shard together do not come back together).
pub fn backoff_secs(
    settings: &CounterSettings,
    isolate: &IsolateId,
    seq: u64,
    failures: u32,
) -> u64 {
    let exp = failures.saturating_sub(1).min(20);
    let base = settings
        .retry_base_secs
        .max(1)
        .saturating_mul(1u64 << exp)
        .min(settings.retry_max_secs.max(1));
    let mut h = crate::util::hash::fnv1a64(isolate.as_str().as_bytes());
    h ^= seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(failures);
    h = h.wrapping_mul(0x2545_f491_4f6c_dd1d);
    base + (h >> 11) % (base / 2 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> CounterBatch {
        CounterBatch::new(IsolateId::from_bytes([0xab; 8]), CounterSettings::default())
    }

    #[test]
    fn one_batch_at_a_time_resent_unchanged_until_acked() {
        let mut b = batch();
        b.add("page_views", 10, 2);
        b.add("page_views", 10, 1);
        b.add("events:add_to_cart", 11, 1);
        b.add("ignored", 11, 0);
        let first = b.take_send(1000, false).unwrap();
        assert_eq!(
            first.to_json(),
            r#"{"isolate":"abababababababab","seq":1,"hours":{"10":{"page_views":3},"11":{"events:add_to_cart":1}}}"#
        );
        assert_eq!(Batch::from_json(&first.to_json()), Ok(first.clone()));
        b.add("page_views", 10, 5);
        assert_eq!(b.take_send(1001, true), None, "still in flight");
        b.failed(1, 1002, "timeout");
        assert_eq!(b.take_send(1003, false), None, "backing off");
        let again = b.take_send(1003, true).unwrap();
        assert_eq!(again, first, "same id, same counts");
        assert_eq!(b.unflushed(10)["page_views"], 8);
        assert!(b.ack(1));
        assert!(!b.ack(1));
        let next = b.take_send(1003 + 30, false).unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(next.hours[&10]["page_views"], 5);
        assert_eq!(b.stats().acked, 1);
        assert_eq!(b.stats().failures, 1);
    }

    #[test]
    fn sends_are_spaced_and_timeouts_retry() {
        let mut b = batch();
        assert_eq!(b.take_send(0, false), None, "nothing to send");
        b.add("x", 0, 1);
        let s = b.take_send(100, false).unwrap();
        b.ack(s.seq);
        b.add("x", 0, 1);
        assert_eq!(b.take_send(101, false), None, "within the send interval");
        let s = b.take_send(130, false).unwrap();
        // No answer at all: after the in-flight timeout it goes again.
        assert_eq!(b.take_send(159, false), None);
        assert_eq!(b.take_send(160, false), Some(s));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let s = CounterSettings::default();
        let id = IsolateId::from_bytes([3; 8]);
        let d: Vec<u64> = (1..=12).map(|f| backoff_secs(&s, &id, 1, f)).collect();
        assert!((5..=7).contains(&d[0]), "{d:?}");
        assert!((10..=15).contains(&d[1]), "{d:?}");
        assert!(d[11] >= 300 && d[11] <= 450, "{d:?}");
        let other = backoff_secs(&s, &IsolateId::from_bytes([4; 8]), 1, 8);
        assert!(other >= 300);
    }

    #[test]
    fn memory_is_bounded_and_drops_are_counted() {
        let settings = CounterSettings {
            max_open_entries: 2,
            ..CounterSettings::default()
        };
        let mut b = CounterBatch::new(IsolateId::from_bytes([1; 8]), settings);
        b.add("a", 0, 1);
        b.add("b", 0, 1);
        b.add("c", 0, 4);
        b.add("a", 0, 1);
        assert_eq!(b.stats().dropped, 4);
        assert_eq!(b.unflushed(0)["a"], 2);
        let s = b.take_send(0, false).unwrap();
        b.add("c", 0, 1);
        assert_eq!(b.open_entries(), 1);
        // Undeliverable for longer than give_up_secs: dropped, counted, and the next batch goes.
        let late = b.settings().give_up_secs;
        let next = b.take_send(late, false).unwrap();
        assert_eq!(next.seq, s.seq + 1);
        assert_eq!(b.stats().dropped, 4 + 3);
    }
}
