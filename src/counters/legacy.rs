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
use super::keys::IsolateId;
use super::totals::TotalsDoc;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::shard::{ApplyOutcome, ShardCore};

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
