//! The legacy fold: delta keys into `t:{hour}` totals, as a pure planner plus a driver.
//!
//! This was the whole counters design before the shards ([`super::shard`]). The
//! Worker now runs it only until an upgraded site has folded what old isolates
//! wrote ([`super::legacy`]); its text below is kept as it was.
//!
//! # What KV gives us, and what it does not
//! About one write per second per key; reads and lists that may be ~60 s
//! stale (a location usually sees its own writes at once); no
//! compare-and-swap; writes that fail and may or may not have happened;
//! TTLs of at least 60 s. Many isolates run at once. So no key is ever
//! incremented in place by more than one writer, and every write is safe to
//! repeat.
//!
//! # Names and buckets
//! Counter names are flat strings ([`names`](super::names)): `page_views`,
//! `entries:SEGMENT`, `impressions:BLOCK:SEGMENT`, `events:NAME`. Counts are
//! bucketed by UTC hour, `hour = unix_secs / 3600` ([`hour_of`](super::hour_of)).
//!
//! # KV keys
//! * `c:{hour}:{isolate}:{seq:08}` — a **delta**: what one isolate recorded
//!   for one hour between two flushes, `{"name": count, ...}`. Written once
//!   (retries write the same key and value), owned by that isolate alone.
//!   TTL [`FoldSettings::delta_ttl_secs`](super::FoldSettings::delta_ttl_secs).
//! * `t:{hour}` — the hour's **totals** and the set of deltas folded into them
//!   ([`TotalsDoc`](super::TotalsDoc)). Written only by the fold. TTL
//!   `FoldSettings::totals_ttl_secs` from its last write.
//!
//! # Flushing (each isolate)
//! [`DeltaBatch`](super::DeltaBatch) accumulates increments in memory. After a response
//! (`ctx.wait_until`), at most once per `flush_interval_secs`, the Worker
//! calls `DeltaBatch::take_flush`: everything recorded so far becomes one
//! delta write per hour, all numbered with the isolate's next `seq`, and the
//! batch is emptied. A write is acknowledged with `DeltaBatch::ack`; until
//! then `take_flush` returns it again (every `retry_after_secs`) with the
//! *same* key and value, so a write that failed but happened anyway, written
//! again, is the same delta, not a second one.
//!
//! # Folding (the cron handler, a single logical writer)
//! [`plan_fold`] (driven by [`run_fold`] or by the Worker itself): list `c:`;
//! read each listed hour's `t:{hour}`; read every listed delta not yet in that
//! hour's folded set and add it — its counts *and* its key, in the same
//! value; write each changed `t:{hour}`; and only once that write succeeded,
//! delete delta keys that have been in the folded set for at least
//! `settle_secs`. A key seen again that is already in the folded set (a
//! retried write landing late, a stale list, the undeleted keys of a fold that
//! crashed between its writes and its deletes) is deleted, never added again.
//! The folded set lives as long as the totals (ranges of `seq` per isolate,
//! so it stays small), longer than any delta key can reappear.
//!
//! **Why wait `settle_secs` (default 5 min) before deleting.** The fold reads
//! `t:{hour}` through KV's eventual consistency too: a cron run in another
//! location, or two runs overlapping, may start from a version up to ~60 s
//! old that lacks a delta the previous run folded. As long as that delta's
//! key still exists, such a run simply folds it again into the older base and
//! the result is right (counts and folded set move together). Deleting a key
//! is safe only once no run can start from a version without it, i.e. after
//! every write of the totals for a good while has held it. Several KV
//! staleness windows of margin buys that; deleting at once would not.
//! Every run that deletes a key also rewrites the totals holding it first,
//! and no run writes totals more than `max_fold_secs` (60 s) after it started,
//! so its base is never older than that plus KV's 60 s. The model test shows
//! the margin matters: with `settle_secs = 0` it finds lost counts.
//!
//! # What is approximate, and by how much
//! * Totals are exact once quiescent: each acknowledged (or landed) delta is
//!   counted exactly once (`tests/counters_legacy_fold.rs` checks this against a KV
//!   with stale reads, stale lists, failing writes that may have landed,
//!   failing deletes, overlapping and crashing folds).
//! * What an isolate holds in memory is lost if the isolate is evicted before
//!   its flush (at most `flush_interval_secs` of its counts, or more while KV
//!   writes fail); that is inherent in batching in memory.
//! * `counters.NAME` in conditions : the sum of today's
//!   UTC hours of folded totals (plus this isolate's own unflushed counts if
//!   the Worker passes its batch). It lags the truth by up to
//!   `flush_interval_secs` (an isolate's batch) + the cron interval (waiting
//!   for a fold) + ~60 s (KV staleness of `t:{hour}`) + the Worker's own cache
//!   of those values: with a 5 s flush, a 1 min cron and a 60 s cache, about
//!   3 minutes. A budget cap written as a condition therefore overshoots by
//!   whatever arrives in that time.

