//! The Worker's side of experiments: exposures confirmed from the rewrite
//! report, bandit weights from KV, the results endpoint and the bandit cron.
//!
//! **Why exposures are confirmed on the next request.** Whether a block of an
//! experiment was on the page is known only once the page has streamed
//! through (`RewriteReport::applied`, in the `on_end` callback), after the
//! response headers, and so the cookie, have left. The exposure is counted
//! there, once, and remembered in this isolate ([`note_exposure`]); the
//! visitor's next request (page or event) writes it into their cookie
//! ([`apply_confirmed`]). Until then a conversion does not count (it needs
//! the exposure in the cookie), and if that next request lands in another
//! isolate the visitor may be counted as exposed a second time there. Both
//! are rare (browsers send a visitor's requests over one connection to one
//! location) and documented in the README.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use worker::{console_error, console_log, Env, Request, Response, Result};

use crate::experiments::bandit::BanditState;
use crate::experiments::exposure;
use crate::rules::CompiledRules;
use crate::state::{Timestamp, VisitorState};

/// Confirmed exposures waiting for their visitor's next request.
const MAX_PENDING: usize = 8_192;

/// Bandit weights by experiment key, with when they were read (ms).
type WeightsCache = Option<(f64, Rc<BTreeMap<String, Vec<f64>>>)>;

/// Confirmed exposures by visitor id, and the order they came in (to evict
/// the oldest when full), so a request looks up its own visitor only.
#[derive(Default)]
struct Pending {
    by_visitor: HashMap<[u8; 16], Vec<(u32, Timestamp)>>,
    order: VecDeque<[u8; 16]>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
    static WEIGHTS: RefCell<WeightsCache> = const { RefCell::new(None) };
}

/// Remembers that `visitor` was exposed to the experiment stored under `cookie_key`.
pub fn note_exposure(visitor: [u8; 16], cookie_key: u32, at: Timestamp) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        while p.order.len() >= MAX_PENDING {
            if let Some(oldest) = p.order.pop_front() {
                p.by_visitor.remove(&oldest);
            }
        }
        p.order.push_back(visitor);
        p.by_visitor
            .entry(visitor)
            .or_default()
            .push((cookie_key, at));
    });
}

/// Writes this isolate's confirmed exposures of the visitor into their state.
pub fn apply_confirmed(state: &mut VisitorState) {
    // The visitor's id stays in `order` until it ages out; removing it from
    // the map is enough (a later exposure adds a new entry and order slot).
    let confirmed = PENDING.with(|p| p.borrow_mut().by_visitor.remove(&state.visitor_id));
    for (key, at) in confirmed.into_iter().flatten() {
        exposure::confirm_exposure(state, key, at);
    }
}

/// The KV key of an experiment's bandit weights and their history.
pub fn bandit_key(experiment: &str) -> String {
    format!("bandit:{experiment}")
}

/// Current bandit weights of the rules' bandit experiments, read from KV at
/// most every `refresh_seconds` (the same rhythm as the rules). `None` when
/// no experiment is a bandit.
pub async fn weights(env: &Env, rules: &CompiledRules) -> Option<Rc<BTreeMap<String, Vec<f64>>>> {
    let bandits: Vec<&str> = rules
        .experiments
        .iter()
        .filter(|e| e.bandit.is_some() && e.is_running())
        .map(|e| e.key.as_str())
        .collect();
    if bandits.is_empty() {
        return None;
    }
    let now = super::now_millis();
    let interval = f64::from(rules.settings.refresh_seconds) * 1_000.0;
    let cached = WEIGHTS.with(|w| {
        w.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < interval && now >= *at)
            .map(|(_, m)| Rc::clone(m))
    });
    if cached.is_some() {
        return cached;
    }
    let mut map = BTreeMap::new();
    if let Ok(kv) = env.kv(super::KV_BINDING) {
        for key in bandits {
            if let Ok(Some(text)) = kv.get(&bandit_key(key)).text().await {
                if let Ok(state) = BanditState::from_json(&text) {
                    map.insert(key.to_string(), state.weights);
                }
            }
        }
    }
    let map = Rc::new(map);
    WEIGHTS.with(|w| *w.borrow_mut() = Some((now, Rc::clone(&map))));
    Some(map)
}

