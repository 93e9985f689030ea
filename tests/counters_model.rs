//! Scale model of the counters: isolates -> shards -> KV -> readers.
//!
//! Everything that decides a count is the real code: [`CounterBatch`] in each
//! simulated isolate, [`ShardCore`] in each simulated shard (stored and
//! reloaded through the same JSON rows the Durable Object writes to SQLite),
//! [`MemoryKv`] with stale reads and failing writes, and [`sum_days`] in the
//! readers. Around them, a simulated clock and network:
//! * 1 to 10,000 isolates with a daily traffic curve, site-wide campaign
//!   bursts and per-isolate bursts; isolates retire (they stop getting traffic
//!   and drain) and get evicted (what they hold unsent is lost, and the model
//!   accounts for exactly that);
//! * deliveries lost on the way (the isolate times out and re-sends), replies
//!   lost after the shard stored the batch (outcome unknown: re-sent with the
//!   same id), duplicated and delayed deliveries, a shard that answers 503,
//!   a shard outage;
//! * shard restarts between applying batches and committing them (memory
//!   lost, the waiting isolates get no reply), failing commits, restarts
//!   between a KV write and recording it as published;
//! * KV writes that fail (having landed or not) and reads up to 60 s stale.
//!
//! When traffic stops and faults end, every shard's published totals, read
//! back from KV and summed, must equal exactly what the isolates recorded,
//! per hour and counter (minus what evicted isolates held, counted
//! separately). Along the way the model measures how far behind a reader of
//! today's totals is, and counts the operations a day costs, which
//! [`ops_per_day_table`] prints for BENCHMARKS.md.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, HashMap};

use edgeseg::counters::{
    day_keys, hour_of, shard_for, sum_days, today_hours, ApplyOutcome, Batch, CounterBatch,
    CounterSettings, Faults, IsolateId, MemoryKv, PublishedDay, ShardCore,
};

const NAMES: [&str; 8] = [
    "page_views",
    "entries:vip",
    "entries:browser",
    "impressions:hero:vip",
    "impressions:hero:browser",
    "impressions:offer:vip",
    "events:add_to_cart",
    "exposures:exp1:b",
];
/// The Durable Object's group commit window (src/edge/shard.rs).
const COMMIT_WINDOW_SECS: u64 = 2;
const DAY: u64 = 86_400;
/// Start on a UTC day boundary minus an hour, so runs cross midnight.
const START: u64 = 20_000 * DAY - 3_600;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.below(1000) < u64::from(per_mille)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A Poisson draw (Knuth; means here are small).
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 50.0 {
            return (mean + (self.unit() - 0.5) * 2.0 * mean.sqrt()).max(0.0) as u64;
        }
        let l = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

/// Per mille rates (per attempt, per shard and step, per write).
#[derive(Debug, Clone, Default)]
struct NetFaults {
    lose_request: u32,
    lose_reply: u32,
    duplicate: u32,
    /// Deliveries take up to this many steps.
    max_delay_steps: u64,
    unreachable: u32,
    shard_restart: u32,
    commit_fail: u32,
    restart_after_put: u32,
    kv_put_fail: u32,
    kv_stale_secs: u64,
    /// Shard 0 unreachable from `.0` for `.1` seconds (relative to the start).
    outage: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    isolates: usize,
    page_views_per_day: f64,
    /// Seconds of traffic.
    secs: u64,
    /// Seconds per step.
    step: u64,
    /// Share of isolates retired (drained) per simulated day.
    retire_per_day: f64,
    /// Share of isolates evicted (unsent counts lost) per simulated day.
    evict_per_day: f64,
    faults: NetFaults,
    settings: CounterSettings,
}

struct Iso {
    batch: CounterBatch,
    weight: f64,
    burst_until: u64,
    retiring: bool,
    dead: bool,
    last_read: u64,
    old_last_flush: u64,
}

