//! The pre-shard isolate writer: counts batched in memory, written as write-once delta keys.

use std::collections::BTreeMap;

use super::keys::{DeltaKey, IsolateId};
use super::{hour_of, FoldSettings};
use crate::state::Timestamp;

/// A KV write: `put(key, value, {expirationTtl: ttl_secs})`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub key: String,
    pub value: String,
    pub ttl_secs: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    write: KvWrite,
    hour: u64,
    counts: BTreeMap<String, u64>,
    last_attempt: Option<Timestamp>,
}

/// Counts recorded by one isolate, batched in memory until they are flushed.
///
/// The Worker keeps one per isolate (in a `thread_local!`/static cell), calls
/// [`record`](Self::record) while handling requests, and after the response
/// (`ctx.wait_until`), when [`flush_due`](Self::flush_due):
///
/// ```text
/// let writes = batch.take_flush(now);          // sync, under the borrow
/// for w in writes {                            // async, borrow released
///     if kv.put(&w.key, &w.value).expiration_ttl(w.ttl_secs).execute().await.is_ok() {
///         batch.ack(&w.key);                   // sync again
///     }                                        // else: returned again later, same key and value
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DeltaBatch {
    isolate: IsolateId,
    settings: FoldSettings,
    next_seq: u64,
    open: BTreeMap<u64, BTreeMap<String, u64>>,
    pending: Vec<Pending>,
    last_flush: Option<Timestamp>,
}

impl DeltaBatch {
    /// An empty batch for the isolate with this random id.
    pub fn new(isolate: IsolateId, settings: FoldSettings) -> Self {
        DeltaBatch {
            isolate,
            settings,
            next_seq: 0,
            open: BTreeMap::new(),
            pending: Vec::new(),
            last_flush: None,
        }
    }

    pub fn isolate(&self) -> &IsolateId {
        &self.isolate
    }

    /// Adds `n` to counter `name` in UTC hour `hour`.
    pub fn add(&mut self, name: &str, hour: u64, n: u64) {
        if n == 0 {
            return;
        }
        let hour_counts = self.open.entry(hour).or_default();
        match hour_counts.get_mut(name) {
            Some(c) => *c = c.saturating_add(n),
            None => {
                hour_counts.insert(name.to_string(), n);
            }
        }
    }

    /// Adds `n` to counter `name` in the hour of `at`.
    pub fn record(&mut self, name: &str, at: Timestamp, n: u64) {
        self.add(name, hour_of(at), n);
    }

    /// Whether there is something to write and the last flush was at least
    /// `settings.flush_interval_secs` ago (one flush per few seconds per
    /// isolate keeps KV writes cheap and well under its per-key limits).
    pub fn flush_due(&self, now: Timestamp) -> bool {
        let has_work = !self.open.is_empty() || self.pending.iter().any(|p| self.retry_due(p, now));
        has_work
            && self
                .last_flush
                .is_none_or(|t| now < t || now - t >= self.settings.flush_interval_secs)
    }

    fn retry_due(&self, p: &Pending, now: Timestamp) -> bool {
        p.last_attempt
            .is_none_or(|t| now < t || now - t >= self.settings.retry_after_secs)
    }

    /// Seals everything recorded since the last flush into new delta writes
    /// (one key `c:{hour}:{isolate}:{seq:08}` per hour, all with this flush's
    /// `seq`), empties the open counts, and returns the writes to issue now:
    /// the new ones plus earlier unacknowledged ones whose last attempt was at
    /// least `settings.retry_after_secs` ago, always with the same key and value.
    ///
    /// While `settings.max_pending` writes await acknowledgement (KV is
    /// failing), nothing new is sealed: counts keep accumulating in memory,
    /// bounded by the number of distinct (counter, hour) pairs.
    pub fn take_flush(&mut self, now: Timestamp) -> Vec<KvWrite> {
        self.last_flush = Some(now);
        if !self.open.is_empty() && self.pending.len() < self.settings.max_pending {
            let seq = self.next_seq;
            self.next_seq += 1;
            for (hour, counts) in std::mem::take(&mut self.open) {
                let key = DeltaKey {
                    hour,
                    isolate: self.isolate.clone(),
                    seq,
                }
                .to_string();
                let value = serde_json::to_string(&counts).expect("counts serialize");
                self.pending.push(Pending {
                    write: KvWrite {
                        key,
                        value,
                        ttl_secs: self.settings.delta_ttl_secs,
                    },
                    hour,
                    counts,
                    last_attempt: None,
                });
            }
        }
        let retry_after = self.settings.retry_after_secs;
        let mut out = Vec::new();
        for p in &mut self.pending {
            if p.last_attempt
                .is_none_or(|t| now < t || now - t >= retry_after)
            {
                p.last_attempt = Some(now);
                out.push(p.write.clone());
            }
        }
        out
    }