use std::collections::{BTreeMap, HashMap};

use super::delta_batch::KvWrite;
use super::keys::{totals_key, DeltaKey, DELTA_PREFIX};
use super::kv::Kv;
use super::totals::TotalsDoc;
use super::{hour_of, FoldSettings};
use crate::state::Timestamp;

/// What the fold needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldStep {
    /// Read these keys (a missing key is `None`), add them to `values`, plan again.
    Read(Vec<String>),
    /// Everything needed has been read: apply this.
    Commit(FoldCommit),
}

/// The writes and deletes of one fold, per hour.
///
/// Apply each hour's `write` first and delete its `deletes` only once the write
/// succeeded; if it failed (or may have), skip that hour's deletes: the next
/// fold redoes the hour from whatever `t:{hour}` then holds. Hours are
/// independent, so their commits may run in parallel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FoldCommit {
    pub hours: Vec<HourCommit>,
    pub report: FoldReport,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HourCommit {
    pub hour: u64,
    /// The new `t:{hour}` (`None` for hours past retention, which are only cleaned up).
    pub write: Option<KvWrite>,
    /// Delta keys to delete after `write` succeeded.
    pub deletes: Vec<String>,
}

/// What a fold did (planned), for logs and the health endpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FoldReport {
    /// Delta keys newly added to totals.
    pub folded: usize,
    /// Delta keys planned for deletion (folded and settled, or past retention).
    pub deletes: usize,
    /// Delta keys folded recently, kept until they settle.
    pub settling: usize,
    /// Delta keys left for a later fold by `max_delta_reads`/`max_deletes`.
    pub deferred: usize,
    /// Listed delta keys that read as missing (a stale list; harmless).
    pub missing: usize,
    /// One sentence per thing someone should look at (unreadable keys or values).
    pub problems: Vec<String>,
}

