//! Aggregate counters in the Worker: this isolate's batch, its send to the
//! counter shard after the response and on the cron, the stats endpoint, and
//! the `counters` that conditions read.
//!
//! The counting logic is the core's ([`crate::counters`]); this module only
//! moves batches to the shard Durable Objects (`src/edge/shard.rs`) and reads
//! what they published to KV. Nothing here is ever awaited by the content
//! path: sends run in `ctx.wait_until`, time out after [`SEND_TIMEOUT_MS`],
//! and a shard that cannot be reached only delays counts (kept, retried with
//! backoff, bounded, dropped ones counted on the health endpoint).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::{json, Map, Value};
use worker::{console_error, Context, Delay, Env, Method, Request, RequestInit, Response, Result};

use super::now_secs;
use crate::counters::{
    counters_today, day_keys, names, shard_for, sum_days, today_hours, totals_between, Batch,
    CounterBatch, CounterSettings, Counts, Freshness, IsolateId, PublishedDay,
};
use crate::state::Timestamp;

/// Durable Object namespace binding of the counter shards (wrangler.toml).
pub const SHARD_BINDING: &str = "EDGESEG_COUNTERS";
/// A send to a shard without an answer after this long counts as failed
/// (outcome unknown: the batch goes again with the same id).
const SEND_TIMEOUT_MS: u64 = 10_000;
/// How long this isolate reuses the `counters` it read for conditions.
const CONDITION_CACHE_MS: f64 = 60_000.0;
/// Most hours one stats request may span.
const MAX_STATS_HOURS: u64 = 24 * 35;

/// Today's totals as last read, with when (milliseconds).
type CachedTotals = Option<(f64, Vec<(u64, Counts)>)>;

thread_local! {
    static BATCH: RefCell<Option<CounterBatch>> = const { RefCell::new(None) };
    static TODAY: RefCell<CachedTotals> = const { RefCell::new(None) };
    static SETTINGS: RefCell<Option<(CounterSettings, Vec<String>)>> = const { RefCell::new(None) };
    static REFUSED: Cell<u64> = const { Cell::new(0) };
}

/// The counter settings from `[vars]` (read once per isolate).
pub fn settings_from_env(env: &Env) -> CounterSettings {
    SETTINGS.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| {
                let (settings, problems) =
                    CounterSettings::from_vars(|name| env.var(name).ok().map(|v| v.to_string()));
                for p in &problems {
                    console_error!("edgeseg: {p}");
                }
                (settings, problems)
            })
            .0
            .clone()
    })
}

/// Gives this isolate's batch the settings from the vars (once they are known).
fn adopt_settings(env: &Env) {
    let settings = settings_from_env(env);
    with_batch(|b| {
        if *b.settings() != settings {
            b.set_settings(settings);
        }
    });
}

fn with_batch<T>(f: impl FnOnce(&mut CounterBatch) -> T) -> T {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let batch = b.get_or_insert_with(|| {
            let settings = SETTINGS
                .with(|s| s.borrow().as_ref().map(|(s, _)| s.clone()))
                .unwrap_or_default();
            CounterBatch::new(IsolateId::from_bytes(super::random_bytes()), settings)
        });
        f(batch)
    })
}

/// Counts `n` of `name` at `now` in this isolate's batch.
pub fn add(name: &str, now: Timestamp, n: u64) {
    with_batch(|b| b.record(name, now, n));
}

/// An event request refused by the rate limit: counted (`events_refused`) and
/// shown on the health endpoint.
pub fn refused(now: Timestamp) {
    REFUSED.with(|r| r.set(r.get() + 1));
    add(names::EVENTS_REFUSED, now, 1);
}

/// After a response: sends this isolate's batch to its shard if one is due,
/// in `wait_until`, without delaying the response.
pub fn flush_later(env: &Env, ctx: &Context) {
    adopt_settings(env);
    let now = now_secs();
    let Some(batch) = with_batch(|b| b.take_send(now, false)) else {
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move {
        send_and_record(&env, batch).await;
    });
}

async fn send_and_record(env: &Env, batch: Batch) -> bool {
    let seq = batch.seq;
    let shard = shard_for(&batch.isolate, settings_from_env(env).shards);
    match call_shard(env, shard, "batch", Some(batch.to_json())).await {
        Ok(_) => {
            with_batch(|b| b.ack(seq));
            true
        }
        Err(e) => {
            console_error!("edgeseg: counters: sending batch {seq} to shard {shard} failed: {e}");
            with_batch(|b| b.failed(seq, now_secs(), e));
            false
        }
    }
}

