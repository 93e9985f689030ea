//! `POST /__edgeseg/server-events`: events for a visitor from the site's
//! backend (checkout, CRM), signed with [`SECRET_NAME`] (README, "Events
//! from the site's server"; the format is [`crate::server_events::delivery`]).
//!
//! In order, each refusal recording nothing: no secret configured (503); a
//! missing, tampered or stale signature (401); no rules (503); a body that
//! does not parse (400); an event the rules do not accept from the server
//! (403) or a value out of its bounds (400, naming the property); a full
//! inbox (429). Otherwise the events are stored in the visitor's inbox
//! ([`super::inbox`]) and the answer is 202 with how many were stored and
//! how many were repeats of ids already taken. Refusals are counted, per
//! isolate on the health endpoint and hourly in the counters.
//!
//! The browser endpoint's refusals by source and bounds are counted here too
//! ([`refused_from_browser`]), so the health endpoint shows both sides.

use std::cell::RefCell;

use serde_json::{json, Value};
use worker::{Env, Request, Response, Result};

use super::inbox::{self, PutOutcome};
use crate::counters::names;
use crate::events::MAX_BODY_BYTES;
use crate::server_events::{delivery, policy, Pending, PolicyError, Sender};

/// The secret the site's backend signs with (`wrangler secret put`, `.dev.vars`).
pub const SECRET_NAME: &str = "EDGESEG_SERVER_EVENTS_SECRET";

/// This isolate's tallies, for the health endpoint.
#[derive(Default, Clone, Copy)]
struct Tally {
    stored: u64,
    duplicates: u64,
    refused_signature: u64,
    refused_source: u64,
    refused_bounds: u64,
    refused_body: u64,
    refused_full: u64,
    browser_refused_source: u64,
    browser_refused_bounds: u64,
}

thread_local! {
    static TALLY: RefCell<Tally> = RefCell::new(Tally::default());
}

fn tally(f: impl FnOnce(&mut Tally)) {
    TALLY.with(|t| f(&mut t.borrow_mut()));
}

/// Counts a refusal in this isolate and in the hourly counters.
fn refuse(counter: &str, f: impl FnOnce(&mut Tally)) {
    tally(f);
    super::counters::add(names::SERVER_EVENTS_REFUSED, super::now_secs(), 1);
    super::counters::add(counter, super::now_secs(), 1);
}

/// A browser's body refused by source (403) or bounds (400): counted.
pub fn refused_from_browser(e: &PolicyError) {
    let now = super::now_secs();
    if e.is_source() {
        tally(|t| t.browser_refused_source += 1);
        super::counters::add(names::EVENTS_REFUSED_SOURCE, now, 1);
    } else {
        tally(|t| t.browser_refused_bounds += 1);
        super::counters::add(names::EVENTS_REFUSED_BOUNDS, now, 1);
    }
}

pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    let Some(secret) = super::secret(env, SECRET_NAME) else {
        return error(
            503,
            &format!("server events are off: the {SECRET_NAME} secret is not set (wrangler secret put {SECRET_NAME}, or .dev.vars locally); nothing was recorded"),
        );
    };
    let Some(body) = super::events::read_bounded(&mut req, MAX_BODY_BYTES).await? else {
        refuse(names::SERVER_EVENTS_REFUSED_BODY, |t| t.refused_body += 1);
        return error(
            400,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes; nothing was recorded"),
        );
    };
    let Ok(body) = String::from_utf8(body) else {
        refuse(names::SERVER_EVENTS_REFUSED_BODY, |t| t.refused_body += 1);
        return error(400, "the body is not UTF-8 JSON; nothing was recorded");
    };
    let now = super::now_secs();
    let header = req.headers().get(delivery::SIGNATURE_HEADER).ok().flatten();
    let at = match delivery::verify(secret.as_bytes(), header.as_deref(), &body, now) {
        Ok(at) => at,
        Err(e) => {
            refuse(names::SERVER_EVENTS_REFUSED_SIGNATURE, |t| {
                t.refused_signature += 1
            });
            return error(401, &e.to_string());
        }
    };
    let Some(rules) = super::rules_cache::current(env).await else {
        return error(
            503,
            "no rules are loaded, so no events are declared yet; nothing was recorded",
        );
    };
    let parsed = match delivery::parse(&body, &rules) {
        Ok(d) => d,
        Err(e) => {
            refuse(names::SERVER_EVENTS_REFUSED_BODY, |t| t.refused_body += 1);
            return error(400, &e.to_string());
        }
    };
    let events: Vec<_> = parsed.events.iter().map(|e| e.event.clone()).collect();
    if let Err(e) = policy::check(&rules, &events, Sender::Server) {
        if e.is_source() {
            refuse(names::SERVER_EVENTS_REFUSED_SOURCE, |t| {
                t.refused_source += 1
            });
        } else {
            refuse(names::SERVER_EVENTS_REFUSED_BOUNDS, |t| {
                t.refused_bounds += 1
            });
        }
        return policy_error(&e);
    }
    let pending: Vec<Pending> = parsed
        .events
        .into_iter()
        .map(|e| Pending {
            id: e.id,
            name: e.event.name,
            props: e.event.props,
            path: e.event.path,
            at: at.min(now),
        })
        .collect();
    match inbox::put(env, &parsed.visitor, &pending).await {
        Ok(PutOutcome::Stored(stored)) => {
            tally(|t| {
                t.stored += stored.stored as u64;
                t.duplicates += stored.duplicates as u64;
            });
            super::counters::add(names::SERVER_EVENTS_STORED, now, stored.stored as u64);
            super::json_reply(
                202,
                &json!({
                    "visitor": parsed.visitor,
                    "stored": stored.stored,
                    "duplicates": stored.duplicates,
                    "waiting": stored.waiting,
                    "applied": "on the visitor's next page",
                }),
            )
        }
        Ok(PutOutcome::Full(message)) => {
            refuse(names::SERVER_EVENTS_REFUSED_FULL, |t| t.refused_full += 1);
            error(429, &message)
        }
        Err(e) => {
            worker::console_error!("edgeseg: storing server events failed: {e}");
            error(503, "storing the events failed; nothing was recorded, send the same delivery again (event ids make the retry safe)")
        }
    }
}

/// The 403 or 400 for an event its sender may not send, or a value out of
/// bounds: `{"error": ..., "event": ..., "property": ...}`.
pub fn policy_error(e: &PolicyError) -> Result<Response> {
    let (event, property) = match e {
        PolicyError::ServerOnly { name, .. } | PolicyError::BrowserOnly { name, .. } => {
            (name, None)
        }
        PolicyError::BelowMin { name, prop, .. }
        | PolicyError::AboveMax { name, prop, .. }
        | PolicyError::NotANumber { name, prop, .. } => (name, Some(prop)),
    };
    let mut body = json!({ "error": e.to_string(), "event": event });
    if let Some(p) = property {
        body["property"] = Value::from(p.as_str());
    }
    super::json_reply(e.status(), &body)
}

/// The `server_events` part of the health endpoint.
pub fn health(env: &Env, rules: Option<&crate::rules::CompiledRules>) -> Value {
    let t = TALLY.with(|t| *t.borrow());
    let secret = super::secret(env, SECRET_NAME).is_some();
    let declared = rules.is_some_and(policy::accepts_server_events);
    json!({
        "secret_configured": secret,
        "rules_accept_server_events": declared,
        "inbox_bound": env.durable_object(inbox::INBOX_BINDING).is_ok(),
        "stored": t.stored,
        "duplicates": t.duplicates,
        "refused_signature": t.refused_signature,
        "refused_source": t.refused_source,
        "refused_bounds": t.refused_bounds,
        "refused_body": t.refused_body,
        "refused_full": t.refused_full,
        "browser_refused_source": t.browser_refused_source,
        "browser_refused_bounds": t.browser_refused_bounds,
    })
}

use super::error_reply as error;