struct Shard {
    core: ShardCore,
    stored_hours: BTreeMap<u64, String>,
    stored_meta: Option<String>,
    /// Replies owed once the current generation is stored: (isolate, seq).
    waiting: Vec<(usize, u64)>,
    arrivals: u64,
}

impl Shard {
    fn restart(&mut self) {
        self.core = ShardCore::load(
            self.core.shard(),
            self.stored_hours.iter().map(|(h, c)| (*h, c.clone())),
            self.stored_meta.as_deref(),
        )
        .expect("stored state reloads");
        self.waiting.clear();
    }

    /// Stores what changed; returns rows written.
    fn commit(&mut self, now: u64, settings: &CounterSettings) -> u64 {
        let Some(c) = self.core.take_commit(now, settings) else {
            return 0;
        };
        let rows = (c.upserts.len() + c.deletes.len() + 1) as u64;
        for (h, counts) in c.upserts {
            self.stored_hours.insert(h, counts);
        }
        for h in c.deletes {
            self.stored_hours.remove(&h);
        }
        self.stored_meta = Some(c.meta);
        rows
    }
}

/// Operations counted over a run.
#[derive(Debug, Clone, Default)]
struct Ops {
    page_views: u64,
    do_batch_requests: u64,
    do_alarms: u64,
    do_active_secs: f64,
    commits: u64,
    sqlite_rows_written: u64,
    kv_writes: u64,
    kv_reads: u64,
    /// What the old design would have done with the same traffic.
    old_delta_writes: u64,
    old_condition_reads: u64,
}

struct Sim {
    s: Scenario,
    rng: Rng,
    t: u64,
    kv: MemoryKv,
    isolates: Vec<Iso>,
    shards: Vec<Shard>,
    wire: BTreeMap<u64, Vec<(usize, Batch)>>,
    truth: HashMap<(u64, usize), u64>,
    evicted_lost: u64,
    ops: Ops,
    /// (time, today's page views so far) for the staleness measurement.
    history: Vec<(u64, u64)>,
    today: u64,
    lags: Vec<u64>,
    faults_on: bool,
}

impl Sim {
    fn new(s: Scenario) -> Sim {
        let mut rng = Rng(s.seed | 1);
        let kv = MemoryKv::with_faults(
            Faults {
                put_fail: s.faults.kv_put_fail,
                put_fail_landed: 500,
                stale_secs: s.faults.kv_stale_secs,
            },
            s.seed.rotate_left(21) | 1,
        );
        kv.set_now(START);
        let isolates = (0..s.isolates)
            .map(|_| new_iso(&mut rng, &s.settings, START))
            .collect();
        let shards = (0..s.settings.shards)
            .map(|i| Shard {
                core: ShardCore::new(i),
                stored_hours: BTreeMap::new(),
                stored_meta: None,
                waiting: Vec::new(),
                arrivals: 0,
            })
            .collect();
        Sim {
            s,
            rng,
            t: START,
            kv,
            isolates,
            shards,
            wire: BTreeMap::new(),
            truth: HashMap::new(),
            evicted_lost: 0,
            ops: Ops::default(),
            history: Vec::new(),
            today: START / DAY,
            lags: Vec::new(),
            faults_on: true,
        }
    }

    fn site_rate(&self, t: u64) -> f64 {
        // Daily curve (peak at 18:00 UTC, trough at 06:00) and a campaign
        // burst (4x for 10 minutes) at 09:00 and 20:00.
        let day_pos = (t % DAY) as f64 / DAY as f64;
        let curve = 1.0 + 0.6 * ((day_pos - 0.5) * std::f64::consts::TAU).sin();
        let sec = t % DAY;
        let burst = if (9 * 3600..9 * 3600 + 600).contains(&sec)
            || (20 * 3600..20 * 3600 + 600).contains(&sec)
        {
            4.0
        } else {
            1.0
        };
        self.s.page_views_per_day / DAY as f64 * curve * burst
    }