/// `POST https://counter-shard/{action}/{shard}` to shard `shard`, with a timeout.
async fn call_shard(
    env: &Env,
    shard: u32,
    action: &str,
    body: Option<String>,
) -> std::result::Result<Value, String> {
    let ns = env
        .durable_object(SHARD_BINDING)
        .map_err(|e| format!("no {SHARD_BINDING} Durable Object binding ({e})"))?;
    let stub = ns
        .get_by_name(&format!("shard-{shard}"))
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(&format!("https://counter-shard/{action}/{shard}"), &init)
        .map_err(|e| e.to_string())?;
    let call = async move {
        let mut resp = stub.fetch_with_request(req).await?;
        let status = resp.status_code();
        let text = resp.text().await?;
        Ok::<_, worker::Error>((status, text))
    };
    let timeout = Delay::from(Duration::from_millis(SEND_TIMEOUT_MS));
    match select(pin!(call), pin!(timeout)).await {
        Either::Left((Ok((200, text)), _)) => {
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Either::Left((Ok((status, text)), _)) => Err(format!("shard answered {status}: {text}")),
        Either::Left((Err(e), _)) => Err(e.to_string()),
        Either::Right(_) => Err(format!(
            "no answer within {} s (outcome unknown; sent again with the same id)",
            SEND_TIMEOUT_MS / 1000
        )),
    }
}

/// Sends everything this isolate holds, now, until its shard has
/// acknowledged it all (or `deadline_ms` passed). Returns batches acknowledged.
async fn send_all_now(env: &Env, deadline_ms: f64) -> u64 {
    adopt_settings(env);
    let mut acked = 0;
    while super::now_millis() < deadline_ms {
        match with_batch(|b| b.take_send(now_secs(), true)) {
            Some(batch) => {
                if send_and_record(env, batch).await {
                    acked += 1;
                } else {
                    break;
                }
            }
            // A send already in flight (from a wait_until): wait for it.
            None if with_batch(|b| b.has_pending()) => {
                Delay::from(Duration::from_millis(100)).await;
            }
            None => break,
        }
    }
    acked
}

/// The cron: send this isolate's counts now, so an isolate that gets little
/// traffic does not hold them until its next response. The shards publish on
/// their own alarms; the cron has nothing else to do for the counters.
pub async fn scheduled(env: &Env) {
    send_all_now(env, super::now_millis() + 15_000.0).await;
}

/// `POST admin/api/counters/flush`: this isolate's counts to its shard, then
/// every shard publishes to KV now. In `wrangler dev` and Miniflare there is
/// one isolate, so this makes everything served so far readable in KV.
pub async fn flush_and_publish(env: &Env) -> Result<Response> {
    let acked = send_all_now(env, super::now_millis() + 20_000.0).await;
    let pending = with_batch(|b| b.has_pending());
    let settings = settings_from_env(env);
    let mut shards = Vec::new();
    for shard in 0..settings.shards {
        match call_shard(env, shard, "publish", None).await {
            Ok(report) => shards.push(json!({"shard": shard, "report": report})),
            Err(e) => shards.push(json!({"shard": shard, "error": e})),
        }
    }
    TODAY.with(|t| *t.borrow_mut() = None);
    let ok = !pending && shards.iter().all(|s| s.get("error").is_none());
    super::json_reply(
        if ok { 200 } else { 503 },
        &json!({"batches_sent": acked, "unsent": pending, "shards": shards}),
    )
}

/// The counters part of the health endpoint: this isolate's view.
pub fn health(env: &Env) -> Value {
    let settings = settings_from_env(env);
    let problems = SETTINGS.with(|s| s.borrow().as_ref().map(|(_, p)| p.clone()));
    let refused = REFUSED.with(Cell::get);
    with_batch(|b| {
        let stats = b.stats();
        json!({
            "shards": settings.shards,
            "send_interval_secs": settings.send_interval_secs,
            "publish_interval_secs": settings.publish_interval_secs(),
            "settings_problems": problems.unwrap_or_default(),
            "batch_pending": b.has_pending(),
            "open_entries": b.open_entries(),
            "batches_acked": stats.acked,
            "send_failures": stats.failures,
            "consecutive_failures": stats.consecutive_failures,
            "last_send_error": stats.last_error,
            "dropped": stats.dropped,
            "refused_events": refused,
        })
    })
}

/// `counters` for conditions: today's totals (cached per isolate for a minute)
/// plus this isolate's unacknowledged counts. Approximate by design (see README).
pub async fn for_conditions(env: &Env) -> Map<String, Value> {
    let now_ms = super::now_millis();
    let now = now_secs();
    let cached = TODAY.with(|t| {
        t.borrow()
            .as_ref()
            .filter(|(at, _)| now_ms - at < CONDITION_CACHE_MS && now_ms >= *at)
            .map(|(_, m)| m.clone())
    });
    let totals = match cached {
        Some(t) => t,
        None => {
            let hours = today_hours(now);
            let t = read_totals(env, *hours.start(), *hours.end()).await;
            TODAY.with(|c| *c.borrow_mut() = Some((now_ms, t.clone())));
            t
        }
    };
    with_batch(|b| counters_today(now, &totals, Some(b)))
}

/// Hourly totals for `from_hour..=to_hour`, summed over every shard's published days.
pub(super) async fn read_totals(env: &Env, from_hour: u64, to_hour: u64) -> Vec<(u64, Counts)> {
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return Vec::new();
    };
    let shards = settings_from_env(env).shards;
    let mut days = Vec::new();
    for key in day_keys(from_hour, to_hour, shards) {
        match kv.get(&key).text().await {
            Ok(Some(text)) => match PublishedDay::from_json(&text) {
                Ok(d) => days.push(d),
                Err(e) => console_error!("edgeseg: unreadable counter totals {key}: {e}"),
            },
            Ok(None) => {}
            Err(e) => console_error!("edgeseg: reading counter totals {key} failed: {e}"),
        }
    }
    sum_days(&days)
}