/// Plans a fold from what has been read so far. Pure: call it with the listed
/// delta keys and every value read so far (`None`: the key was missing) until it
/// returns [`FoldStep::Commit`]. It asks for the `t:{hour}` of every listed
/// hour first, then for the delta keys not yet folded into them (at most
/// `settings.max_delta_reads` per fold, oldest hour first).
///
/// For each listed delta key of an hour:
/// * not in the hour's folded set: read it and add it (its key joins the set
///   in the same write as its counts);
/// * in the folded set, folded less than `settings.settle_secs` ago: leave it;
/// * in the folded set and settled: delete it (never add it again).
///
/// Keys of hours older than the totals' retention are deleted unread.
pub fn plan_fold(
    now: Timestamp,
    settings: &FoldSettings,
    listed: &[String],
    values: &HashMap<String, Option<String>>,
) -> FoldStep {
    let mut report = FoldReport::default();
    let mut by_hour: BTreeMap<u64, Vec<(DeltaKey, &str)>> = BTreeMap::new();
    for key in listed {
        if !key.starts_with(DELTA_PREFIX) {
            continue;
        }
        match DeltaKey::parse(key) {
            Some(k) => by_hour.entry(k.hour).or_default().push((k, key.as_str())),
            None => report.problems.push(format!(
                "KV key {key:?} is under the counters' \"c:\" prefix but is not a delta key; delete it"
            )),
        }
    }
    for keys in by_hour.values_mut() {
        keys.sort();
        keys.dedup();
    }
    let oldest = hour_of(now).saturating_sub(settings.totals_ttl_secs / 3600);

    // Round 1: the totals of every live hour.
    let unread: Vec<String> = by_hour
        .keys()
        .filter(|&&h| h >= oldest)
        .map(|&h| totals_key(h))
        .filter(|k| !values.contains_key(k))
        .collect();
    if !unread.is_empty() {
        return FoldStep::Read(unread);
    }

    let settled_before = now.saturating_sub(settings.settle_secs);
    let mut read_budget = settings.max_delta_reads;
    let mut delete_budget = settings.max_deletes;
    // Per hour: its totals (`None`: past retention), the deltas to fold, the keys to delete.
    type HourPlan<'k> = (
        u64,
        Option<TotalsDoc>,
        Vec<(&'k DeltaKey, &'k str)>,
        Vec<String>,
    );
    let mut plans: Vec<HourPlan<'_>> = Vec::new();
    for (&hour, keys) in &by_hour {
        if hour < oldest {
            let take = keys.len().min(delete_budget);
            delete_budget -= take;
            report.deferred += keys.len() - take;
            let deletes = keys[..take].iter().map(|(_, k)| k.to_string()).collect();
            plans.push((hour, None, Vec::new(), deletes));
            continue;
        }
        let tkey = totals_key(hour);
        let doc = match values.get(&tkey).and_then(|v| v.as_deref()) {
            None => TotalsDoc::new(),
            Some(text) => match TotalsDoc::from_json(text) {
                Ok(d) => d,
                Err(e) => {
                    report.problems.push(format!("{tkey}: {e}"));
                    continue;
                }
            },
        };
        let mut to_fold = Vec::new();
        let mut deletes = Vec::new();
        for (k, raw) in keys {
            if !doc.is_folded(k) {
                if read_budget > 0 {
                    read_budget -= 1;
                    to_fold.push((k, *raw));
                } else {
                    report.deferred += 1;
                }
            } else if doc.folded_at(raw).is_some_and(|at| at > settled_before) {
                report.settling += 1;
            } else if delete_budget > 0 {
                delete_budget -= 1;
                deletes.push(raw.to_string());
            } else {
                report.deferred += 1;
            }
        }
        plans.push((hour, Some(doc), to_fold, deletes));
    }

    // Round 2: the delta keys to fold.
    let unread: Vec<String> = plans
        .iter()
        .flat_map(|(_, _, to_fold, _)| to_fold.iter().map(|(_, raw)| raw.to_string()))
        .filter(|k| !values.contains_key(k))
        .collect();
    if !unread.is_empty() {
        return FoldStep::Read(unread);
    }

    let mut hours = Vec::new();
    for (hour, doc, to_fold, deletes) in plans {
        let Some(mut doc) = doc else {
            report.deletes += deletes.len();
            if !deletes.is_empty() {
                hours.push(HourCommit {
                    hour,
                    write: None,
                    deletes,
                });
            }
            continue;
        };
        let mut changed = false;
        for (k, raw) in to_fold {
            match values.get(raw).and_then(|v| v.as_deref()) {
                None => report.missing += 1,
                Some(text) => match serde_json::from_str::<BTreeMap<String, u64>>(text) {
                    Ok(counts) => {
                        if doc.fold(k, &counts, now) {
                            report.folded += 1;
                            report.settling += 1;
                            changed = true;
                        }
                    }
                    Err(e) => report.problems.push(format!(
                        "{raw}: the delta value is not a JSON object of counts ({e}); it is left to expire"
                    )),
                },
            }
        }
        changed |= doc.prune_recent(settled_before);
        report.deletes += deletes.len();
        // Write whenever keys are about to be deleted, even with nothing new:
        // the newest `t:{hour}` then certainly holds them as folded.
        if changed || !deletes.is_empty() {
            hours.push(HourCommit {
                hour,
                write: Some(KvWrite {
                    key: totals_key(hour),
                    value: doc.to_json(),
                    ttl_secs: settings.totals_ttl_secs,
                }),
                deletes,
            });
        }
    }
    FoldStep::Commit(FoldCommit { hours, report })
}

/// Why a fold stopped early. Nothing it planned was half-applied in a way
/// that loses counts: the next fold picks up from what KV holds.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("counter fold: KV {op} of {key:?} failed: {message}")]
pub struct FoldError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

