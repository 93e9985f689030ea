//! Aggregate counters in Workers KV that lose nothing and count nothing twice.
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
//! Counter names are flat strings ([`names`]): `page_views`,
//! `entries:SEGMENT`, `impressions:BLOCK:SEGMENT`, `events:NAME`, and per
//! experiment variant `exp:KEY:VARIANT:exposures` (and `conversions:GOAL`,
//! `value:GOAL`, `value_sq:GOAL`). Counts are
//! bucketed by UTC hour, `hour = unix_secs / 3600` ([`hour_of`]).
//!
//! # KV keys
//! * `c:{hour}:{isolate}:{seq:08}` — a **delta**: what one isolate recorded
//!   for one hour between two flushes, `{"name": count, ...}`. Written once
//!   (retries write the same key and value), owned by that isolate alone.
//!   TTL [`CounterSettings::delta_ttl_secs`].
//! * `t:{hour}` — the hour's **totals** and the set of deltas folded into them
//!   ([`TotalsDoc`]). Written only by the fold. TTL
//!   [`CounterSettings::totals_ttl_secs`] from its last write.
//!
//! # Flushing (each isolate)
//! [`CounterBatch`] accumulates increments in memory. After a response
//! (`ctx.wait_until`), at most once per `flush_interval_secs`, the Worker
//! calls [`CounterBatch::take_flush`]: everything recorded so far becomes one
//! delta write per hour, all numbered with the isolate's next `seq`, and the
//! batch is emptied. A write is acknowledged with [`CounterBatch::ack`]; until
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
//!   counted exactly once (`tests/counters_model.rs` checks this against a KV
//!   with stale reads, stale lists, failing writes that may have landed,
//!   failing deletes, overlapping and crashing folds).
//! * What an isolate holds in memory is lost if the isolate is evicted before
//!   its flush (at most `flush_interval_secs` of its counts, or more while KV
//!   writes fail); that is inherent in batching in memory.
//! * `counters.NAME` in conditions ([`counters_today`]): the sum of today's
//!   UTC hours of folded totals (plus this isolate's own unflushed counts if
//!   the Worker passes its batch). It lags the truth by up to
//!   `flush_interval_secs` (an isolate's batch) + the cron interval (waiting
//!   for a fold) + ~60 s (KV staleness of `t:{hour}`) + the Worker's own cache
//!   of those values: with a 5 s flush, a 1 min cron and a 60 s cache, about
//!   3 minutes. A budget cap written as a condition therefore overshoots by
//!   whatever arrives in that time.

pub mod batch;
pub mod fold;
pub mod keys;
pub mod kv;
pub mod stats;
pub mod totals;

pub use batch::{CounterBatch, KvWrite};
pub use fold::{
    plan_fold, put_writes, run_fold, FoldCommit, FoldError, FoldReport, FoldStep, HourCommit,
};
pub use keys::{totals_key, DeltaKey, IsolateId, DELTA_PREFIX, TOTALS_PREFIX};
pub use kv::{block_on, Faults, Kv, KvError, ListPage, MemoryKv};
pub use stats::{counters_today, stats_json, today_hours, totals_between, totals_keys};
pub use totals::{BadTotals, TotalsDoc};

use crate::state::Timestamp;

/// The UTC hour bucket of a time: `unix_secs / 3600`.
pub fn hour_of(at: Timestamp) -> u64 {
    at / 3600
}

/// Counter names.
pub mod names {
    /// Page views served by the worker.
    pub const PAGE_VIEWS: &str = "page_views";

    /// Visitors entering a segment.
    pub fn entries(segment: &str) -> String {
        format!("entries:{segment}")
    }

    /// A block rendered with a segment's (or variant's) content.
    pub fn impressions(block: &str, segment: &str) -> String {
        format!("impressions:{block}:{segment}")
    }

    /// Events sent by the page, by name.
    pub fn events(name: &str) -> String {
        format!("events:{name}")
    }

    /// Visitors first exposed to an experiment's variant (once per visitor).
    pub fn exposures(experiment: &str, variant: &str) -> String {
        format!("exp:{experiment}:{variant}:exposures")
    }

    /// Exposed visitors of a variant who converted on a goal (once per visitor).
    pub fn conversions(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:conversions:{goal}")
    }

    /// The goal's value summed over a variant's visitors, in hundredths.
    pub fn goal_value(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:value:{goal}")
    }

    /// The sum over a variant's visitors of the square of each visitor's
    /// value (hundredths squared), for the value's variance.
    pub fn goal_value_sq(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:value_sq:{goal}")
    }
}

/// Timing, retention and per-run limits of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSettings {
    /// Least time between two flushes of one isolate.
    pub flush_interval_secs: u64,
    /// Least time between two attempts of the same unacknowledged write.
    pub retry_after_secs: u64,
    /// Unacknowledged writes an isolate holds before it stops sealing new ones.
    pub max_pending: usize,
    /// TTL of delta keys: longer than any retry horizon and any pause of the
    /// cron, shorter than the totals' so a delta never outlives its hour's
    /// folded set.
    pub delta_ttl_secs: u64,
    /// TTL of `t:{hour}` (from its last write): how long hourly stats are kept.
    pub totals_ttl_secs: u64,
    /// How long a folded delta key is kept before it is deleted (see the module doc).
    pub settle_secs: u64,
    /// Longest a fold may run, from its list to its last totals write. A fold
    /// writes totals derived from what it read at its start; the settle time
    /// must cover this plus KV's staleness, so the fold stops rather than
    /// write late.
    pub max_fold_secs: u64,
    /// Delta keys read per fold (a Worker invocation has a budget of KV operations).
    pub max_delta_reads: usize,
    /// Delta keys deleted per fold.
    pub max_deletes: usize,
}

impl Default for CounterSettings {
    fn default() -> Self {
        CounterSettings {
            flush_interval_secs: 5,
            retry_after_secs: 10,
            max_pending: 64,
            delta_ttl_secs: 7 * 86_400,
            totals_ttl_secs: 35 * 86_400,
            settle_secs: 300,
            max_fold_secs: 60,
            max_delta_reads: 400,
            max_deletes: 400,
        }
    }
}
