//! `POST /__edgeseg/event`: events from the page (`edgeseg.track`, auto-tracked
//! clicks, `navigator.sendBeacon`) recorded into the visitor's state.
//!
//! Validation is all-or-nothing: any problem is a 400 with a message saying
//! which event and what, and the state is left as it was. Accepted events are
//! rate-limited per visitor (the excess is dropped and counted in the state)
//! and the reply (204) carries the updated cookie.
//!
//! Before any of that, each client (by `CF-Connecting-IP`) is limited by
//! Cloudflare's Rate Limiting binding [`RATE_LIMIT_BINDING`] (`[[ratelimits]]`
//! in wrangler.toml; wrangler dev and Miniflare simulate it): past the limit
//! the answer is 429 and the refusal is counted (`events_refused`, and on the
//! health endpoint). Without the binding there is no per-client limit; if
//! the limiter fails, the request is let through (counting is not worth
//! losing events over).

use futures_util::StreamExt;
use worker::{Context, Env, Request, Response, Result};

use crate::events::{parse_events, MAX_BODY_BYTES};
use crate::page::{ConsentSignals, Visitor};
use crate::server_events::Sender;

/// Rate Limiting binding for `POST /__edgeseg/event` (wrangler.toml).
pub const RATE_LIMIT_BINDING: &str = "EDGESEG_EVENT_LIMIT";

pub async fn handle(mut req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    if !within_rate_limit(&req, env).await {
        super::counters::refused(super::now_secs());
        let mut r = error(
            429,
            "too many event requests from this client; wait a minute and send again",
        )?;
        r.headers_mut().set("retry-after", "60")?;
        return Ok(r);
    }
    let Some(rules) = super::rules_cache::current(env).await else {
        return error(400, "no rules are loaded, so no events are declared yet");
    };
    let declared_len = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return error(
            400,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        );
    }
    let Some(body) = read_bounded(&mut req, MAX_BODY_BYTES).await? else {
        return error(
            400,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        );
    };
    let events = match parse_events(&body, &rules) {
        Ok(events) => events,
        Err(e) => return error(400, &e.to_string()),
    };
    // Who may send each event, and the bounds on its values (403 / 400, counted).
    if let Err(e) = crate::server_events::policy::check(&rules, &events, Sender::Browser) {
        super::server_events::refused_from_browser(&e);
        return super::server_events::policy_error(&e);
    }
    let now_ms = super::now_millis() as u64;
    let now = now_ms / 1000;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let consent = ConsentSignals::from_gpc_header(header("sec-gpc").as_deref());
    let keys = super::secret_keys(env);
    let mut visitor = Visitor::load(
        &header("cookie").unwrap_or_default(),
        consent,
        &rules,
        keys.as_deref(),
        now,
        super::random_bytes(),
    );
    super::experiments::apply_confirmed(&mut visitor.state);
    let mut response = Response::empty()?.with_status(204);
    response.headers_mut().set("cache-control", "no-store")?;
    if !visitor.tracked {
        // Consent said no: accept (so pages need no special case) but keep nothing.
        return Ok(response);
    }
    let mut export = super::export::EventExport::new(&rules, req.headers(), now_ms);
    let counts = crate::page::record_events(&rules, &mut visitor, &events, now, |event, state| {
        export.event(event, state, now);
    });
    for (name, n) in counts {
        super::counters::add(&name, now, n);
    }
    if let Some(cookie) = visitor.set_cookie(&rules, keys.as_deref()) {
        response.headers_mut().append("set-cookie", &cookie)?;
    }
    export.send_later(env, ctx);
    Ok(response)
}

/// Whether this client may send another event request now.
async fn within_rate_limit(req: &Request, env: &Env) -> bool {
    let Ok(limiter) = env.rate_limiter(RATE_LIMIT_BINDING) else {
        return true;
    };
    let client = req
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".to_string());
    match limiter.limit(client).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            worker::console_error!(
                "edgeseg: the event rate limiter failed, letting the request through: {e}"
            );
            true
        }
    }
}

/// Reads the body, giving up (None) as soon as it exceeds `limit` bytes, so an
/// oversized body is never held in memory whole.
pub(super) async fn read_bounded(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let Ok(mut stream) = req.stream() else {
        return Ok(Some(Vec::new()));
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

use super::error_reply as error;
