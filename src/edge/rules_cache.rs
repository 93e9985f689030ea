//! The compiled rules, cached in the isolate and refreshed from KV at most every
//! `refresh_seconds`.
//!
//! Visitors never wait on KV once an isolate has rules: [`for_request`] serves
//! the cached copy and, when it is due, re-reads KV after the response
//! (`ctx.wait_until`, stale-while-revalidate). Only an isolate's very first
//! read is waited for, and at most [`FIRST_LOAD_BOUND_MS`]: past it the page
//! passes through untouched and the read goes on for the next request. The
//! admin API, the health endpoint and the cron use [`current`], which refreshes
//! inline, since they should see the newest rules.
//!
//! A value that fails to parse or validate never replaces the last good rules:
//! the failure is logged and kept for the health endpoint. Unchanged text is
//! not recompiled. With no good rules ever, [`current`] returns `None` and pages
//! pass through untouched.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{self, Either};
use worker::{console_error, console_log, Context, Env};

use crate::rules::CompiledRules;

/// How often to look at KV while there are no good rules yet.
const REFRESH_WITHOUT_RULES_MS: f64 = 5_000.0;
/// Longest a visitor waits for an isolate's first read of the rules.
pub const FIRST_LOAD_BOUND_MS: u64 = 1_000;

/// What the health endpoint reports about the rules.
#[derive(Default)]
pub struct RulesStatus {
    pub rules: Option<Rc<CompiledRules>>,
    /// The KV text that produced `rules` (or was last rejected), to skip recompiling.
    last_text: Option<String>,
    pub loaded_at_ms: Option<f64>,
    pub checked_at_ms: Option<f64>,
    /// The last rejected rules value: when, and every error.
    pub last_error: Option<(f64, Vec<String>)>,
    /// Set when KV itself could not be read.
    pub kv_error: Option<String>,
    /// The admin revision of the text in KV (metadata the admin API writes
    /// with it); `None` for rules put into KV by other means.
    pub revision: Option<u64>,
}

thread_local! {
    static CACHE: RefCell<RulesStatus> = RefCell::new(RulesStatus::default());
}

/// The rules in force, refreshing from KV first if the interval has passed.
pub async fn current(env: &Env) -> Option<Rc<CompiledRules>> {
    let now = super::now_millis();
    if due(now) {
        refresh(env, now).await;
    }
    cached()
}

/// What the content path uses: the cached rules at once (see the module doc).
/// When a refresh is due, the answer says so and the caller starts it with
/// [`refresh_later`] once its response is ready, so that the read overlaps
/// the body going out rather than the origin's answer.
pub async fn for_request(env: &Env) -> (Option<Rc<CompiledRules>>, RefreshDue) {
    let now = super::now_millis();
    if !due(now) {
        return (cached(), RefreshDue(None));
    }
    if cached().is_some() {
        // Marked now, so the requests that follow while KV answers do not
        // start another.
        CACHE.with(|c| c.borrow_mut().checked_at_ms = Some(now));
        return (cached(), RefreshDue(Some(now)));
    }
    let read = refresh(env, now);
    let bound = worker::Delay::from(Duration::from_millis(FIRST_LOAD_BOUND_MS));
    futures_util::pin_mut!(read, bound);
    if let Either::Right(((), _)) = future::select(read, bound).await {
        console_error!(
            "edgeseg: reading the rules from KV took over {FIRST_LOAD_BOUND_MS} ms; this page passes through"
        );
    }
    (cached(), RefreshDue(None))
}

/// A rules refresh this request is to start after its response (or none).
#[must_use = "start it with rules_cache::refresh_later"]
pub struct RefreshDue(Option<f64>);

impl RefreshDue {
    pub fn is_due(&self) -> bool {
        self.0.is_some()
    }
}

/// Starts the refresh `due` asks for, after the response (`ctx.wait_until`).
pub fn refresh_later(due: RefreshDue, env: &Env, ctx: &Context) {
    if let Some(now) = due.0 {
        let env = env.clone();
        ctx.wait_until(async move { refresh(&env, now).await });
    }
}

/// The admin revision of the rules in force, when known (see [`RulesStatus::revision`]).
pub fn revision() -> Option<u64> {
    CACHE.with(|c| c.borrow().revision)
}

fn cached() -> Option<Rc<CompiledRules>> {
    CACHE.with(|c| c.borrow().rules.clone())
}

fn due(now: f64) -> bool {
    CACHE.with(|c| {
        let c = c.borrow();
        let interval = c.rules.as_ref().map_or(REFRESH_WITHOUT_RULES_MS, |r| {
            f64::from(r.settings.refresh_seconds) * 1_000.0
        });
        c.checked_at_ms
            .is_none_or(|t| now - t >= interval || now < t)
    })
}

/// Reads the status for the health endpoint (after making sure it is fresh).
pub async fn status<T>(env: &Env, f: impl FnOnce(&RulesStatus) -> T) -> T {
    current(env).await;
    CACHE.with(|c| f(&c.borrow()))
}

async fn refresh(env: &Env, now: f64) {
    CACHE.with(|c| c.borrow_mut().checked_at_ms = Some(now));
    let text = match env.kv(super::KV_BINDING) {
        Ok(kv) => kv
            .get(super::RULES_KEY)
            .text_with_metadata::<crate::rules::history::RulesKeyMeta>()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (text, revision) = match text {
        Ok((Some(t), metadata)) => {
            let revision = metadata.and_then(|m| m.revision);
            CACHE.with(|c| c.borrow_mut().revision = revision);
            (t, revision)
        }
        Ok((None, _)) => {
            CACHE.with(|c| {
                c.borrow_mut().kv_error = Some(format!("no \"{}\" key in KV", super::RULES_KEY))
            });
            return;
        }
        Err(e) => {
            console_error!("edgeseg: reading rules from KV failed: {e}");
            CACHE.with(|c| c.borrow_mut().kv_error = Some(e));
            return;
        }
    };
    let unchanged = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.kv_error = None;
        c.last_text.as_deref() == Some(text.as_str())
    });
    if unchanged {
        return;
    }
    match CompiledRules::from_json(&text) {
        Ok(rules) => {
            // The revision tells saves apart: the label ("version") often stays the same.
            match revision {
                Some(r) => console_log!(
                    "edgeseg: rules revision {r} (version \"{}\") loaded",
                    rules.version()
                ),
                None => console_log!(
                    "edgeseg: rules version \"{}\" loaded (put into KV directly, no revision)",
                    rules.version()
                ),
            }
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                c.rules = Some(Rc::new(rules));
                c.loaded_at_ms = Some(now);
                c.last_text = Some(text);
            });
        }
        Err(errors) => {
            let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
            console_error!(
                "edgeseg: rejected rules from KV ({} errors); keeping the last good rules:\n{}",
                lines.len(),
                lines.join("\n")
            );
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                c.last_error = Some((now, lines));
                c.last_text = Some(text);
            });
        }
    }
}
