//! Aggregate counters: counted in each isolate, added up exactly once in a few
//! sharded Durable Objects, published to Workers KV where conditions and stats
//! read them.
//!
//! # Why not KV alone
//! KV allows about one write per second per key, is eventually consistent
//! (~60 s), has no compare-and-swap, and its free plan allows 1,000 writes and
//! 1,000 lists a day. A design that wrote one delta key per isolate every few
//! seconds and had a per-minute cron add them up (never shipped; its cost is
//! modelled beside this one's in BENCHMARKS.md) was exact but cost a KV write
//! per isolate every few seconds and a list every minute, and one cron run
//! could read only a few hundred deltas. Durable Objects are Cloudflare's
//! engine for adding things up in one place.
//!
//! # The path of a count
//! 1. **Isolate** ([`CounterBatch`]): `record(name, at, n)` adds to an
//!    in-memory map per UTC hour. After a response, at most every
//!    [`CounterSettings::send_interval_secs`], everything recorded so far is
//!    sealed into one [`Batch`] with the id `(isolate, seq)` and sent to the
//!    isolate's shard ([`shard_for`]: a hash of the isolate id, so an isolate
//!    always talks to the same shard). Only one batch is outstanding at a
//!    time: until it is acknowledged it is re-sent unchanged (same id, same
//!    counts) with exponential backoff; new counts wait in the open map. The
//!    open map is bounded ([`CounterSettings::max_open_entries`]); what does
//!    not fit, and a batch that could not be delivered for
//!    [`CounterSettings::give_up_secs`], is dropped and counted
//!    ([`BatchStats::dropped`], shown on the health endpoint).
//! 2. **Shard** ([`ShardCore`], a SQLite-backed Durable Object in the Worker):
//!    applies a batch iff its `seq` is above the last one applied for that
//!    isolate, so a re-sent batch (a retry after a timeout whose outcome is
//!    unknown, a duplicate delivery) is acknowledged but not counted again.
//!    That is exact because an isolate seals batch `k+1` only after `k` was
//!    acknowledged. Applied counts and the per-isolate `seq` are written to
//!    SQLite together ([`ShardCore::take_commit`], one row per changed hour plus
//!    one meta row) before the batch is acknowledged.
//! 3. **Publish** ([`ShardCore::plan_publish`], on the shard's alarm): every
//!    [`CounterSettings::publish_interval_secs`] at most, each UTC day whose
//!    totals changed is written whole to KV as `s:{day}:{shard}`
//!    ([`PublishedDay`]): a snapshot, not a delta, so a failed or repeated
//!    write is simply overwritten by the next one. The interval comes from a
//!    daily KV write budget ([`CounterSettings::kv_writes_per_day`]).
//! 4. **Read** ([`counters_today`], [`stats_json`]): the Worker reads the
//!    day keys of every shard and sums them.
//!
//! Names are flat strings ([`names`]): `page_views`, `entries:SEGMENT`,
//! `impressions:BLOCK:SEGMENT`, `events:NAME`, and per experiment variant
//! `exp:KEY:VARIANT:exposures` (and `conversions:GOAL`, `value:GOAL`,
//! `value_sq:GOAL`), bucketed by UTC hour.
//!
//! # What is approximate, and by how much
//! * Totals in KV are exact once traffic pauses: every acknowledged batch is
//!   counted once (`tests/counters_model.rs` checks this with up to 10,000
//!   simulated isolates, lost and duplicated deliveries, shard restarts
//!   between apply and commit, failing publishes and stale KV reads).
//! * An isolate evicted with counts in memory loses them (at most one send
//!   interval's worth while its shard answers); that is inherent in batching.
//! * Staleness of what conditions read: send interval + commit window +
//!   publish interval + KV propagation (~60 s) + the Worker's 60 s cache of
//!   the values (the isolate's own unsent counts are added at once). See the
//!   README's "Counters" section for the numbers per profile.