    fn traffic(&mut self) {
        let step = self.s.step;
        let rate = self.site_rate(self.t) * step as f64;
        let total_weight: f64 = self
            .isolates
            .iter()
            .filter(|i| !i.dead && !i.retiring)
            .map(|i| i.weight)
            .sum();
        let hour = hour_of(self.t);
        let cache_secs = 60;
        let shards = self.s.settings.shards;
        for idx in 0..self.isolates.len() {
            let iso = &mut self.isolates[idx];
            if iso.dead || iso.retiring {
                continue;
            }
            if iso.burst_until < self.t && self.rng.chance(2) {
                iso.burst_until = self.t + 60 + self.rng.below(600);
            }
            let boost = if iso.burst_until >= self.t { 5.0 } else { 1.0 };
            let k = self.rng.poisson(rate * iso.weight / total_weight * boost);
            if k == 0 {
                continue;
            }
            self.ops.page_views += k;
            // The counts one page view makes: its view, an entry now and
            // then, impressions, an occasional event and exposure.
            let seg = self.rng.below(2) as usize;
            let record = [
                (0, k),
                (1 + seg, k / 10 + u64::from(self.rng.chance(100))),
                (3 + seg, k),
                (5, k / 3),
                (6, k / 8 + u64::from(self.rng.chance(50))),
                (7, k / 2),
            ];
            for (name, n) in record {
                if n > 0 {
                    iso.batch.add(NAMES[name], hour, n);
                    *self.truth.entry((hour, name)).or_insert(0) += n;
                }
            }
            // The old design: one delta write per flush interval (5 s) with counts.
            let old_flushes = (step / 5).clamp(1, k);
            if self.t >= iso.old_last_flush + 5 {
                self.ops.old_delta_writes += old_flushes;
                iso.old_last_flush = self.t;
            }
            // Conditions: one refresh of today's totals per minute per busy isolate.
            if self.t >= iso.last_read + cache_secs {
                iso.last_read = self.t;
                self.ops.kv_reads += u64::from(shards);
                let hours_today = (self.t % DAY) / 3600 + 1;
                self.ops.old_condition_reads += hours_today;
            }
        }
        let hour_start = self.t / DAY * DAY;
        if self.t / DAY != self.today {
            self.today = self.t / DAY;
            self.history.clear();
        }
        let today_pv: u64 = (hour_start / 3600..=hour)
            .map(|h| self.truth.get(&(h, 0)).copied().unwrap_or(0))
            .sum();
        self.history.push((self.t, today_pv));
    }

    fn sends(&mut self) {
        let f = self.s.faults.clone();
        let step = self.s.step;
        for idx in 0..self.isolates.len() {
            if self.isolates[idx].dead {
                continue;
            }
            let Some(batch) = self.isolates[idx].batch.take_send(self.t, false) else {
                continue;
            };
            let shard = shard_for(&batch.isolate, self.s.settings.shards);
            let down = f.outage.is_some_and(|(from, len)| {
                shard == 0 && (START + from..START + from + len).contains(&self.t)
            });
            if self.faults_on && (down || self.rng.chance(f.unreachable)) {
                self.isolates[idx]
                    .batch
                    .failed(batch.seq, self.t, "shard unreachable");
                continue;
            }
            self.ops.do_batch_requests += 1;
            if self.faults_on && self.rng.chance(f.lose_request) {
                continue; // the isolate hears nothing and re-sends after its timeout
            }
            let delay = if self.faults_on {
                self.rng.below(f.max_delay_steps + 1)
            } else {
                0
            };
            let due = self.t + delay * step;
            if self.faults_on && self.rng.chance(f.duplicate) {
                let later = due + (1 + self.rng.below(3)) * step;
                self.wire
                    .entry(later)
                    .or_default()
                    .push((idx, batch.clone()));
            }
            self.wire.entry(due).or_default().push((idx, batch));
        }
    }

