//! Visitor journeys: scripted visits run through the core exactly as the
//! Worker runs a request, with the state carried in the signed cookie between
//! steps, and checked against what the fixture expects.
//!
//! Each `tests/fixtures/journeys/NAME.json` (see that folder's README):
//!
//! ```text
//! {
//!   "description": "what the journey shows",
//!   "rules": "examples/rules.json" | { an inline rules document },
//!   "steps": [                                   // `at`: seconds after the start, never decreasing
//!     {"at": 0,  "page": "/products/a?utm_campaign=x"},          // a page view
//!     {"at": 5,  "event": "add_to_cart", "path": "/products/a", "props": {"sku": "A"}},
//!     {"at": 9,  "page": "/", "rules": "path or inline object"}  // new rules from this step on
//!   ],
//!   "expect": [                                  // all optional but after_step
//!     {"after_step": 2,                          // index into steps, from 0
//!      "segments": ["best", "then"],             // exactly, best first
//!      "entered": ["segments entered on this request"],
//!      "blocks": {"hero": "segment id" | "default"},
//!      "signals": {"name": 3 | 0.25 | "text" | null},  // null: absent; numbers within 1e-9
//!      "standing": {"segment": "pending|entered|member|holding|out"},
//!      "state": {"series": 1, "last_events": 0, "memberships": 1},
//!      "cookie_shorter_than_after_step": 1}
//!   ]
//! }
//! ```
//!
//! A page step does what the Worker does per request: decode the cookie (or
//! start a fresh visitor), `record_page_view`, `classify`, encode the cookie.
//! An event step decodes, `record_event`s and encodes; after an event step only
//! `signals` and `state` may be checked (signals at the event's time).
//! Every encoded cookie must decode to exactly the state it was made from.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use edgeseg::classify::{self, Classification, ClassifyOptions, Standing};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::signals::{self, SignalValue};
use edgeseg::state::cookie::{self, CookieKey};
use edgeseg::state::VisitorState;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The journeys start here (an instant aligned to every bucket width the
/// fixtures use, so bucket edges fall on round offsets).
const START: u64 = 1_764_237_600;
const SECRET: &[u8] = b"journey-test-secret";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Journey {
    #[allow(dead_code)]
    description: String,
    rules: Value,
    steps: Vec<Step>,
    expect: Vec<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: u64,
    page: Option<String>,
    event: Option<String>,
    path: Option<String>,
    props: Option<Map<String, Value>>,
    rules: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    after_step: usize,
    segments: Option<Vec<String>>,
    entered: Option<Vec<String>>,
    blocks: Option<BTreeMap<String, String>>,
    signals: Option<BTreeMap<String, Value>>,
    standing: Option<BTreeMap<String, String>>,
    state: Option<StateExpect>,
    cookie_shorter_than_after_step: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateExpect {
    series: Option<usize>,
    last_events: Option<usize>,
    memberships: Option<usize>,
}

/// What one step left behind.
struct Outcome {
    classification: Option<Classification>,
    signals: Vec<(String, Option<SignalValue>)>,
    state: VisitorState,
    cookie_len: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_rules(spec: &Value) -> CompiledRules {
    let text = match spec {
        Value::String(path) => fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("rules file {path}: {e}")),
        other => other.to_string(),
    };
    CompiledRules::from_json(&text).unwrap_or_else(|e| panic!("rules do not compile:\n{e}"))
}

fn standing_name(s: Standing) -> &'static str {
    match s {
        Standing::Out => "out",
        Standing::Pending { .. } => "pending",
        Standing::Entered => "entered",
        Standing::Member { .. } => "member",
        Standing::Holding { .. } => "holding",
        Standing::Forced => "forced",
    }
}

/// Runs the steps; returns one outcome per step.
fn run(journey: &Journey) -> Vec<Outcome> {
    let key = CookieKey::new(SECRET);
    let mut rules = load_rules(&journey.rules);
    let mut cookie_value: Option<String> = None;
    let mut outcomes = Vec::new();
    let mut last_at = 0;
    for (i, step) in journey.steps.iter().enumerate() {
        assert!(step.at >= last_at, "step {i}: `at` goes back in time");
        last_at = step.at;
        if let Some(spec) = &step.rules {
            rules = load_rules(spec);
        }
        let now = START + step.at;
        let mut state = match &cookie_value {
            Some(v) => cookie::decode(v, &key)
                .unwrap_or_else(|e| panic!("step {i}: our own cookie does not decode: {e}")),
            None => VisitorState::fresh([7; 16], now),
        };
        let mut classification = None;
        let signal_values;
        match (&step.page, &step.event) {
            (Some(page), None) => {
                assert!(
                    step.path.is_none() && step.props.is_none(),
                    "step {i}: a page step takes no path or props"
                );
                let facts = RequestFacts::from_url(&format!("https://shop.test{page}"), now);
                classify::record_page_view(&rules, &mut state, &facts.path, now);
                let c = classify::classify(&rules, &facts, &mut state, &ClassifyOptions::default());
                signal_values = c.signals.clone();
                classification = Some(c);
            }
            (None, Some(event)) => {
                assert!(
                    rules.events.contains_key(event),
                    "step {i}: the rules do not declare {event}"
                );
                let path = step.path.as_deref().unwrap_or("/");
                let props = step.props.clone().unwrap_or_default();
                classify::record_event(&rules, &mut state, event, path, &props, now);
                let values = signals::evaluate(&rules.signals, &rules.tracking, &state, now);
                signal_values = rules
                    .signals
                    .iter()
                    .map(|s| s.name.clone())
                    .zip(values)
                    .collect();
            }
            _ => panic!("step {i}: give exactly one of page or event"),
        }
        let value = cookie::encode(&state, &key);
        let decoded = cookie::decode(&value, &key).expect("a fresh cookie decodes");
        assert_eq!(
            decoded, state,
            "step {i}: the cookie does not round-trip the state"
        );
        outcomes.push(Outcome {
            classification,
            signals: signal_values,
            state,
            cookie_len: value.len(),
        });
        cookie_value = Some(value);
    }
    outcomes
}

fn check(journey: &Journey, outcomes: &[Outcome]) -> Vec<String> {
    let mut failures = Vec::new();
    for e in &journey.expect {
        let n = e.after_step;
        let Some(out) = outcomes.get(n) else {
            failures.push(format!("expect after_step {n}: no such step"));
            continue;
        };
        let mut fail = |what: &str, expected: String, actual: String| {
            if expected != actual {
                failures.push(format!(
                    "after step {n} (at {}): {what}: expected {expected}, got {actual}",
                    journey.steps[n].at
                ));
            }
        };
        if let Some(expected) = &e.signals {
            for (name, want) in expected {
                let got = out.signals.iter().find(|(s, _)| s == name);
                match (got, want) {
                    (None, _) => fail(
                        &format!("signal {name}"),
                        "a signal".into(),
                        "no such signal".into(),
                    ),
                    (Some((_, Some(SignalValue::Number(g)))), Value::Number(w))
                        if w.as_f64()
                            .is_some_and(|w| (g - w).abs() <= 1e-9 * w.abs().max(1.0)) => {}
                    (Some((_, Some(SignalValue::Text(g)))), Value::String(w)) if g == w => {}
                    (Some((_, None)), Value::Null) => {}
                    (Some((_, g)), w) => fail(
                        &format!("signal {name}"),
                        format!("{w:?}"),
                        format!("{g:?}"),
                    ),
                }
            }
        }
        if let Some(s) = &e.state {
            let actual = [
                out.state.counts.len(),
                out.state.last_events.len(),
                out.state.memberships.len(),
            ];
            for (i, (what, want)) in [
                ("series", s.series),
                ("last_events", s.last_events),
                ("memberships", s.memberships),
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(want) = want {
                    fail(
                        &format!("state {what}"),
                        want.to_string(),
                        actual[i].to_string(),
                    );
                }
            }
        }
        if let Some(other) = e.cookie_shorter_than_after_step {
            let before = outcomes[other].cookie_len;
            if out.cookie_len >= before {
                fail(
                    "cookie length",
                    format!("under {before}"),
                    out.cookie_len.to_string(),
                );
            }
        }
        let needs_page = e.segments.is_some()
            || e.entered.is_some()
            || e.blocks.is_some()
            || e.standing.is_some();
        let Some(c) = &out.classification else {
            if needs_page {
                failures.push(format!(
                    "after step {n}: only signals and state can be checked after an event"
                ));
            }
            continue;
        };
        if let Some(want) = &e.segments {
            fail("segments", format!("{want:?}"), format!("{:?}", c.segments));
        }
        if let Some(want) = &e.entered {
            fail("entered", format!("{want:?}"), format!("{:?}", c.entered));
        }
        if let Some(blocks) = &e.blocks {
            for (block, want) in blocks {
                let got = c
                    .content
                    .iter()
                    .find(|(b, _)| b == block)
                    .map_or("default", |(_, s)| s.as_str());
                fail(&format!("block {block}"), want.clone(), got.to_string());
            }
        }
        if let Some(standing) = &e.standing {
            for (segment, want) in standing {
                let got = c
                    .outcomes
                    .iter()
                    .find(|o| &o.id == segment)
                    .map_or("no such segment", |o| standing_name(o.standing));
                fail(
                    &format!("standing of {segment}"),
                    want.clone(),
                    got.to_string(),
                );
            }
        }
    }
    failures
}

fn journeys() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/journeys");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Journey {
    serde_json::from_str(&fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn journeys_go_as_expected() {
    let files = journeys();
    assert!(files.len() >= 10, "expected at least ten journeys");
    let mut report = String::new();
    for file in &files {
        let journey = load(file);
        let outcomes = run(&journey);
        let failures = check(&journey, &outcomes);
        if !failures.is_empty() {
            report.push_str(&format!(
                "\n{}:\n  {}\n",
                file.file_name().unwrap().to_string_lossy(),
                failures.join("\n  ")
            ));
        }
    }
    assert!(report.is_empty(), "journeys failed:{report}");
}

/// Every journey expects something after its last step, so that no step is
/// written without being checked.
#[test]
fn every_journey_checks_its_last_step() {
    for file in journeys() {
        let j = load(&file);
        assert!(
            j.expect.iter().any(|e| e.after_step + 1 == j.steps.len()),
            "{}: nothing expected after the last step",
            file.display()
        );
    }
}
