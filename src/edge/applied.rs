//! `POST /__edgeseg/applied` `{"token": "...", "blocks": ["hero"]}`: the page
//! script's report of the blocks it applied from a decide answer, counted as
//! impressions and exposures by the core ([`crate::page::report`]). The
//! exposures reach the cookie with the visitor's next request, as after a
//! rewritten page ([`super::experiments::note_exposure`]).
//!
//! **Once per decision.** A token is stateless, so this isolate remembers
//! which blocks of each recent decision were reported ([`claim`]): a block
//! reported again counts nothing. When the memory is full the oldest
//! decisions go, and every decision made before the newest one forgotten is
//! refused from then on, so nothing is counted twice here. A replay in
//! another isolate could count a block again; browsers send one visitor's
//! requests over one connection to one location, and the README says so.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use worker::{Env, Request, Response, Result};

use crate::page::report::{self, MAX_REPORTED_BLOCKS};
use crate::page::{ConsentSignals, Visitor};
use crate::state::Timestamp;

/// The largest report body: a token and a few block ids.
const MAX_BODY_BYTES: usize = 8_192;
/// Decisions whose reported blocks this isolate remembers.
const MAX_DECISIONS: usize = 8_192;

#[derive(Default)]
struct Ledger {
    reported: HashMap<String, Vec<String>>,
    order: VecDeque<(String, Timestamp)>,
    /// Decisions made at or before this time may have been forgotten.
    floor: Option<Timestamp>,
}

thread_local! {
    static LEDGER: RefCell<Ledger> = RefCell::new(Ledger::default());
}

/// The blocks of `blocks` not reported before for decision `id` (made at
/// `at`), now remembered as reported; `None` when the decision may have been
/// reported and forgotten.
fn claim(id: &str, at: Timestamp, blocks: &[String]) -> Option<Vec<String>> {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        if !l.reported.contains_key(id) {
            if l.floor.is_some_and(|f| at <= f) {
                return None;
            }
            while l.order.len() >= MAX_DECISIONS {
                if let Some((old, t)) = l.order.pop_front() {
                    l.reported.remove(&old);
                    l.floor = Some(l.floor.map_or(t, |f| f.max(t)));
                }
            }
            l.order.push_back((id.to_string(), at));
            l.reported.insert(id.to_string(), Vec::new());
        }
        let seen = l.reported.get_mut(id)?;
        let mut fresh = Vec::new();
        for b in blocks {
            if !seen.contains(b) && !fresh.contains(b) {
                fresh.push(b.clone());
            }
        }
        seen.extend(fresh.iter().cloned());
        Some(fresh)
    })
}

/// `{"token": "...", "blocks": ["id", ...]}`, read through `serde_json::Value`
/// (a derived reader costs bundle size for two fields).
fn parse(body: &[u8]) -> Option<(String, Vec<String>)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    if o.keys().any(|k| k != "token" && k != "blocks") {
        return None;
    }
    let token = o.get("token")?.as_str()?.to_string();
    let blocks = o
        .get("blocks")?
        .as_array()?
        .iter()
        .map(|b| b.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    Some((token, blocks))
}

pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    let Some(rules) = super::rules_cache::current(env).await else {
        return error(400, "no rules are loaded, so no decision can be reported");
    };
    let declared_len = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    let too_big = format!("the body is larger than {MAX_BODY_BYTES} bytes");
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return error(400, &too_big);
    }
    let Some(body) = super::events::read_bounded(&mut req, MAX_BODY_BYTES).await? else {
        return error(400, &too_big);
    };
    let Some((token, blocks)) = parse(&body) else {
        return error(
            400,
            "expected {\"token\": \"...\", \"blocks\": [\"block id\", ...]} and nothing else",
        );
    };
    if blocks.len() > MAX_REPORTED_BLOCKS {
        return error(
            400,
            &format!("blocks: at most {MAX_REPORTED_BLOCKS} block ids a report"),
        );
    }
    let now = super::now_secs();
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
    let (Some(keys), true) = (keys, visitor.tracked && visitor.measured) else {
        // Consent says no: nothing is counted, and the page needs no special case.
        return Ok(Response::empty()?.with_status(204));
    };
    super::experiments::apply_confirmed(&mut visitor.state);
    let claims = match report::verify(&token, &keys.decision, &visitor.state, now) {
        Ok(c) => c,
        Err(e @ report::ReportError::Expired) => return error(410, &e.to_string()),
        Err(e @ report::ReportError::OtherVisitor) => return error(403, &e.to_string()),
        Err(e) => return error(400, &e.to_string()),
    };
    let named: Vec<String> = blocks.into_iter().filter(|b| claims.names(b)).collect();
    let Some(fresh) = claim(&claims.id, claims.at, &named) else {
        return error(
            409,
            "token: this decision was reported already; ask decide again",
        );
    };
    let counted = report::counts(&rules, &claims, &fresh, &mut visitor.state);
    for name in &counted.counts {
        super::counters::add(name, claims.at, 1);
    }
    for key in &counted.exposures {
        super::experiments::note_exposure(visitor.state.visitor_id, *key, claims.at);
    }
    // No Set-Cookie, as for a rewritten page: the visitor's next request
    // writes the exposure into the cookie. A cookie from this reply could
    // overwrite the one a decide or event request answered meanwhile.
    super::json_reply(
        200,
        &serde_json::json!({"counted": fresh, "exposures": counted.exposures.len()}),
    )
}

use super::error_reply as error;