    fn deliver(&mut self) {
        let due: Vec<u64> = self.wire.range(..=self.t).map(|(t, _)| *t).collect();
        for t in due {
            for (idx, batch) in self.wire.remove(&t).unwrap_or_default() {
                let shard =
                    &mut self.shards[shard_for(&batch.isolate, self.s.settings.shards) as usize];
                let outcome = shard.core.apply(&batch, self.t);
                assert!(matches!(
                    outcome,
                    ApplyOutcome::Applied | ApplyOutcome::Duplicate
                ));
                shard.waiting.push((idx, batch.seq));
                shard.arrivals += 1;
            }
        }
    }

    fn shards_step(&mut self) {
        let f = self.s.faults.clone();
        let settings = self.s.settings.clone();
        let step = self.s.step;
        for i in 0..self.shards.len() {
            let faults = self.faults_on;
            if faults && self.rng.chance(f.shard_restart) {
                self.shards[i].restart(); // applied but uncommitted batches are gone, unanswered
                self.shards[i].arrivals = 0;
                continue;
            }
            let arrivals = std::mem::take(&mut self.shards[i].arrivals);
            if self.shards[i].core.has_uncommitted() || !self.shards[i].waiting.is_empty() {
                if faults && self.rng.chance(f.commit_fail) {
                    self.shards[i].restart();
                    continue;
                }
                let rows = self.shards[i].commit(self.t, &settings);
                // The Durable Object commits at most once per window and once per
                // batch: within one step of the model that is this many commits.
                let commits = arrivals.clamp(1, step.div_ceil(COMMIT_WINDOW_SECS));
                self.ops.commits += commits;
                self.ops.sqlite_rows_written += rows * commits;
                self.ops.do_active_secs += (commits * COMMIT_WINDOW_SECS).min(step) as f64;
                for (idx, seq) in std::mem::take(&mut self.shards[i].waiting) {
                    if faults && self.rng.chance(f.lose_reply) {
                        continue; // stored, but the isolate never hears: it re-sends
                    }
                    self.isolates[idx].batch.ack(seq);
                }
            }
            // The alarm.
            if self.shards[i]
                .core
                .next_publish_at(self.t, &settings)
                .is_some_and(|at| at <= self.t)
            {
                self.ops.do_alarms += 1;
                let writes = self.shards[i].core.plan_publish(self.t, &settings, false);
                self.kv.set_now(self.t);
                let mut died = false;
                for w in writes {
                    self.ops.kv_writes += 1;
                    match self.kv.put_now(&w.key, &w.value, w.ttl_secs) {
                        Ok(()) => {
                            if faults && self.rng.chance(f.restart_after_put) {
                                died = true;
                                break;
                            }
                            self.shards[i].core.published(w.day, w.version);
                        }
                        Err(_) => self.shards[i].core.publish_failed(),
                    }
                }
                if died {
                    self.shards[i].restart();
                } else {
                    let rows = self.shards[i].commit(self.t, &settings);
                    self.ops.sqlite_rows_written += rows;
                }
            }
        }
    }

    /// One sampled reader of today's totals: how far behind the truth is it?
    fn read_sample(&mut self) {
        self.kv.set_now(self.t);
        let hours = today_hours(self.t);
        let mut days = Vec::new();
        for key in day_keys(*hours.start(), *hours.end(), self.s.settings.shards) {
            if let Some(text) = self.kv.get_now(&key).unwrap() {
                days.push(PublishedDay::from_json(&text).unwrap());
            }
        }
        let seen: u64 = sum_days(&days)
            .iter()
            .filter(|(h, _)| hours.contains(h))
            .map(|(_, c)| c.get("page_views").copied().unwrap_or(0))
            .sum();
        let caught_up_to = self
            .history
            .iter()
            .rev()
            .find(|(_, pv)| *pv <= seen)
            .map_or((self.t / DAY * DAY).max(START), |(t, _)| *t);
        // If the reader is at or past the latest truth, it lags by nothing.
        let latest = self.history.last().map_or(0, |(_, pv)| *pv);
        let lag = if seen >= latest {
            0
        } else {
            self.t - caught_up_to
        };
        self.lags.push(lag);
    }