pub mod batch;
pub mod keys;
pub mod kv;
pub mod shard;
pub mod stats;

pub use batch::{Batch, BatchStats, CounterBatch, Counts};
pub use keys::IsolateId;
pub use kv::{Faults, KvError, MemoryKv};
pub use shard::{
    day_key, shard_for, ApplyOutcome, Freshness, PublishWrite, PublishedDay, ShardCommit,
    ShardCore, ShardError, PUBLISHED_PREFIX,
};
pub use stats::{counters_today, day_keys, stats_json, sum_days, today_hours, totals_between};

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

    /// Event requests refused by the per-client rate limit (`POST /__edgeseg/event`).
    pub const EVENTS_REFUSED: &str = "events_refused";
    /// Event properties that a `sum`/`max` signal or a goal's `value` reads
    /// and that were not a finite number (`crate::util::number`): ignored,
    /// and counted here in total and by event and property.
    pub const VALUES_REFUSED: &str = "values_refused";
    /// Page event requests refused because an event may only come from the
    /// site's server (403; README, "Events from the site's server").
    pub const EVENTS_REFUSED_SOURCE: &str = "events_refused_source";
    /// Page event requests refused for a value outside its bounds (400).
    pub const EVENTS_REFUSED_BOUNDS: &str = "events_refused_bounds";
    /// Server events stored for a visitor's next page.
    pub const SERVER_EVENTS_STORED: &str = "server_events_stored";
    /// Server event deliveries refused, in total and by why.
    pub const SERVER_EVENTS_REFUSED: &str = "server_events_refused";
    pub const SERVER_EVENTS_REFUSED_SIGNATURE: &str = "server_events_refused:signature";
    pub const SERVER_EVENTS_REFUSED_SOURCE: &str = "server_events_refused:source";
    pub const SERVER_EVENTS_REFUSED_BOUNDS: &str = "server_events_refused:bounds";
    pub const SERVER_EVENTS_REFUSED_BODY: &str = "server_events_refused:body";
    pub const SERVER_EVENTS_REFUSED_FULL: &str = "server_events_refused:full";

    /// One event property refused as a number (see [`VALUES_REFUSED`]).
    pub fn value_refused(event: &str, property: &str) -> String {
        format!("values_refused:{event}:{property}")
    }

    /// Pages answered from the origin cache (fresh, stale while revalidating,
    /// or stale because the origin failed).
    pub const ORIGIN_CACHE_HITS: &str = "origin_cache:hits";
    /// Of the hits, those served stale (past their TTL).
    pub const ORIGIN_CACHE_STALE: &str = "origin_cache:stale";
    /// Requests that could use the cache and went to the origin: HTML pages
    /// (stored or not storable) and origin failures with no copy to serve.
    pub const ORIGIN_CACHE_MISSES: &str = "origin_cache:misses";
    /// Requests that may not use the cache (Authorization, a session cookie, not GET).
    pub const ORIGIN_CACHE_BYPASSES: &str = "origin_cache:bypasses";

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

    /// CUPED (`crate::experiments::cuped`): the goal's pre-exposure
    /// covariate x summed over a variant's exposed visitors.
    pub fn cuped_x(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:cuped_x:{goal}")
    }

    /// CUPED: `Σx²`.
    pub fn cuped_x_sq(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:cuped_x_sq:{goal}")
    }

    /// CUPED: `Σxy`, y the conversion (0 or 1): x added at the first conversion.
    pub fn cuped_xy(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:cuped_xy:{goal}")
    }

    /// CUPED: `Σxv`, v the goal's value in hundredths: x times each value added.
    pub fn cuped_xv(experiment: &str, variant: &str, goal: &str) -> String {
        format!("exp:{experiment}:{variant}:cuped_xv:{goal}")
    }
}

/// The UTC day of an hour bucket.
pub fn day_of_hour(hour: u64) -> u64 {
    hour / 24
}

