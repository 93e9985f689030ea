//! The Worker's side of guardrails (the test and its decisions are the
//! core's, [`crate::experiments::guardrail`]): the cron that tests and
//! stops, the content path's read of the stops, the admin restart.
//!
//! A stop travels the road bandit weights take: the cron writes it to KV
//! (`guardrail:KEY`), each isolate reads the stops of the experiments that
//! have guardrails at most every `refresh_seconds` and hands them to the page
//! pipeline as an input. Sites without guardrails read nothing more.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::json;
use worker::{console_error, console_log, Env, Request, Response, Result};

use crate::experiments::guardrail::{self, GuardrailState, Stopped};
use crate::export::batch::QueueMessage;
use crate::export::webhook::GuardrailStopDelivery;
use crate::rules::CompiledRules;

/// How often, at most, the cron tests an experiment's guardrails (one KV
/// write each time, against the free plan's 1,000 a day); the
/// `EDGESEG_GUARDRAIL_EVERY` var (seconds) overrides it.
const GUARDRAIL_EVERY_SECS: u64 = 600;
/// Days of counts the first test of an experiment reads (as bandits do).
const MAX_DAYS: u64 = 35;

type StoppedCache = Option<(f64, Rc<Stopped>)>;

thread_local! {
    static STOPPED: RefCell<StoppedCache> = const { RefCell::new(None) };
}

/// The KV key of an experiment's guardrail state.
pub fn key(experiment: &str) -> String {
    format!("guardrail:{experiment}")
}

fn guarded(
    rules: &CompiledRules,
) -> impl Iterator<Item = &crate::experiments::compile::CompiledExperiment> {
    rules
        .experiments
        .iter()
        .filter(|e| e.is_running() && guardrail::has_guardrails(e))
}

async fn read_state(kv: &worker::KvStore, experiment: &str) -> Option<GuardrailState> {
    let text = kv.get(&key(experiment)).text().await.ok()??;
    match GuardrailState::from_json(&text) {
        Ok(s) => Some(s),
        Err(err) => {
            console_error!("edgeseg: unreadable guardrail state of {experiment}: {err}");
            None
        }
    }
}

/// The active stops of the rules' running experiments that have guardrails,
/// read from KV at most every `refresh_seconds`. `None` when no experiment
/// has a guardrail (nothing is read).
pub async fn stopped(env: &Env, rules: &CompiledRules) -> Option<Rc<Stopped>> {
    let keys: Vec<(&str, &str)> = guarded(rules)
        .map(|e| (e.key.as_str(), e.seed.as_str()))
        .collect();
    if keys.is_empty() {
        return None;
    }
    let now = super::now_millis();
    let interval = f64::from(rules.settings.refresh_seconds) * 1_000.0;
    let cached = STOPPED.with(|w| {
        w.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < interval && now >= *at)
            .map(|(_, m)| Rc::clone(m))
    });
    if cached.is_some() {
        return cached;
    }
    let mut map = Stopped::new();
    if let Ok(kv) = env.kv(super::KV_BINDING) {
        for (experiment, seed) in keys {
            if let Some(state) = read_state(&kv, experiment).await.filter(|s| s.seed == seed) {
                let notices = guardrail::notices(&state);
                if !notices.is_empty() {
                    map.insert(experiment.to_string(), notices);
                }
            }
        }
    }
    let map = Rc::new(map);
    STOPPED.with(|w| *w.borrow_mut() = Some((now, Rc::clone(&map))));
    Some(map)
}

/// Every guardrailed experiment's state (for the results).
pub async fn states(env: &Env, rules: &CompiledRules) -> BTreeMap<String, GuardrailState> {
    let mut out = BTreeMap::new();
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return out;
    };
    for e in rules
        .experiments
        .iter()
        .filter(|e| guardrail::has_guardrails(e))
    {
        if let Some(s) = read_state(&kv, &e.key).await {
            out.insert(e.key.clone(), s);
        }
    }
    out
}