/// Runs one whole fold against a KV: list every delta key, plan, read, commit.
///
/// `clock` is the Worker's clock (Unix seconds). Reads are issued one after
/// another; a Worker that wants them in parallel can drive [`plan_fold`]
/// itself the same way, keeping the same rules: a failed list or read ends the
/// fold before it writes anything; no totals write is issued later than
/// `settings.max_fold_secs` after the fold started (a fold that slow works
/// from reads too old to be trusted, see [`FoldSettings::max_fold_secs`]);
/// a failed totals write skips that hour's deletes; failed deletes are only
/// reported (a later fold deletes the key).
pub async fn run_fold<K: Kv + ?Sized>(
    kv: &K,
    clock: impl Fn() -> Timestamp,
    settings: &FoldSettings,
) -> Result<FoldReport, FoldError> {
    let started = clock();
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv
            .list(DELTA_PREFIX, cursor.as_deref())
            .await
            .map_err(|e| FoldError {
                op: "list",
                key: DELTA_PREFIX.into(),
                message: e.to_string(),
            })?;
        listed.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut values = HashMap::new();
    let commit = loop {
        match plan_fold(clock(), settings, &listed, &values) {
            FoldStep::Read(keys) => {
                for key in keys {
                    let v = kv.get(&key).await.map_err(|e| FoldError {
                        op: "get",
                        key: key.clone(),
                        message: e.to_string(),
                    })?;
                    values.insert(key, v);
                }
            }
            FoldStep::Commit(c) => break c,
        }
    };
    let mut report = commit.report;
    for hour in commit.hours {
        if let Some(w) = &hour.write {
            if clock().saturating_sub(started) > settings.max_fold_secs {
                report.problems.push(format!(
                    "the fold ran over {} s and stopped before writing {}; the next fold redoes it",
                    settings.max_fold_secs, w.key
                ));
                break;
            }
            if let Err(e) = kv.put(&w.key, &w.value, w.ttl_secs).await {
                report.problems.push(format!(
                    "{}: write failed ({e}); its deletes wait for the next fold",
                    w.key
                ));
                continue;
            }
        }
        for key in &hour.deletes {
            if let Err(e) = kv.delete(key).await {
                report.problems.push(format!(
                    "{key}: delete failed ({e}); a later fold retries it"
                ));
            }
        }
    }
    Ok(report)
}