    fn churn(&mut self) {
        let step = self.s.step as f64;
        let n = self.isolates.len() as f64;
        let retire = self.s.retire_per_day * n * step / DAY as f64;
        let evict = self.s.evict_per_day * n * step / DAY as f64;
        for _ in 0..self.rng.poisson(retire) {
            let idx = self.rng.below(self.isolates.len() as u64) as usize;
            if !self.isolates[idx].dead && !self.isolates[idx].retiring {
                self.isolates[idx].retiring = true;
                let fresh = new_iso(&mut self.rng, &self.s.settings, self.t);
                self.isolates.push(fresh);
            }
        }
        for _ in 0..self.rng.poisson(evict) {
            let idx = self.rng.below(self.isolates.len() as u64) as usize;
            let iso = &mut self.isolates[idx];
            // Evicted while nothing is in flight: what it holds is lost, exactly.
            if iso.dead || iso.batch.has_pending() {
                continue;
            }
            let hour = hour_of(self.t);
            for h in hour.saturating_sub(48)..=hour {
                for (name, n) in iso.batch.unflushed(h) {
                    let i = NAMES.iter().position(|x| *x == name).unwrap();
                    *self.truth.get_mut(&(h, i)).unwrap() -= n;
                    self.evicted_lost += n;
                }
            }
            iso.dead = true;
            let fresh = new_iso(&mut self.rng, &self.s.settings, self.t);
            self.isolates.push(fresh);
        }
        for iso in &mut self.isolates {
            if iso.retiring && iso.batch.is_empty() {
                iso.dead = true;
            }
        }
    }

    fn step(&mut self, traffic: bool) {
        self.t += self.s.step;
        self.kv.set_now(self.t);
        if traffic {
            self.traffic();
            self.churn();
        }
        self.sends();
        self.deliver();
        self.shards_step();
        if traffic && self.rng.chance(50) {
            self.read_sample();
        }
    }

    fn quiet(&self) -> bool {
        self.wire.is_empty()
            && self.isolates.iter().all(|i| i.dead || i.batch.is_empty())
            && self.shards.iter().all(|s| {
                s.waiting.is_empty()
                    && !s.core.has_uncommitted()
                    && s.core.unpublished_days().is_empty()
            })
    }

    fn published_totals(&self) -> BTreeMap<(u64, String), u64> {
        let first = hour_of(START);
        let last = hour_of(self.t);
        let mut days = Vec::new();
        for key in day_keys(first, last, self.s.settings.shards) {
            if let Some(text) = self.kv.latest(&key) {
                days.push(PublishedDay::from_json(&text).unwrap());
            }
        }
        let mut out = BTreeMap::new();
        for (h, counts) in sum_days(&days) {
            for (name, n) in counts {
                out.insert((h, name), n);
            }
        }
        out
    }

    fn truth(&self) -> BTreeMap<(u64, String), u64> {
        self.truth
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|((h, i), n)| ((*h, NAMES[*i].to_string()), *n))
            .collect()
    }
}

fn new_iso(rng: &mut Rng, settings: &CounterSettings, now: u64) -> Iso {
    let mut id = [0u8; 8];
    id.copy_from_slice(&rng.next().to_le_bytes());
    Iso {
        batch: CounterBatch::new(IsolateId::from_bytes(id), settings.clone()),
        // Some isolates (big locations) get far more traffic than others.
        weight: 0.2 + rng.unit() * rng.unit() * 4.0,
        burst_until: 0,
        retiring: false,
        dead: false,
        last_read: now,
        old_last_flush: 0,
    }
}

/// What a run found.
#[derive(Debug)]
struct Outcome {
    ops: Ops,
    secs: u64,
    lag_p50: u64,
    lag_p99: u64,
    lag_max: u64,
    dropped: u64,
    evicted_lost: u64,
    drain_secs: u64,
}

