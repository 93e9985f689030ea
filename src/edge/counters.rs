//! Aggregate counters: this isolate's batch, its flush after the response,
//! the scheduled fold, the stats endpoint, and the `counters` that conditions read.
//!
//! The counting logic (write-once delta keys, the folded set, settling) is the
//! core's ([`crate::counters`]); this module only moves its writes to KV.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use worker::{console_error, console_log, Context, Env, KvStore, Request, Response, Result};

use super::now_secs;
use crate::counters::{
    counters_today, put_writes, run_fold, today_hours, totals_between, totals_key, CounterBatch,
    CounterSettings, IsolateId, Kv, ListPage, TotalsDoc,
};
use crate::state::Timestamp;

/// How long this isolate reuses the `counters` it read for conditions.
const CONDITION_CACHE_MS: f64 = 60_000.0;
/// Most hours one stats request may span.
const MAX_STATS_HOURS: u64 = 24 * 35;

thread_local! {
    static BATCH: RefCell<Option<CounterBatch>> = const { RefCell::new(None) };
    static TODAY: RefCell<Option<(f64, Map<String, Value>)>> = const { RefCell::new(None) };
}

fn with_batch<T>(f: impl FnOnce(&mut CounterBatch) -> T) -> T {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let batch = b.get_or_insert_with(|| {
            let id = super::random_bytes();
            CounterBatch::new(IsolateId::from_bytes(id), CounterSettings::default())
        });
        f(batch)
    })
}

/// Counts `n` of `name` at `now` in this isolate's batch.
pub fn add(name: &str, now: Timestamp, n: u64) {
    with_batch(|b| b.record(name, now, n));
}

/// After a response: writes what is due to KV (`wait_until`), without delaying
/// the response.
pub fn flush_later(env: &Env, ctx: &Context) {
    let now = now_secs();
    let writes = with_batch(|b| {
        if b.flush_due(now) {
            b.take_flush(now)
        } else {
            Vec::new()
        }
    });
    if writes.is_empty() {
        return;
    }
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return;
    };
    ctx.wait_until(async move {
        let acked = put_writes(&WorkerKv(kv), &writes).await;
        with_batch(|b| {
            acked.iter().for_each(|k| {
                b.ack(k);
            })
        });
    });
}

/// The cron handler: flush this isolate's own batch, then fold every isolate's
/// deltas into the hourly totals.
pub async fn scheduled(env: &Env) {
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        console_error!(
            "edgeseg: no {} binding for the counter fold",
            super::KV_BINDING
        );
        return;
    };
    let kv = WorkerKv(kv);
    let now = now_secs();
    let writes = with_batch(|b| b.take_flush(now));
    let acked = put_writes(&kv, &writes).await;
    with_batch(|b| {
        acked.iter().for_each(|k| {
            b.ack(k);
        })
    });
    let mut settings = CounterSettings::default();
    if let Some(rules) = super::rules_cache::current(env).await {
        settings.totals_ttl_secs = rules.settings.counter_retention;
    }
    match run_fold(&kv, now_secs, &settings).await {
        Ok(report) => {
            console_log!(
                "edgeseg: counter fold: {} folded, {} deleted, {} settling, {} deferred",
                report.folded,
                report.deletes,
                report.settling,
                report.deferred
            );
            for p in report.problems {
                console_error!("edgeseg: counter fold: {p}");
            }
        }
        Err(e) => console_error!(
            "edgeseg: counter fold stopped at {} {}: {}",
            e.op,
            e.key,
            e.message
        ),
    }
}

/// `counters` for conditions: today's totals (cached per isolate for a minute)
/// plus this isolate's unflushed counts. Approximate by design (see README).
pub async fn for_conditions(env: &Env) -> Map<String, Value> {
    let now_ms = super::now_millis();
    let cached = TODAY.with(|t| {
        t.borrow()
            .as_ref()
            .filter(|(at, _)| now_ms - at < CONDITION_CACHE_MS && now_ms >= *at)
            .map(|(_, m)| m.clone())
    });
    let now = now_secs();
    let totals = match cached {
        Some(m) => return merge_unflushed(m, now),
        None => read_totals(env, today_hours(now).collect()).await,
    };
    let map = counters_today(now, &totals, None);
    TODAY.with(|t| *t.borrow_mut() = Some((now_ms, map.clone())));
    merge_unflushed(map, now)
}

