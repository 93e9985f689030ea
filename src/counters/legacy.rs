//! The upgrade from the delta-key design: a one-time fold, then nothing.
//!
//! A site that ran the old design has `t:{hour}` totals in KV and, while old
//! isolates are still around after the deploy, new `c:` delta keys. The
//! Worker's cron walks a small state machine kept in KV under
//! [`LEGACY_MARKER_KEY`]:
//!
//! 1. **Folding**: run the old fold ([`super::run_fold`]) each minute until it
//!    has found no delta key at all for [`QUIET_SECS`] (old isolates are gone
//!    and every delta has been folded, settled and deleted). From then on no
//!    `t:` value changes, and KV's ~60 s staleness has passed.
//! 2. **Migrating**: every run hands one window of [`WINDOW_HOURS`] hours of
//!    `t:` totals to a shard as a batch from the reserved isolate
//!    [`LEGACY_ISOLATE`], numbered by window. The shard applies each window
//!    once like any batch (a re-sent window, after a failed marker write or a
//!    stale read of the marker, is a duplicate), so the old totals join the
//!    shard's and are published with them.
//! 3. **Done**: the cron reads the marker once per isolate and does nothing
//!    more. Old `t:` and `c:` keys expire by their TTLs.
//!
//! A fresh install goes through the same steps with nothing to fold: a few
//! KV reads, lists and two writes, once.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::fold::run_fold;
use super::keys::{parse_totals_key, totals_key, IsolateId, TOTALS_PREFIX};
use super::kv::Kv;
use super::totals::TotalsDoc;
use super::FoldSettings;
use crate::state::Timestamp;

/// KV key of the migration's state.
pub const LEGACY_MARKER_KEY: &str = "counters:legacy";
/// The reserved isolate id the migrated totals are sent as.
pub const LEGACY_ISOLATE: &str = "0000000000000000";
/// How long the old fold must have found nothing before the totals move.
pub const QUIET_SECS: u64 = 180;
/// Hours of `t:` totals moved per cron run (48 KV reads and one shard request).
pub const WINDOW_HOURS: u64 = 48;

/// The migration's state, stored as JSON under [`LEGACY_MARKER_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LegacyMarker {
    Folding { quiet_since: Option<Timestamp> },
    Migrating { next_hour: u64 },
    Done { at: Timestamp },
}

/// What the cron does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyStep {
    /// Run the old fold, then [`LegacyMarker::after_fold`].
    Fold,
    /// List `t:` keys and move the next window ([`next_window`]).
    Migrate { next_hour: u64 },
    /// Nothing, ever again.
    Done,
}

impl LegacyMarker {
    /// The marker as read from KV (`None`: the migration has not started).
    /// An unreadable value starts over from folding, which is always safe.
    pub fn from_kv(value: Option<&str>) -> LegacyMarker {
        value
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(LegacyMarker::Folding { quiet_since: None })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("marker serializes")
    }

    pub fn step(&self) -> LegacyStep {
        match self {
            LegacyMarker::Folding { .. } => LegacyStep::Fold,
            LegacyMarker::Migrating { next_hour } => LegacyStep::Migrate {
                next_hour: *next_hour,
            },
            LegacyMarker::Done { .. } => LegacyStep::Done,
        }
    }

    /// The state after a fold that listed `listed_any` delta keys.
    pub fn after_fold(&self, listed_any: bool, now: Timestamp) -> LegacyMarker {
        let LegacyMarker::Folding { quiet_since } = self else {
            return self.clone();
        };
        match (listed_any, quiet_since) {
            (true, _) => LegacyMarker::Folding { quiet_since: None },
            (false, None) => LegacyMarker::Folding {
                quiet_since: Some(now),
            },
            (false, Some(t)) if now.saturating_sub(*t) >= QUIET_SECS => {
                LegacyMarker::Migrating { next_hour: 0 }
            }
            (false, Some(_)) => self.clone(),
        }
    }
}

/// The reserved isolate of migrated totals.
pub fn legacy_isolate() -> IsolateId {
    IsolateId::parse(LEGACY_ISOLATE).expect("valid id")
}

/// The window holding the first listed hour at or after `next_hour`: its
/// batch `seq` (the window number) and its hours. `None`: all moved.
pub fn next_window(next_hour: u64, listed_hours: &[u64]) -> Option<(u64, Range<u64>)> {
    let first = listed_hours
        .iter()
        .copied()
        .filter(|&h| h >= next_hour)
        .min()?;
    let w = first / WINDOW_HOURS;
    Some((w, w * WINDOW_HOURS..(w + 1) * WINDOW_HOURS))
}