fn run(s: Scenario) -> Outcome {
    let end = START + s.secs;
    let mut sim = Sim::new(s);
    while sim.t < end {
        sim.step(true);
    }
    let ops = sim.ops.clone();
    // Quiet: faults end, traffic stops; everything drains and is published.
    sim.faults_on = false;
    sim.kv.set_faults(Faults {
        stale_secs: sim.s.faults.kv_stale_secs,
        ..Faults::default()
    });
    let quiet_from = sim.t;
    let limit = sim.t + 2 * DAY;
    while !sim.quiet() {
        assert!(sim.t < limit, "the counters do not drain");
        sim.step(false);
    }
    let drain_secs = sim.t - quiet_from;
    sim.t += 61;
    sim.kv.set_now(sim.t);
    let dropped: u64 = sim.isolates.iter().map(|i| i.batch.stats().dropped).sum();
    let published = sim.published_totals();
    let truth = sim.truth();
    if dropped == 0 {
        assert_eq!(
            published, truth,
            "published totals differ from what was recorded"
        );
    } else {
        // Drops are counted, never silent: what is missing is exactly what was dropped.
        let p: u64 = published.values().sum();
        let t: u64 = truth.values().sum();
        assert_eq!(
            t - p,
            dropped,
            "missing counts differ from the counted drops"
        );
    }
    let mut lags = sim.lags.clone();
    lags.sort_unstable();
    let q = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    Outcome {
        ops,
        secs: sim.s.secs,
        lag_p50: q(0.5),
        lag_p99: q(0.99),
        lag_max: lags.last().copied().unwrap_or(0),
        dropped,
        evicted_lost: sim.evicted_lost,
        drain_secs,
    }
}

fn harsh() -> NetFaults {
    NetFaults {
        lose_request: 30,
        lose_reply: 30,
        duplicate: 30,
        max_delay_steps: 2,
        unreachable: 20,
        shard_restart: 5,
        commit_fail: 5,
        restart_after_put: 50,
        kv_put_fail: 100,
        kv_stale_secs: 60,
        outage: None,
    }
}

fn paid() -> CounterSettings {
    CounterSettings {
        shards: 8,
        send_interval_secs: 10,
        kv_writes_per_day: 50_000,
        ..CounterSettings::default()
    }
}

#[test]
fn one_isolate_over_a_week_with_every_fault() {
    let o = run(Scenario {
        seed: 1,
        isolates: 1,
        page_views_per_day: 20_000.0,
        secs: 7 * DAY,
        step: 5,
        retire_per_day: 0.0,
        evict_per_day: 0.0,
        faults: harsh(),
        settings: CounterSettings::default(),
    });
    assert_eq!(o.dropped, 0);
    println!("1 isolate, 7 days: {o:?}");
}

#[test]
fn a_hundred_isolates_over_two_days_with_churn_and_evictions() {
    for seed in 1..=1 {
        let o = run(Scenario {
            seed,
            isolates: 100,
            page_views_per_day: 1_000_000.0,
            secs: 2 * DAY,
            step: 30,
            retire_per_day: 2.0,
            evict_per_day: 0.5,
            faults: harsh(),
            settings: CounterSettings {
                shards: 3,
                ..CounterSettings::default()
            },
        });
        assert!(o.evicted_lost > 0, "evictions happened and were accounted");
        println!("100 isolates, 2 days, seed {seed}: {o:?}");
    }
}

#[test]
fn ten_thousand_isolates_for_ten_minutes_at_100_million_a_day() {
    let o = run(Scenario {
        seed: 7,
        isolates: 10_000,
        page_views_per_day: 100_000_000.0,
        secs: 600,
        step: 10,
        retire_per_day: 4.0,
        evict_per_day: 0.0,
        faults: harsh(),
        settings: CounterSettings {
            shards: 16,
            ..paid()
        },
    });
    assert_eq!(o.dropped, 0);
    // Staleness of today's totals as KV readers see them (before the Worker's 60 s cache).
    let bound = 10 + 30 + paid().publish_interval_secs() + 60 + 3 * 10 + 60;
    assert!(o.lag_p99 <= bound, "{o:?}");
    println!("10,000 isolates, 10 min: {o:?}");
}