/// The cron's part: test each running experiment's guardrails from the
/// published counts (at most every [`GUARDRAIL_EVERY_SECS`]), write the
/// state back, and announce each new stop to the `guardrail_stop`
/// activations once.
pub async fn scheduled(env: &Env) {
    let Some(rules) = super::rules_cache::current(env).await else {
        return;
    };
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return;
    };
    let every = env
        .var("EDGESEG_GUARDRAIL_EVERY")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .unwrap_or(GUARDRAIL_EVERY_SECS);
    let now = super::now_secs();
    let now_hour = now / 3_600;
    // Hours older than this are complete: their totals no longer change.
    let settled = now_hour.saturating_sub(2);
    for e in guarded(&rules).filter(|e| e.is_live(now)) {
        let mut state = read_state(&kv, &e.key)
            .await
            .filter(|s| s.seed == e.seed)
            .unwrap_or_else(|| GuardrailState::new(&e.seed));
        if state.checked != 0 && now.saturating_sub(state.checked) < every {
            continue;
        }
        let combined = super::counters::folded_totals(
            env,
            &format!("exp:{}:", e.key),
            &mut state.base,
            &mut state.folded_through,
            (now_hour, settled, MAX_DAYS),
        )
        .await;
        let fired = guardrail::check(e, &combined, &mut state, now);
        let put = kv.put(&key(&e.key), state.to_json());
        let written = match put {
            Ok(p) => p.execute().await.map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = written {
            // Not stopped until the stop is in KV; the next run tries again.
            console_error!(
                "edgeseg: writing the guardrail state of {} failed: {err}",
                e.key
            );
            continue;
        }
        if fired.is_empty() {
            continue;
        }
        let mut messages = Vec::new();
        for stop in &fired {
            console_log!(
                "edgeseg: experiment {} stopped variant {}: {}",
                e.key,
                stop.variant,
                stop.reason()
            );
            for a in rules.activations.iter().filter(|a| {
                a.on == crate::document::ActivationOn::GuardrailStop
                    && a.experiment.as_ref().is_none_or(|x| *x == e.key)
            }) {
                let delivery = GuardrailStopDelivery {
                    activation: a.id.clone(),
                    experiment: e.key.clone(),
                    seed: e.seed.clone(),
                    variant: stop.variant.clone(),
                    served: e.variants[0].id.clone(),
                    goal: stop.goal.clone(),
                    guardrail: stop.guardrail.as_str().to_string(),
                    at: stop.at,
                    p_value: stop.p_value,
                    threshold: stop.threshold,
                    control: (stop.control.exposures, stop.control.conversions),
                    counts: (stop.counts.exposures, stop.counts.conversions),
                    reason: stop.reason(),
                    generation: stop.generation,
                    rules_version: super::rules_cache::revision(),
                    rules_label: rules.version().to_string(),
                };
                messages.push(QueueMessage::guardrail_stop(&delivery).encode());
            }
        }
        if !messages.is_empty() && super::export::webhooks_enabled(env) {
            if let Err(err) = super::export::send_now(env, messages).await {
                console_error!(
                    "edgeseg: announcing the guardrail stop of {} failed: {err}",
                    e.key
                );
            }
        }
    }
}

/// `POST experiments/restart {"experiment": KEY, "variant": ID}` (admin):
/// serves a variant a guardrail stopped again; its guardrails are tested
/// afresh on the counts from now on.
pub async fn restart(req: &mut Request, env: &Env) -> Result<Response> {
    let text = req.text().await.unwrap_or_default();
    let body: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return super::error_reply(400, &format!("the body is not JSON: {e}")),
    };
    let (Some(experiment), Some(variant)) = (
        body.get("experiment").and_then(|v| v.as_str()),
        body.get("variant").and_then(|v| v.as_str()),
    ) else {
        return super::error_reply(400, "send {\"experiment\": KEY, \"variant\": ID}");
    };
    let Some(rules) = super::rules_cache::current(env).await else {
        return super::error_reply(409, "no rules are loaded yet");
    };
    let Some(e) = rules.experiments.iter().find(|e| e.key == experiment) else {
        return super::error_reply(404, &format!("no experiment \"{experiment}\" in the rules"));
    };
    let kv = env.kv(super::KV_BINDING)?;
    let Some(mut state) = read_state(&kv, experiment)
        .await
        .filter(|s| s.seed == e.seed)
    else {
        return super::error_reply(
            404,
            &format!("experiment \"{experiment}\" has no guardrail stop"),
        );
    };
    let now = super::now_secs();
    let stop = match state.restart(variant, now) {
        Ok(stop) => stop.clone(),
        Err(err) => return super::error_reply(404, &err.to_string()),
    };
    kv.put(&key(experiment), state.to_json())?.execute().await?;
    // This isolate serves it at once; others at their next refresh.
    STOPPED.with(|w| *w.borrow_mut() = None);
    super::json_reply(
        200,
        &json!({
            "experiment": experiment,
            "variant": variant,
            "restarted_at": now,
            "stopped_at": stop.at,
            "note": "served again; other Workers pick it up at their next rules refresh, and its guardrails are tested afresh on the counts from now on",
        }),
    )
}