/// An experiment's counter totals (`prefix`, e.g. `exp:KEY:`) for a cron:
/// hours up to `settled` are added into `base` once and remembered in
/// `folded_through` (starting `max_days` back), the hours after are read on
/// every run; returns base plus those. Shared by the bandit and guardrail crons.
pub(super) async fn folded_totals(
    env: &Env,
    prefix: &str,
    base: &mut crate::counters::Counts,
    folded_through: &mut Option<u64>,
    (now_hour, settled, max_days): (u64, u64, u64),
) -> crate::counters::Counts {
    use crate::counters::stats::add_hours;
    let start = folded_through.map_or(now_hour.saturating_sub(24 * max_days), |h| h + 1);
    if start <= settled {
        let hours = read_totals(env, start, settled).await;
        add_hours(base, &hours, start, settled, prefix);
        *folded_through = Some(settled);
    }
    let live_from = folded_through.map_or(0, |h| h + 1);
    let hours = read_totals(env, live_from, now_hour).await;
    let mut combined = base.clone();
    add_hours(&mut combined, &hours, live_from, now_hour, prefix);
    combined
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
    let totals = read_totals(env, from_hour, to_hour).await;
    let by_name: BTreeMap<String, BTreeMap<u64, u64>> = totals_between(&totals, from_hour, to_hour);
    let sum = |name: &str| by_name.get(name).map_or(0, |h| h.values().sum::<u64>());
    let (hits, misses) = (
        sum(crate::counters::names::ORIGIN_CACHE_HITS),
        sum(crate::counters::names::ORIGIN_CACHE_MISSES),
    );
    let origin_cache = json!({
        "hits": hits,
        "misses": misses,
        "hit_ratio": crate::origin_cache::hit_ratio(hits, misses),
    });
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
        "origin_cache": origin_cache,
        "freshness": freshness(env).await,
    });
    super::json_reply(200, &body)
}

/// How fresh the stats are (README, "Counters"): as of when the stalest
/// shard last published what it had, when the next round is due, and the
/// intervals behind that. `as_of` is null when a shard did not answer.
async fn freshness(env: &Env) -> Value {
    let settings = settings_from_env(env);
    let mut all = Vec::new();
    let mut unanswered = 0;
    for shard in 0..settings.shards {
        match call_shard(env, shard, "freshness", None).await {
            Ok(v) => match Freshness::from_json(&v) {
                Some(f) => all.push(f),
                None => unanswered += 1,
            },
            Err(_) => unanswered += 1,
        }
    }
    let of_all = (unanswered == 0).then(|| Freshness::of_all(&all)).flatten();
    json!({
        "as_of": of_all.map(|f| f.as_of),
        "next_publish": of_all.and_then(|f| f.next_publish),
        "publish_interval_secs": settings.publish_interval_secs(),
        "send_interval_secs": settings.send_interval_secs,
        "shards": settings.shards,
        "shards_unanswered": unanswered,
    })
}

fn bad(message: &str) -> Result<Response> {
    super::error_reply(400, message)
}