/// Writes a batch's flush writes and returns the keys that succeeded, for
/// [`DeltaBatch::ack`](super::DeltaBatch::ack).
pub async fn put_writes<K: Kv + ?Sized>(kv: &K, writes: &[KvWrite]) -> Vec<String> {
    let mut acked = Vec::new();
    for w in writes {
        if kv.put(&w.key, &w.value, w.ttl_secs).await.is_ok() {
            acked.push(w.key.clone());
        }
    }
    acked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::keys::IsolateId;
    use crate::counters::kv::{block_on, MemoryKv};
    use crate::counters::DeltaBatch;

    const HOUR: u64 = 480_000;
    const NOW: Timestamp = HOUR * 3600 + 600;

    fn at(t: Timestamp) -> impl Fn() -> Timestamp {
        move || t
    }

    fn settings() -> FoldSettings {
        FoldSettings::default()
    }

    fn totals(kv: &MemoryKv, hour: u64) -> TotalsDoc {
        TotalsDoc::from_json(&kv.latest(&totals_key(hour)).expect("totals")).unwrap()
    }

    fn flush(kv: &MemoryKv, b: &mut DeltaBatch, now: Timestamp) {
        let w = b.take_flush(now);
        for k in block_on(put_writes(kv, &w)) {
            b.ack(&k);
        }
    }

    #[test]
    fn plan_asks_for_totals_then_deltas_then_commits() {
        let listed = vec![
            "c:480000:0101010101010101:00000000".to_string(),
            "rules".to_string(),
        ];
        let mut values = HashMap::new();
        assert_eq!(
            plan_fold(NOW, &settings(), &listed, &values),
            FoldStep::Read(vec!["t:480000".into()])
        );
        values.insert("t:480000".to_string(), None);
        assert_eq!(
            plan_fold(NOW, &settings(), &listed, &values),
            FoldStep::Read(vec![listed[0].clone()])
        );
        values.insert(listed[0].clone(), Some(r#"{"page_views":4}"#.into()));
        let FoldStep::Commit(c) = plan_fold(NOW, &settings(), &listed, &values) else {
            panic!()
        };
        assert_eq!(c.report.folded, 1);
        assert_eq!(c.hours.len(), 1);
        assert!(c.hours[0].deletes.is_empty(), "not settled yet");
        let doc = TotalsDoc::from_json(&c.hours[0].write.as_ref().unwrap().value).unwrap();
        assert_eq!(doc.counts["page_views"], 4);
    }

    #[test]
    fn fold_then_settle_then_delete() {
        let kv = MemoryKv::new();
        kv.set_now(NOW);
        let mut a = DeltaBatch::new(IsolateId::from_bytes([1; 8]), settings());
        let mut b = DeltaBatch::new(IsolateId::from_bytes([2; 8]), settings());
        a.record("page_views", NOW, 2);
        b.record("page_views", NOW, 3);
        b.record("entries:vip", NOW, 1);
        flush(&kv, &mut a, NOW);
        flush(&kv, &mut b, NOW);
        let r = block_on(run_fold(&kv, at(NOW + 60), &settings())).unwrap();
        assert_eq!((r.folded, r.deletes, r.settling), (2, 0, 2));
        assert_eq!(totals(&kv, HOUR).counts["page_views"], 5);
        assert_eq!(kv.latest_keys("c:").len(), 2);
        // Folding again before they settle changes nothing.
        let r = block_on(run_fold(&kv, at(NOW + 120), &settings())).unwrap();
        assert_eq!((r.folded, r.deletes), (0, 0));
        // After the settle time they are deleted, and the totals stay.
        let later = NOW + 60 + settings().settle_secs;
        let r = block_on(run_fold(&kv, at(later), &settings())).unwrap();
        assert_eq!((r.folded, r.deletes), (0, 2));
        assert!(kv.latest_keys("c:").is_empty());
        let t = totals(&kv, HOUR);
        assert_eq!(t.counts["page_views"], 5);
        assert_eq!(t.counts["entries:vip"], 1);
        assert_eq!(t.folded_count(), 2);
        assert!(t.folded_at("c:480000:0101010101010101:00000000").is_none());
    }

    #[test]
    fn a_delta_key_seen_again_after_deletion_is_not_counted_twice() {
        let kv = MemoryKv::new();
        kv.set_now(NOW);
        let mut a = DeltaBatch::new(IsolateId::from_bytes([1; 8]), settings());
        a.record("page_views", NOW, 2);
        let w = a.take_flush(NOW);
        block_on(put_writes(&kv, &w));
        block_on(run_fold(&kv, at(NOW), &settings())).unwrap();
        let later = NOW + settings().settle_secs + 1;
        kv.set_now(later);
        block_on(run_fold(&kv, at(later), &settings())).unwrap();
        assert!(kv.latest_keys("c:").is_empty());
        // A late retry of the same write lands again.
        kv.set_now(later + 10);
        block_on(put_writes(&kv, &w));
        let r = block_on(run_fold(&kv, at(later + 10), &settings())).unwrap();
        assert_eq!((r.folded, r.deletes), (0, 1));
        assert_eq!(totals(&kv, HOUR).counts["page_views"], 2);
    }

    #[test]
    fn budgets_defer_work_to_the_next_fold() {
        let kv = MemoryKv::new();
        kv.set_now(NOW);
        let mut a = DeltaBatch::new(IsolateId::from_bytes([1; 8]), settings());
        for i in 0..5 {
            a.record("x", NOW, 1);
            flush(&kv, &mut a, NOW + i * 10);
        }
        let s = FoldSettings {
            max_delta_reads: 2,
            ..settings()
        };
        let r = block_on(run_fold(&kv, at(NOW + 60), &s)).unwrap();
        assert_eq!((r.folded, r.deferred), (2, 3));
        block_on(run_fold(&kv, at(NOW + 120), &s)).unwrap();
        block_on(run_fold(&kv, at(NOW + 180), &s)).unwrap();
        assert_eq!(totals(&kv, HOUR).counts["x"], 5);
    }

    #[test]
    fn hours_past_retention_are_deleted_unread_and_bad_values_reported() {
        let kv = MemoryKv::new();
        kv.set_now(NOW);
        let old = HOUR - settings().totals_ttl_secs / 3600 - 1;
        block_on(kv.put(&format!("c:{old}:0101010101010101:00000000"), "{}", 600)).unwrap();
        block_on(kv.put("c:480000:0101010101010101:00000001", "[1]", 600)).unwrap();
        block_on(kv.put("c:480000:nope", "{}", 600)).unwrap();
        block_on(kv.put("t:479999", "garbage", 600)).unwrap();
        block_on(kv.put("c:479999:0101010101010101:00000002", "{\"x\":1}", 600)).unwrap();
        let r = block_on(run_fold(&kv, at(NOW), &settings())).unwrap();
        assert_eq!(r.deletes, 1);
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        assert_eq!(
            kv.latest("t:479999").as_deref(),
            Some("garbage"),
            "a bad totals value is left alone"
        );
        assert_eq!(kv.latest_keys("c:").len(), 3);
    }
}