fn merge_unflushed(mut map: Map<String, Value>, now: Timestamp) -> Map<String, Value> {
    let hour = crate::counters::hour_of(now);
    let own = with_batch(|b| b.unflushed(hour));
    for (name, n) in own {
        let total = map.get(&name).and_then(Value::as_u64).unwrap_or(0) + n;
        map.insert(name, Value::from(total));
    }
    map
}

pub(super) async fn read_totals(env: &Env, hours: Vec<u64>) -> Vec<(u64, TotalsDoc)> {
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return Vec::new();
    };
    let mut totals = Vec::new();
    for hour in hours {
        match kv.get(&totals_key(hour)).text().await {
            Ok(Some(text)) => match TotalsDoc::from_json(&text) {
                Ok(doc) => totals.push((hour, doc)),
                Err(e) => console_error!("edgeseg: unreadable totals for hour {hour}: {}", e.0),
            },
            Ok(None) => {}
            Err(e) => console_error!("edgeseg: reading totals for hour {hour} failed: {e}"),
        }
    }
    totals
}

/// `GET stats?from=UNIX&to=UNIX` (admin): totals per counter and hour, as
/// arrays aligned with `hours` (hour starts, Unix seconds). Default: the last 24 hours.
pub async fn stats(req: &Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
    };
    let now = now_secs();
    let parse = |name: &str, default: Timestamp| -> std::result::Result<Timestamp, String> {
        match param(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<Timestamp>()
                .map_err(|_| format!("{name}: expected Unix seconds, got {v:?}")),
        }
    };
    let (from, to) = match (
        parse("from", now.saturating_sub(23 * 3_600)),
        parse("to", now),
    ) {
        (Ok(f), Ok(t)) if f <= t => (f, t),
        (Ok(_), Ok(_)) => return bad("from must not be after to"),
        (Err(e), _) | (_, Err(e)) => return bad(&e),
    };
    let (from_hour, to_hour) = (from / 3_600, to / 3_600);
    if to_hour - from_hour >= MAX_STATS_HOURS {
        return bad(&format!("ask for at most {MAX_STATS_HOURS} hours at once"));
    }
    let hours: Vec<u64> = (from_hour..=to_hour).collect();
    let totals = read_totals(env, hours.clone()).await;
    let by_name: BTreeMap<String, BTreeMap<u64, u64>> = totals_between(&totals, from_hour, to_hour);
    let counters: Map<String, Value> = by_name
        .into_iter()
        .map(|(name, per_hour)| {
            let series: Vec<Value> = hours
                .iter()
                .map(|h| Value::from(*per_hour.get(h).unwrap_or(&0)))
                .collect();
            (name, Value::Array(series))
        })
        .collect();
    let body = json!({
        "hours": hours.iter().map(|h| h * 3_600).collect::<Vec<_>>(),
        "counters": counters,
    });
    super::json_reply(200, &body)
}

fn bad(message: &str) -> Result<Response> {
    super::error_reply(400, message)
}

/// The core's KV trait over Workers KV.
struct WorkerKv(KvStore);

impl Kv for WorkerKv {
    type Error = String;

    async fn get(&self, key: &str) -> std::result::Result<Option<String>, String> {
        self.0.get(key).text().await.map_err(|e| e.to_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> std::result::Result<(), String> {
        self.0
            .put(key, value)
            .map_err(|e| e.to_string())?
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, key: &str) -> std::result::Result<(), String> {
        self.0.delete(key).await.map_err(|e| e.to_string())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> std::result::Result<ListPage, String> {
        let mut list = self.0.list().prefix(prefix.to_string());
        if let Some(c) = cursor {
            list = list.cursor(c.to_string());
        }
        let page = list.execute().await.map_err(|e| e.to_string())?;
        Ok(ListPage {
            keys: page.keys.into_iter().map(|k| k.name).collect(),
            cursor: if page.list_complete {
                None
            } else {
                page.cursor
            },
        })
    }
}