/// Days of results the admin endpoint reads by default, and at most.
const DEFAULT_DAYS: u64 = 7;
const MAX_DAYS: u64 = 35;
/// How often, at most, the cron recomputes a bandit's weights (KV's free
/// plan allows 1,000 writes a day); the `EDGESEG_BANDIT_EVERY` var (seconds)
/// overrides it.
const BANDIT_EVERY_SECS: u64 = 600;

async fn bandit_states(env: &Env, rules: &CompiledRules) -> BTreeMap<String, BanditState> {
    let mut out = BTreeMap::new();
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return out;
    };
    for e in rules.experiments.iter().filter(|e| e.bandit.is_some()) {
        if let Ok(Some(text)) = kv.get(&bandit_key(&e.key)).text().await {
            match BanditState::from_json(&text) {
                Ok(s) => {
                    out.insert(e.key.clone(), s);
                }
                Err(err) => console_error!("edgeseg: unreadable bandit state of {}: {err}", e.key),
            }
        }
    }
    out
}

/// `GET experiments?days=N` (admin): every experiment's and holdout's results
/// over the last N days (default 7, at most 35).
pub async fn results(req: &Request, env: &Env) -> Result<Response> {
    let Some(rules) = super::rules_cache::current(env).await else {
        return super::error_reply(409, "no rules are loaded yet");
    };
    let url = req.url()?;
    let days = match url
        .query_pairs()
        .find(|(k, _)| k == "days")
        .map(|(_, v)| v.to_string())
    {
        None => DEFAULT_DAYS,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(d) if (1..=MAX_DAYS).contains(&d) => d,
            _ => {
                return super::error_reply(
                    400,
                    &format!("days: expected a whole number from 1 to {MAX_DAYS}, got {v:?}"),
                )
            }
        },
    };
    let to_hour = super::now_secs() / 3_600;
    let from_hour = to_hour.saturating_sub(days * 24 - 1);
    let totals = super::counters::read_totals(env, from_hour, to_hour).await;
    let hourly = crate::counters::totals_between(&totals, from_hour, to_hour);
    let bandits = bandit_states(env, &rules).await;
    let mut body =
        crate::experiments::results::results_json(&rules, &hourly, from_hour, to_hour, &bandits);
    let guardrails = super::guardrails::states(env, &rules).await;
    crate::experiments::guardrail::annotate(&mut body, &rules, &guardrails);
    super::json_reply(200, &body)
}

/// The cron's part: recompute each running bandit's weights from the published
/// counts (at most every [`BANDIT_EVERY_SECS`]), keeping their history.
pub async fn scheduled(env: &Env) {
    let Some(rules) = super::rules_cache::current(env).await else {
        return;
    };
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return;
    };
    let every = env
        .var("EDGESEG_BANDIT_EVERY")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .unwrap_or(BANDIT_EVERY_SECS);
    let now = super::now_secs();
    let now_hour = now / 3_600;
    // Hours older than this are complete: their totals no longer change.
    let settled = now_hour.saturating_sub(2);
    let mut states = bandit_states(env, &rules).await;
    for e in rules.experiments.iter().filter(|e| e.is_running()) {
        let Some(spec) = &e.bandit else { continue };
        let variants: Vec<String> = e.variants.iter().map(|v| v.id.clone()).collect();
        let mut state = match states.remove(&e.key) {
            Some(s) if s.seed == e.seed && s.variants == variants => s,
            _ => BanditState {
                seed: e.seed.clone(),
                variants: variants.clone(),
                weights: e.weights.clone(),
                updated: 0,
                history: Vec::new(),
                base: BTreeMap::new(),
                folded_through: None,
            },
        };
        if state.updated != 0 && now.saturating_sub(state.updated) < every {
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
        let arms = crate::experiments::results::bandit_arms(e, &combined);
        let weights = crate::experiments::bandit::thompson_weights(&e.seed, &arms, spec)
            .unwrap_or_else(|| state.weights.clone());
        state.push(weights, now);
        let put = kv.put(&bandit_key(&e.key), state.to_json());
        let written = match put {
            Ok(p) => p.execute().await.map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match written {
            Ok(()) => console_log!("edgeseg: bandit {} weights {:?}", e.key, state.weights),
            Err(err) => {
                console_error!("edgeseg: writing bandit weights of {} failed: {err}", e.key)
            }
        }
    }
}