/// The batch that moves one window's totals (`docs` read from `t:{hour}`).
pub fn legacy_batch(seq: u64, docs: &[(u64, TotalsDoc)]) -> Batch {
    Batch {
        isolate: legacy_isolate(),
        seq,
        hours: docs
            .iter()
            .filter(|(_, d)| !d.counts.is_empty())
            .map(|(h, d)| (*h, d.counts.clone()))
            .collect(),
    }
}

/// Where the migration's batches go: the Worker sends them to the legacy
/// isolate's shard; tests apply them to a [`ShardCore`](super::ShardCore).
#[allow(async_fn_in_trait)]
pub trait SendBatch {
    async fn send(&self, batch: &Batch) -> Result<(), String>;
}

/// What one [`step`] did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyReport {
    /// The migration had finished before.
    AlreadyDone,
    /// The old fold ran; `listed` delta keys were still around.
    Folded {
        listed: usize,
        problems: Vec<String>,
    },
    /// One window of old totals went to a shard.
    Moved { hours: usize },
    /// The last window went: done.
    Finished,
}

/// One cron run of the migration: read the marker, do its step, write the
/// marker if it moved. Any KV or shard failure ends the run before the marker
/// is written, so the next run repeats the step (harmless: the fold and the
/// shard are both idempotent).
pub async fn step<K: Kv + ?Sized, S: SendBatch>(
    kv: &K,
    shard: &S,
    clock: impl Fn() -> Timestamp,
    fold: &FoldSettings,
) -> Result<LegacyReport, String> {
    let stored = kv.get(LEGACY_MARKER_KEY).await.map_err(|e| e.to_string())?;
    let marker = LegacyMarker::from_kv(stored.as_deref());
    let now = clock();
    let (next, report) = match marker.step() {
        LegacyStep::Done => return Ok(LegacyReport::AlreadyDone),
        LegacyStep::Fold => {
            let r = run_fold(kv, &clock, fold)
                .await
                .map_err(|e| e.to_string())?;
            let listed = r.folded + r.deletes + r.settling + r.deferred + r.missing;
            let next = marker.after_fold(listed > 0, now);
            (
                next,
                LegacyReport::Folded {
                    listed,
                    problems: r.problems,
                },
            )
        }
        LegacyStep::Migrate { next_hour } => {
            let mut hours = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = kv
                    .list(TOTALS_PREFIX, cursor.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                hours.extend(page.keys.iter().filter_map(|k| parse_totals_key(k)));
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            match next_window(next_hour, &hours) {
                None => (LegacyMarker::Done { at: now }, LegacyReport::Finished),
                Some((seq, range)) => {
                    let mut docs = Vec::new();
                    for h in hours.iter().filter(|h| range.contains(h)) {
                        let text = kv.get(&totals_key(*h)).await.map_err(|e| e.to_string())?;
                        // An unreadable value was never counted by the old readers either.
                        if let Some(d) = text.and_then(|t| TotalsDoc::from_json(&t).ok()) {
                            docs.push((*h, d));
                        }
                    }
                    let batch = legacy_batch(seq, &docs);
                    if !batch.hours.is_empty() {
                        shard.send(&batch).await?;
                    }
                    (
                        LegacyMarker::Migrating {
                            next_hour: range.end,
                        },
                        LegacyReport::Moved {
                            hours: batch.hours.len(),
                        },
                    )
                }
            }
        }
    };
    if next != marker {
        // No TTL: the marker must outlive every old key.
        kv.put(LEGACY_MARKER_KEY, &next.to_json(), 0)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::kv::{block_on, Faults, MemoryKv};
    use crate::counters::shard::{ApplyOutcome, ShardCore};
    use crate::counters::{put_writes, DeltaBatch, IsolateId};
    use std::cell::RefCell;

    struct ToShard(RefCell<ShardCore>, RefCell<u32>);

    impl SendBatch for ToShard {
        async fn send(&self, batch: &Batch) -> Result<(), String> {
            // Every third send fails after the shard applied it (outcome unknown).
            self.0.borrow_mut().apply(batch, 0);
            *self.1.borrow_mut() += 1;
            if self.1.borrow().is_multiple_of(3) {
                return Err("timeout".into());
            }
            Ok(())
        }
    }

    #[test]
    fn an_upgrade_moves_old_totals_and_deltas_into_a_shard_exactly_once() {
        for seed in 1..=8u64 {
            let kv = MemoryKv::with_faults(
                Faults {
                    put_fail: 150,
                    put_fail_landed: 500,
                    stale_secs: 60,
                    page_size: 7,
                    ..Faults::default()
                },
                seed,
            );
            let hour0 = 480_000u64;
            let mut now = hour0 * 3600;
            kv.set_now(now);
            let fold = FoldSettings::default();
            let mut expected: std::collections::BTreeMap<u64, u64> = Default::default();
            // Old isolates wrote deltas over four days; some are folded already.
            let mut old = DeltaBatch::new(IsolateId::from_bytes([seed as u8; 8]), fold.clone());
            for i in 0..100u64 {
                let at = hour0 * 3600 + i * 3600;
                old.record("page_views", at, i + 1);
                *expected.entry(at / 3600).or_default() += i + 1;
                now = at;
                kv.set_now(now);
                let w = old.take_flush(now);
                for k in block_on(put_writes(&kv, &w)) {
                    old.ack(&k);
                }
                if i % 10 == 0 {
                    let _ = block_on(run_fold(&kv, || now, &fold));
                }
            }
            // The rest of the old isolate's writes land (it is retried until acknowledged).
            kv.set_faults(Faults {
                stale_secs: 60,
                ..Faults::default()
            });
            while !old.is_empty() {
                now += fold.retry_after_secs;
                kv.set_now(now);
                for k in block_on(put_writes(&kv, &old.take_flush(now))) {
                    old.ack(&k);
                }
            }
            kv.set_faults(Faults {
                put_fail: 150,
                put_fail_landed: 500,
                stale_secs: 60,
                page_size: 7,
                ..Faults::default()
            });
            let shard = ToShard(RefCell::new(ShardCore::new(0)), RefCell::new(0));
            let mut runs = 0;
            loop {
                now += 60;
                kv.set_now(now);
                runs += 1;
                assert!(runs < 500, "the upgrade does not finish");
                match block_on(step(&kv, &shard, || now, &fold)) {
                    Ok(LegacyReport::Finished) | Ok(LegacyReport::AlreadyDone) => break,
                    _ => {}
                }
            }
            let got: std::collections::BTreeMap<u64, u64> = shard
                .0
                .borrow()
                .totals()
                .iter()
                .map(|(h, c)| (*h, c["page_views"]))
                .collect();
            assert_eq!(got, expected, "seed {seed}");
            // Then nothing: later runs only read the marker.
            now += 60;
            kv.set_now(now);
            assert_eq!(
                block_on(step(&kv, &shard, || now, &fold)),
                Ok(LegacyReport::AlreadyDone)
            );
        }
    }

    #[test]
    fn folding_waits_for_quiet_then_migrates_windows_once() {
        let m = LegacyMarker::from_kv(None);
        assert_eq!(m.step(), LegacyStep::Fold);
        let m = m.after_fold(true, 100);
        assert_eq!(m, LegacyMarker::Folding { quiet_since: None });
        let m = m.after_fold(false, 200);
        let m = m.after_fold(false, 300);
        assert_eq!(m.step(), LegacyStep::Fold, "quiet for only 100 s");
        let m = m.after_fold(false, 380);
        assert_eq!(m.step(), LegacyStep::Migrate { next_hour: 0 });
        assert_eq!(LegacyMarker::from_kv(Some(&m.to_json())), m);
        assert_eq!(
            LegacyMarker::from_kv(Some("garbage")).step(),
            LegacyStep::Fold
        );

        let hours = [480_001, 480_002, 480_100];
        let (seq, range) = next_window(0, &hours).unwrap();
        assert_eq!(range, 480_000..480_048);
        let (seq2, range2) = next_window(range.end, &hours).unwrap();
        assert!(seq2 > seq && range2.contains(&480_100));
        assert_eq!(next_window(range2.end, &hours), None);

        let mut doc = TotalsDoc::new();
        doc.counts.insert("page_views".into(), 7);
        let b = legacy_batch(seq, &[(480_001, doc)]);
        let mut shard = ShardCore::new(0);
        assert_eq!(shard.apply(&b, 0), ApplyOutcome::Applied);
        assert_eq!(
            shard.apply(&b, 0),
            ApplyOutcome::Duplicate,
            "re-sent window"
        );
        assert_eq!(shard.totals()[&480_001]["page_views"], 7);
    }
}