    /// The write with this key succeeded: forget it. Returns whether it was pending.
    pub fn ack(&mut self, key: &str) -> bool {
        let n = self.pending.len();
        self.pending.retain(|p| p.write.key != key);
        self.pending.len() != n
    }

    /// Writes issued but not yet acknowledged.
    pub fn pending_writes(&self) -> impl Iterator<Item = &KvWrite> {
        self.pending.iter().map(|p| &p.write)
    }

    /// Counts of `hour` this isolate holds that are not known to be in KV:
    /// recorded but unflushed, plus flushed but unacknowledged.
    pub fn unflushed(&self, hour: u64) -> BTreeMap<String, u64> {
        let mut out = self.open.get(&hour).cloned().unwrap_or_default();
        for p in self.pending.iter().filter(|p| p.hour == hour) {
            for (name, n) in &p.counts {
                let c = out.entry(name.clone()).or_insert(0);
                *c = c.saturating_add(*n);
            }
        }
        out
    }

    /// Nothing recorded and nothing awaiting acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> DeltaBatch {
        DeltaBatch::new(IsolateId::from_bytes([0xab; 8]), FoldSettings::default())
    }

    #[test]
    fn one_write_per_hour_with_a_shared_seq() {
        let mut b = batch();
        b.add("page_views", 10, 2);
        b.add("page_views", 10, 1);
        b.add("events:add_to_cart", 10, 1);
        b.add("page_views", 11, 5);
        b.add("ignored", 11, 0);
        let w = b.take_flush(1000);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].key, "c:10:abababababababab:00000000");
        assert_eq!(w[0].value, r#"{"events:add_to_cart":1,"page_views":3}"#);
        assert_eq!(w[1].key, "c:11:abababababababab:00000000");
        assert_eq!(w[1].value, r#"{"page_views":5}"#);
        assert_eq!(w[0].ttl_secs, FoldSettings::default().delta_ttl_secs);
        b.add("page_views", 11, 1);
        let w2 = b.take_flush(1001);
        // Only the new write: the earlier ones were attempted just now.
        assert_eq!(w2.len(), 1);
        assert_eq!(w2[0].key, "c:11:abababababababab:00000001");
    }

    #[test]
    fn unacked_writes_come_back_unchanged_until_acked() {
        let mut b = batch();
        b.add("page_views", 10, 2);
        let first = b.take_flush(1000);
        assert!(b.take_flush(1001).is_empty(), "not due for retry yet");
        assert!(!b.flush_due(1001));
        let retry_at = 1000 + FoldSettings::default().retry_after_secs;
        assert!(b.flush_due(retry_at));
        assert_eq!(b.take_flush(retry_at), first);
        assert_eq!(b.unflushed(10)["page_views"], 2);
        assert!(b.ack(&first[0].key));
        assert!(!b.ack(&first[0].key));
        assert!(b.is_empty());
        assert!(b.unflushed(10).is_empty());
        assert!(b.take_flush(retry_at * 2).is_empty());
    }

    #[test]
    fn flushes_are_spaced() {
        let mut b = batch();
        assert!(!b.flush_due(0), "nothing to flush");
        b.add("x", 0, 1);
        assert!(b.flush_due(0));
        let w = b.take_flush(100);
        b.ack(&w[0].key);
        b.add("x", 0, 1);
        assert!(!b.flush_due(101));
        assert!(b.flush_due(100 + FoldSettings::default().flush_interval_secs));
    }

    #[test]
    fn a_failing_kv_stops_sealing_but_keeps_counting() {
        let settings = FoldSettings {
            max_pending: 2,
            ..FoldSettings::default()
        };
        let mut b = DeltaBatch::new(IsolateId::from_bytes([1; 8]), settings);
        for t in 0..5u64 {
            b.add("x", 0, 1);
            b.take_flush(t * 1000);
        }
        assert_eq!(b.pending_writes().count(), 2);
        assert_eq!(b.unflushed(0)["x"], 5);
        let keys: Vec<String> = b.pending_writes().map(|w| w.key.clone()).collect();
        for k in keys {
            b.ack(&k);
        }
        let w = b.take_flush(10_000);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].value, r#"{"x":3}"#);
    }
}
