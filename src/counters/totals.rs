//! `t:{hour}`: an hour's folded totals and the delta keys folded into them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::{DeltaKey, IsolateId};
use crate::state::Timestamp;

/// Format version of the totals document.
pub const TOTALS_VERSION: u32 = 1;

/// The value of `t:{hour}`.
///
/// ```json
/// {"v":1,"counts":{"page_views":1234},"folded":{"00010203fafbfcff":[[0,17],[19,19]]},
///  "recent":{"c:480000:00010203fafbfcff:00000019":1728000123}}
/// ```
///
/// `counts` is always exactly the sum of the values of the delta keys in
/// `folded`: a fold adds a delta's counts and its key in the same write.
/// `folded` keeps, for the life of the document, every delta key ever folded
/// (per isolate, as ranges of flush numbers, which stay few because an isolate
/// numbers its flushes consecutively). That is what makes a key seen again
/// (a retried write, a stale list, a crashed fold's undeleted key) harmless.
/// `recent` holds the keys folded within the settle time, with when; they are
/// not deleted until they leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalsDoc {
    pub v: u32,
    pub counts: BTreeMap<String, u64>,
    #[serde(default)]
    folded: BTreeMap<IsolateHex, Vec<(u64, u64)>>,
    #[serde(default)]
    recent: BTreeMap<String, Timestamp>,
}

type IsolateHex = String;

/// A totals value that could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("counter totals are unreadable ({0}); the fold leaves this hour alone until it is fixed or deleted")]
pub struct BadTotals(pub String);

impl TotalsDoc {
    pub fn new() -> Self {
        TotalsDoc {
            v: TOTALS_VERSION,
            ..TotalsDoc::default()
        }
    }

    pub fn from_json(text: &str) -> Result<TotalsDoc, BadTotals> {
        let doc: TotalsDoc = serde_json::from_str(text).map_err(|e| BadTotals(e.to_string()))?;
        if doc.v != TOTALS_VERSION {
            return Err(BadTotals(format!("unknown version {}", doc.v)));
        }
        Ok(doc)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("totals serialize")
    }

    /// Whether this delta key's counts are already in `counts`.
    pub fn is_folded(&self, key: &DeltaKey) -> bool {
        self.folded.get(key.isolate.as_str()).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(lo, hi)| lo <= key.seq && key.seq <= hi)
        })
    }

    /// When the key was folded, if that is within the settle time still held in `recent`.
    pub fn folded_at(&self, key: &str) -> Option<Timestamp> {
        self.recent.get(key).copied()
    }

    /// Adds a delta's counts and records its key as folded at `now`. Returns
    /// `false` (and changes nothing) if it was folded already.
    pub fn fold(&mut self, key: &DeltaKey, counts: &BTreeMap<String, u64>, now: Timestamp) -> bool {
        if self.is_folded(key) {
            return false;
        }
        for (name, n) in counts {
            let c = self.counts.entry(name.clone()).or_insert(0);
            *c = c.saturating_add(*n);
        }
        insert_seq(
            self.folded.entry(key.isolate.to_string()).or_default(),
            key.seq,
        );
        self.recent.insert(key.to_string(), now);
        true
    }

    /// Forgets `recent` entries folded at or before `settled_before`. Returns whether any went.
    pub fn prune_recent(&mut self, settled_before: Timestamp) -> bool {
        let n = self.recent.len();
        self.recent.retain(|_, at| *at > settled_before);
        self.recent.len() != n
    }

    /// Number of delta keys folded (for reports and tests).
    pub fn folded_count(&self) -> u64 {
        self.folded
            .values()
            .flatten()
            .map(|&(lo, hi)| hi - lo + 1)
            .sum()
    }

    /// Isolates that have flushed into this hour.
    pub fn isolates(&self) -> impl Iterator<Item = Option<IsolateId>> + '_ {
        self.folded.keys().map(|k| IsolateId::parse(k))
    }
}

/// Inserts `seq` into sorted, disjoint, non-adjacent inclusive ranges.
fn insert_seq(ranges: &mut Vec<(u64, u64)>, seq: u64) {
    let i = ranges.partition_point(|&(_, hi)| hi < seq);
    if i < ranges.len() && ranges[i].0 <= seq {
        return; // already inside
    }
    let joins_left = i > 0 && ranges[i - 1].1 + 1 == seq;
    let joins_right = i < ranges.len() && seq + 1 == ranges[i].0;
    match (joins_left, joins_right) {
        (true, true) => {
            ranges[i - 1].1 = ranges[i].1;
            ranges.remove(i);
        }
        (true, false) => ranges[i - 1].1 = seq,
        (false, true) => ranges[i].0 = seq,
        (false, false) => ranges.insert(i, (seq, seq)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u64) -> DeltaKey {
        DeltaKey {
            hour: 5,
            isolate: IsolateId::from_bytes([1; 8]),
            seq,
        }
    }

    #[test]
    fn ranges_merge() {
        let mut r = Vec::new();
        for s in [5, 7, 6, 1, 2, 9, 0, 6] {
            insert_seq(&mut r, s);
        }
        assert_eq!(r, vec![(0, 2), (5, 7), (9, 9)]);
        insert_seq(&mut r, 8);
        insert_seq(&mut r, 4);
        insert_seq(&mut r, 3);
        assert_eq!(r, vec![(0, 9)]);
    }

    #[test]
    fn folding_is_once_per_key() {
        let mut d = TotalsDoc::new();
        let c: BTreeMap<String, u64> = [("page_views".to_string(), 3)].into();
        assert!(d.fold(&key(1), &c, 100));
        assert!(!d.fold(&key(1), &c, 200));
        assert!(d.fold(&key(2), &c, 200));
        assert_eq!(d.counts["page_views"], 6);
        assert_eq!(d.folded_count(), 2);
        assert_eq!(d.folded_at("c:5:0101010101010101:00000001"), Some(100));
        assert!(d.prune_recent(150));
        assert_eq!(d.folded_at("c:5:0101010101010101:00000001"), None);
        // Pruning `recent` does not forget that the key was folded.
        assert!(d.is_folded(&key(1)));
        assert!(!d.fold(&key(1), &c, 300));
    }

    #[test]
    fn json_round_trip_and_rejects() {
        let mut d = TotalsDoc::new();
        d.fold(&key(3), &[("x".to_string(), 1)].into(), 9);
        let j = d.to_json();
        assert_eq!(
            j,
            r#"{"v":1,"counts":{"x":1},"folded":{"0101010101010101":[[3,3]]},"recent":{"c:5:0101010101010101:00000003":9}}"#
        );
        assert_eq!(TotalsDoc::from_json(&j), Ok(d));
        assert!(TotalsDoc::from_json(r#"{"v":2,"counts":{}}"#).is_err());
        assert!(TotalsDoc::from_json("nope").is_err());
        assert!(TotalsDoc::from_json(r#"{"v":1,"counts":{"x":-1}}"#).is_err());
    }
}
