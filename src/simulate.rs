//! A described visitor, replayed: what the CLI's `simulate`/`preview` and the
//! admin API's simulate do. Events are applied in time order exactly as the
//! Worker would see them (each page view is a request served by the page
//! pipeline, so `enter_after` and `hold_for` move along), then the last
//! request is served, and its whole outcome returned.

use serde_json::{Map, Value};

use crate::classify::{self, Classification};
use crate::error::suggest;
use crate::page::{self, Keys, PageContext, PageOutcome, PageRequest, Visitor};
use crate::preview::PreviewGrant;
use crate::request::RequestFacts;
use crate::rules::CompiledRules;
use crate::state::{Timestamp, VisitorState};

/// The visitor id used for simulations, so results are reproducible.
pub const VISITOR_ID: [u8; 16] = *b"edgeseg-simulate";

/// One thing the visitor did, some time before `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct PastEvent {
    pub name: String,
    pub path: String,
    /// Seconds before `now`.
    pub ago: u64,
    /// The event's properties, as the page or `track()` would send them
    /// (`{"value": "129.00", "category": "boots"}`): value, affinity and
    /// spend-based signals read them. Ignored for page views.
    pub props: Map<String, Value>,
}

/// A visitor to simulate.
#[derive(Debug, Clone, Default)]
pub struct SimulatedVisitor {
    pub events: Vec<PastEvent>,
    /// The last request's URL (its query gives the campaign parameters).
    pub url: String,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub country: Option<String>,
    pub accept_language: Option<String>,
    pub now: Timestamp,
}

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    #[error("unknown event {name:?}{}; the rules know: {}", did_you_mean(.suggestion), .known.join(", "))]
    UnknownEvent {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// A representative User-Agent for a device class (`mobile`, `tablet`,
/// `desktop`, `bot`), so a simulation can say "on a phone".
pub fn device_user_agent(device: &str) -> Option<&'static str> {
    Some(match device {
        "mobile" => "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "tablet" => "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/604.1",
        "desktop" => "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        "bot" => "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        _ => return None,
    })
}

impl SimulatedVisitor {
    fn facts(&self, url: &str, at: Timestamp) -> RequestFacts {
        RequestFacts {
            referrer: self.referrer.clone(),
            user_agent: self.user_agent.clone(),
            country: self.country.clone(),
            accept_language: self.accept_language.clone(),
            ..RequestFacts::from_url(url, at)
        }
    }
}

/// Replays the visitor's events, then classifies its last request.
pub fn simulate(
    rules: &CompiledRules,
    visitor: &SimulatedVisitor,
    forced: &[String],
) -> Result<Classification, SimulateError> {
    let force = (!forced.is_empty()).then(|| PreviewGrant {
        segments: forced.to_vec(),
        variants: Vec::new(),
        expires: Timestamp::MAX,
        draft: None,
        pick: false,
    });
    simulate_page(rules, visitor, force).map(|o| o.classification)
}

/// Replays the visitor's events through the page pipeline, then serves its
/// last request: the whole [`PageOutcome`] (plan, head insertions, headers,
/// counts), as the Worker would decide it. `force` previews segments and
/// variants as a signed link would (and, like one, counts nothing, so the
/// page gets no tracking script), without the link's banner and cookie.
pub fn simulate_page(
    rules: &CompiledRules,
    visitor: &SimulatedVisitor,
    force: Option<PreviewGrant>,
) -> Result<PageOutcome, SimulateError> {
    for e in &visitor.events {
        if !rules.events.contains_key(&e.name) {
            let known: Vec<String> = rules.events.keys().cloned().collect();
            return Err(SimulateError::UnknownEvent {
                suggestion: suggest(&e.name, known.iter().map(String::as_str)),
                name: e.name.clone(),
                known,
            });
        }
    }
    let now = visitor.now;
    let origin = crate::request::site_origin(&visitor.url);
    let mut events: Vec<_> = visitor
        .events
        .iter()
        .map(|e| (now.saturating_sub(e.ago), e))
        .collect();
    events.sort_by_key(|(at, _)| *at); // stable: same-time events keep their order
    let start = events.first().map_or(now, |(at, _)| *at);
    let mut state = Visitor::from_state(VisitorState::fresh(VISITOR_ID, start));
    let keys = simulation_keys();
    let context = PageContext {
        rules,
        keys: Some(keys),
        counters: None,
        weights: None,
        stopped: None,
        rules_version: None,
        webhooks: false,
    };
    for (at, e) in events {
        if e.name == "page_view" {
            let request = PageRequest {
                facts: visitor.facts(&format!("{origin}{}", e.path), at),
                ..PageRequest::default()
            };
            page::serve(&request, context, &mut state, RECORD_ID);
        } else {
            classify::record_event(rules, &mut state.state, &e.name, &e.path, &e.props, at);
        }
    }
    let request = PageRequest {
        facts: visitor.facts(&visitor.url, now),
        force,
        explain: true,
        ..PageRequest::default()
    };
    Ok(page::serve(&request, context, &mut state, RECORD_ID))
}

/// The keys simulations sign with: a simulated visitor's cookie is made as
/// the Worker would make it, but with a key of its own, so it is never a
/// real visitor's cookie.
fn simulation_keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| Keys::new(b"edgeseg-simulate: not a secret"))
}

/// The export record id of simulated page views (nothing is exported).
const RECORD_ID: [u8; 16] = VISITOR_ID;