/// How the counters are sharded, how often they move, how long they are kept.
///
/// The Worker reads three of these from `[vars]` ([`CounterSettings::from_vars`]);
/// the defaults fit Cloudflare's free plan (see the README's "Counters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSettings {
    /// Number of shard Durable Objects (`COUNTER_SHARDS`). Only ever raise it:
    /// readers sum shards `0..shards`, so a lowered count hides the totals of
    /// the shards left out.
    pub shards: u32,
    /// Least time between two batches one isolate seals (`COUNTER_SEND_SECS`).
    pub send_interval_secs: u64,
    /// KV writes a day all shards together may spend on publishing
    /// (`COUNTER_KV_WRITES_PER_DAY`); sets [`Self::publish_interval_secs`].
    pub kv_writes_per_day: u64,
    /// First retry delay of an unacknowledged batch; doubles per failure.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// A send with no answer after this long is treated as failed (outcome
    /// unknown) and re-sent with the same id.
    pub in_flight_timeout_secs: u64,
    /// A batch not acknowledged this long after it was sealed is dropped and
    /// counted as dropped. Must stay below [`Self::seen_ttl_secs`].
    pub give_up_secs: u64,
    /// Distinct (hour, counter) pairs an isolate holds unsent; counts for new
    /// pairs beyond it are dropped and counted.
    pub max_open_entries: usize,
    /// How long a shard remembers an isolate's last applied `seq` after it
    /// last heard from it. Longer than any isolate retries (`give_up_secs`),
    /// so a late retry is always recognised.
    pub seen_ttl_secs: u64,
    /// How long hourly totals are kept (in the shard and in KV).
    pub totals_ttl_secs: u64,
}

impl Default for CounterSettings {
    fn default() -> Self {
        CounterSettings {
            shards: 1,
            send_interval_secs: 30,
            kv_writes_per_day: 500,
            retry_base_secs: 5,
            retry_max_secs: 300,
            in_flight_timeout_secs: 30,
            give_up_secs: 12 * 3600,
            max_open_entries: 10_000,
            seen_ttl_secs: 36 * 3600,
            totals_ttl_secs: 35 * 86_400,
        }
    }
}

/// Most shards the settings accept (readers read `shards` KV keys per day).
pub const MAX_SHARDS: u32 = 64;

impl CounterSettings {
    /// Least time between two publishing rounds of one shard: the daily KV
    /// write budget shared by all shards, each round writing one day key
    /// (two around midnight), and never under KV's ~60 s propagation.
    pub fn publish_interval_secs(&self) -> u64 {
        let budget = self.kv_writes_per_day.max(1);
        let per_shard = (86_400 * u64::from(self.shards.max(1))).div_ceil(budget);
        per_shard.max(60)
    }

    /// Settings from the Worker's vars (`COUNTER_SHARDS`, `COUNTER_SEND_SECS`,
    /// `COUNTER_KV_WRITES_PER_DAY`); a missing var keeps its default, a bad
    /// one keeps its default and adds a message saying what was wrong.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> (CounterSettings, Vec<String>) {
        let mut s = CounterSettings::default();
        let mut problems = Vec::new();
        let mut read = |name: &str, min: u64, max: u64| -> Option<u64> {
            let v = var(name)?;
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    problems.push(format!(
                        "{name}: expected a whole number from {min} to {max}, got {v:?}; using the default"
                    ));
                    None
                }
            }
        };
        if let Some(n) = read("COUNTER_SHARDS", 1, u64::from(MAX_SHARDS)) {
            s.shards = n as u32;
        }
        if let Some(n) = read("COUNTER_SEND_SECS", 1, 600) {
            s.send_interval_secs = n;
        }
        if let Some(n) = read("COUNTER_KV_WRITES_PER_DAY", 24, 10_000_000) {
            s.kv_writes_per_day = n;
        }
        (s, problems)
    }
}