#[test]
fn a_shard_outage_longer_than_the_retry_horizon_drops_counts_and_counts_the_drops() {
    let settings = CounterSettings {
        shards: 1,
        give_up_secs: 1800,
        max_open_entries: 40,
        ..CounterSettings::default()
    };
    let o = run(Scenario {
        seed: 11,
        isolates: 5,
        page_views_per_day: 200_000.0,
        secs: 3 * 3600,
        step: 5,
        retire_per_day: 0.0,
        evict_per_day: 0.0,
        faults: NetFaults {
            outage: Some((1800, 3600)),
            ..NetFaults::default()
        },
        settings,
    });
    assert!(o.dropped > 0, "{o:?}");
}

#[test]
fn random_fault_mixes_stay_exact() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let faults = NetFaults {
            lose_request: rng.below(200) as u32,
            lose_reply: rng.below(200) as u32,
            duplicate: rng.below(200) as u32,
            max_delay_steps: rng.below(4),
            unreachable: rng.below(200) as u32,
            shard_restart: rng.below(50) as u32,
            commit_fail: rng.below(50) as u32,
            restart_after_put: rng.below(300) as u32,
            kv_put_fail: rng.below(500) as u32,
            kv_stale_secs: 60,
            outage: None,
        };
        let s = Scenario {
            seed,
            isolates: 1 + rng.below(30) as usize,
            page_views_per_day: 50_000.0 + rng.below(500_000) as f64,
            secs: 6 * 3600,
            step: 1 + rng.below(10),
            retire_per_day: rng.below(5) as f64,
            evict_per_day: rng.below(2) as f64,
            faults,
            settings: CounterSettings {
                shards: 1 + rng.below(4) as u32,
                send_interval_secs: 1 + rng.below(60),
                ..CounterSettings::default()
            },
        };
        let o = run(s.clone());
        assert_eq!(o.dropped, 0, "{s:?}");
        assert!(o.drain_secs < DAY, "{o:?}");
    }
}

/// Prices per million (USD) and the free plan's daily limits, as Cloudflare
/// publishes them (Workers KV, Durable Objects, SQLite storage in Durable Objects).
mod price {
    pub const KV_READ: f64 = 0.50;
    pub const KV_WRITE: f64 = 5.00;
    pub const KV_LIST: f64 = 5.00;
    pub const DO_REQUEST: f64 = 0.15;
    pub const DO_GB_SEC: f64 = 12.50;
    pub const ROW_WRITTEN: f64 = 1.00;
    pub const FREE_KV_READS: f64 = 100_000.0;
    pub const FREE_KV_WRITES: f64 = 1_000.0;
    pub const FREE_KV_LISTS: f64 = 1_000.0;
    pub const FREE_DO_REQUESTS: f64 = 100_000.0;
    pub const FREE_DO_GB_SEC: f64 = 13_000.0;
    pub const FREE_ROWS_WRITTEN: f64 = 100_000.0;
}

/// The operations a day costs, new design (measured in the model) and old
/// design (from the same traffic), for BENCHMARKS.md. Runs a whole simulated
/// day per row; slow in a debug build, so run it with
/// `cargo test --release --test counters_model -- --ignored --nocapture`.
#[test]
#[ignore]
fn ops_per_day_table() {
    let rows: [(&str, f64, usize, CounterSettings, u64); 5] = [
        (
            "100k/day (the free plan's Worker limit), 20 isolates, free-plan defaults",
            1e5,
            20,
            CounterSettings::default(),
            5,
        ),
        (
            "1M/day, 50 isolates, free-plan defaults",
            1e6,
            50,
            CounterSettings::default(),
            5,
        ),
        ("1M/day, 50 isolates, paid profile", 1e6, 50, paid(), 5),
        (
            "100M/day, 1,000 isolates, paid profile",
            1e8,
            1_000,
            paid(),
            10,
        ),
        (
            "100M/day, 10,000 isolates, paid, 16 shards",
            1e8,
            10_000,
            CounterSettings {
                shards: 16,
                ..paid()
            },
            10,
        ),
    ];
    println!("| traffic | design | DO requests | DO GB-s | SQLite rows written | KV writes | KV reads | KV lists | KV deletes | paid $/day | free plan | staleness p50/p99/max |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let only: Option<Vec<usize>> = std::env::var("TABLE_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    for (row, (label, pv, isolates, settings, step)) in rows.into_iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&row)) {
            continue;
        }
        let shards = settings.shards;
        let o = run(Scenario {
            seed: 3,
            isolates,
            page_views_per_day: pv,
            secs: DAY,
            step,
            retire_per_day: 2.0,
            evict_per_day: 0.0,
            faults: NetFaults {
                kv_stale_secs: 60,
                ..NetFaults::default()
            },
            settings,
        });
        let day = DAY as f64 / o.secs as f64;
        let ops = &o.ops;
        let do_req = (ops.do_batch_requests + ops.do_alarms) as f64 * day;
        let gb_s = ops.do_active_secs * 0.128 * day;
        let rows_w = ops.sqlite_rows_written as f64 * day;
        let kv_w = ops.kv_writes as f64 * day;
        let kv_r = ops.kv_reads as f64 * day;
        let cost = (do_req * price::DO_REQUEST
            + gb_s * price::DO_GB_SEC
            + rows_w * price::ROW_WRITTEN
            + kv_w * price::KV_WRITE
            + kv_r * price::KV_READ)
            / 1e6;
        let free = do_req <= price::FREE_DO_REQUESTS
            && gb_s <= price::FREE_DO_GB_SEC
            && rows_w <= price::FREE_ROWS_WRITTEN
            && kv_w <= price::FREE_KV_WRITES
            && kv_r <= price::FREE_KV_READS;
        println!(
            "| {label} | shards ({shards}) | {do_req:.0} | {gb_s:.0} | {rows_w:.0} | {kv_w:.0} | {kv_r:.0} | 0 | 0 | {cost:.2} | {} | {}/{}/{} s |",
            if free { "fits" } else { "over" },
            o.lag_p50,
            o.lag_p99,
            o.lag_max
        );
        // The old design with the same traffic: every delta is written,
        // read and deleted once; the cron lists every minute and reads and
        // writes about 1.5 totals keys per run.
        let deltas = ops.old_delta_writes as f64 * day;
        let lists = 1440.0 + (deltas / 1440.0 / 1000.0).ceil() * 1440.0;
        let old_w = deltas + 1440.0 * 1.5;
        let old_r = deltas + 1440.0 * 1.5 + ops.old_condition_reads as f64 * day;
        let old_cost = (old_w * price::KV_WRITE
            + deltas * price::KV_WRITE
            + old_r * price::KV_READ
            + lists * price::KV_LIST)
            / 1e6;
        let keeps_up = deltas / 1440.0 <= 400.0;
        let old_free = old_w <= price::FREE_KV_WRITES
            && lists <= price::FREE_KV_LISTS
            && old_r <= price::FREE_KV_READS;
        println!(
            "| {label} | old delta keys + cron fold | 0 | 0 | 0 | {old_w:.0} | {old_r:.0} | {lists:.0} | {deltas:.0} | {old_cost:.2} | {} | {} |",
            if old_free { "fits" } else { "over" },
            if keeps_up {
                "~3 min".to_string()
            } else {
                format!(
                    "unbounded: {:.0} deltas/min against 400 read per fold",
                    deltas / 1440.0
                )
            }
        );
    }
}
