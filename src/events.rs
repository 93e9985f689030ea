//! Events sent by the page: `POST /__edgeseg/event`.
//!
//! The front-end script (`edgeseg.track(name, props)`, usually through
//! `navigator.sendBeacon`) posts either one event or a batch:
//!
//! ```json
//! {"name": "add_to_cart", "props": {"sku": "A-1"}, "path": "/products/a"}
//! {"events": [{"name": "add_to_cart"}, {"name": "purchase", "props": {"total": 42}}]}
//! ```
//!
//! [`parse_events`] validates the raw body against the compiled rules, all or
//! nothing: one bad event rejects the whole body (the Worker answers 400 with
//! the message and leaves the visitor's state as it was), so the page never
//! half-records a batch. Each message is one sentence naming the event by its
//! index (a single event is `events[0]`) and what to change.
//!
//! [`admit`] then applies the per-visitor rate limit kept in the cookie
//! ([`RateWindow`]).

use std::fmt;

use serde_json::{Map, Value};

use crate::rules::CompiledRules;
use crate::state::{RateWindow, Timestamp};
use crate::util::suggest::suggest;

/// Largest body accepted, in bytes (a beacon is a few hundred).
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Most events accepted in one body.
pub const MAX_EVENTS: usize = 20;
/// Most props on one event.
pub const MAX_PROPS: usize = 32;
pub use crate::util::ident::{MAX_STRING_CHARS, PAGE_VIEW};

const EVENT_FIELDS: [&str; 3] = ["name", "props", "path"];

/// One validated event from the page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEvent {
    /// A name the rules declare (never `page_view`).
    pub name: String,
    /// Scalar props only (strings, numbers, booleans, null).
    pub props: Map<String, Value>,
    /// The page the event happened on (default `/`), for path-filtered signals.
    pub path: String,
}

/// Why a body was rejected. Messages are one sentence saying which event and what to change.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EventError {
    #[error(
        "the body is {size} bytes, over the {limit}-byte limit; send fewer events per request"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the body is not JSON: {message} at line {line}, column {column}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the body must be a JSON object (one event, or {{\"events\": [...]}}), got {found}")]
    NotAnObject { found: String },
    #[error(
        "unknown top-level field \"{field}\"; a batch is {{\"events\": [...]}} and nothing else"
    )]
    UnknownBatchField { field: String },
    #[error("events: expected an array of events, got {found}")]
    EventsNotArray { found: String },
    #[error("events: the batch is empty; send at least one event")]
    Empty,
    #[error(
        "events: {count} events in one body, over the limit of {limit}; split them across requests"
    )]
    TooMany { count: usize, limit: usize },
    #[error("events[{index}]: expected an event object, got {found}")]
    EventNotObject { index: usize, found: String },
    #[error("events[{index}]: unknown field \"{field}\"{}; an event has only \"name\", \"props\" and \"path\"", did_you_mean(.suggestion))]
    UnknownField {
        index: usize,
        field: String,
        suggestion: Option<String>,
    },
    #[error("events[{index}]: missing \"name\"; say which declared event this is")]
    MissingName { index: usize },
    #[error("events[{index}].{field}: expected {expected}, got {found}")]
    WrongType {
        index: usize,
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("events[{index}]: unknown event \"{name}\"{}; declare it in the rules' \"events\"", did_you_mean(.suggestion))]
    UnknownEvent {
        index: usize,
        name: String,
        suggestion: Option<String>,
    },
    #[error("events[{index}]: \"{name}\" is recorded by the worker on every page view and cannot be sent by the page")]
    BuiltIn { index: usize, name: String },
    #[error("events[{index}].path: expected a path starting with \"/\", got {path:?}")]
    PathNotAbsolute { index: usize, path: String },
    #[error("events[{index}].props: {count} props, over the limit of {limit}; send only what the rules use")]
    TooManyProps {
        index: usize,
        count: usize,
        limit: usize,
    },
    #[error(
        "events[{index}].props.{prop}: expected a string, number, boolean or null, got {found}"
    )]
    PropNotScalar {
        index: usize,
        prop: String,
        found: String,
    },
    #[error("events[{index}].{field}: {chars} characters, over the limit of {limit}; shorten it")]
    TooLong {
        index: usize,
        field: String,
        chars: usize,
        limit: usize,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    crate::util::suggest::did_you_mean(s.as_deref())
}

/// Describes a JSON value's kind for messages: `an array`, `a number`, ...
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Parses and validates a body of events against the rules (see the module doc).
///
/// Accepts one event `{"name": "...", "props": {...}, "path": "/page"}` or a
/// batch `{"events": [ ... ]}`; `path` (optional, default `/`) is the page the
/// event happened on. All or nothing: the first error rejects the body.
pub fn parse_events(body: &[u8], rules: &CompiledRules) -> Result<Vec<PageEvent>, EventError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(EventError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError::NotJson {
        line: e.line(),
        column: e.column(),
        message: json_message(&e),
    })?;
    let Value::Object(top) = value else {
        return Err(EventError::NotAnObject {
            found: kind(&value),
        });
    };
    let items: Vec<Value> = if top.contains_key("events") {
        if let Some(field) = top.keys().find(|k| *k != "events") {
            return Err(EventError::UnknownBatchField {
                field: field.clone(),
            });
        }
        match top.into_iter().next().map(|(_, v)| v) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(EventError::EventsNotArray {
                    found: kind(&other),
                })
            }
            None => Vec::new(),
        }
    } else {
        vec![Value::Object(top)]
    };
    if items.is_empty() {
        return Err(EventError::Empty);
    }
    if items.len() > MAX_EVENTS {
        return Err(EventError::TooMany {
            count: items.len(),
            limit: MAX_EVENTS,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_one(index, item, rules))
        .collect()
}

/// serde_json's message without its trailing " at line L column C" (we say that ourselves).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

fn check_len(index: usize, field: impl fmt::Display, s: &str) -> Result<(), EventError> {
    let chars = s.chars().count();
    if chars > MAX_STRING_CHARS {
        return Err(EventError::TooLong {
            index,
            field: field.to_string(),
            chars,
            limit: MAX_STRING_CHARS,
        });
    }
    Ok(())
}

/// One event object of a body, validated as [`parse_events`] does (the site's
/// server events share it: `crate::server_events::delivery`).
pub(crate) fn parse_event(
    index: usize,
    item: Value,
    rules: &CompiledRules,
) -> Result<PageEvent, EventError> {
    parse_one(index, item, rules)
}

fn parse_one(index: usize, item: Value, rules: &CompiledRules) -> Result<PageEvent, EventError> {
    let Value::Object(mut obj) = item else {
        return Err(EventError::EventNotObject {
            index,
            found: kind(&item),
        });
    };
    if let Some(field) = obj.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(EventError::UnknownField {
            index,
            field: field.clone(),
            suggestion: suggest(field, EVENT_FIELDS),
        });
    }
    let name = match obj.remove("name") {
        None => return Err(EventError::MissingName { index }),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(EventError::WrongType {
                index,
                field: "name",
                expected: "a string",
                found: kind(&other),
            })
        }
    };
    check_len(index, "name", &name)?;
    if name == PAGE_VIEW {
        return Err(EventError::BuiltIn { index, name });
    }
    if !rules.events.contains_key(&name) {
        let suggestion = suggest(
            &name,
            rules
                .events
                .keys()
                .map(String::as_str)
                .filter(|n| *n != PAGE_VIEW),
        );
        return Err(EventError::UnknownEvent {
            index,
            name,
            suggestion,
        });
    }
    let path = match obj.remove("path") {
        None | Some(Value::Null) => "/".to_string(),
        Some(Value::String(p)) => p,
        Some(other) => {
            return Err(EventError::WrongType {
                index,
                field: "path",
                expected: "a string",
                found: kind(&other),
            })
        }
    };
    check_len(index, "path", &path)?;
    if !path.starts_with('/') {
        return Err(EventError::PathNotAbsolute { index, path });
    }
    let props = match obj.remove("props") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(EventError::WrongType {
                index,
                field: "props",
                expected: "an object",
                found: kind(&other),
            })
        }
    };
    if props.len() > MAX_PROPS {
        return Err(EventError::TooManyProps {
            index,
            count: props.len(),
            limit: MAX_PROPS,
        });
    }
    for (prop, value) in &props {
        check_len(index, format_args!("props[{prop:?}]"), prop)?;
        match value {
            Value::Array(_) | Value::Object(_) => {
                return Err(EventError::PropNotScalar {
                    index,
                    prop: prop.clone(),
                    found: kind(value),
                })
            }
            Value::String(s) => check_len(index, format_args!("props.{prop}"), s)?,
            _ => {}
        }
    }
    Ok(PageEvent { name, props, path })
}

/// The per-visitor limit on events sent by the page: at most `max_events` per
/// fixed window of `window_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_events: u32,
    pub window_secs: u64,
}

impl Default for RateLimit {
    /// 60 events per minute: far above what a person clicking produces, far
    /// below what a script flooding the endpoint would.
    fn default() -> Self {
        RateLimit {
            max_events: 60,
            window_secs: 60,
        }
    }
}

/// Admits up to `n` events into the visitor's rate window and returns how many
/// are admitted (the first ones of the body; the Worker records those and drops
/// the rest).
///
/// A fixed window: it starts at the first event after the previous window
/// ended (`window_start`), and at most `limit.max_events` are admitted until
/// `window_start + limit.window_secs`. A clock that went backwards (`now` before
/// `window_start`) also starts a new window, so a skewed clock cannot lock a
/// visitor out. Events over the limit are added to `rate.dropped`, which counts
/// the drops of the current window (it resets with it) so the Worker can report
/// them. The window lives in the cookie, so a visitor who drops the cookie gets
/// a fresh window: this limits runaway pages and careless scripts, not attackers.
pub fn admit(rate: &mut RateWindow, n: usize, now: Timestamp, limit: RateLimit) -> usize {
    let window_over = now < rate.window_start
        || now.saturating_sub(rate.window_start) >= limit.window_secs
        || (rate.count == 0 && rate.dropped == 0);
    if window_over {
        *rate = RateWindow {
            window_start: now,
            count: 0,
            dropped: 0,
        };
    }
    let room = limit.max_events.saturating_sub(rate.count) as usize;
    let admitted = n.min(room);
    rate.count = rate.count.saturating_add(admitted as u32);
    let over = u32::try_from(n - admitted).unwrap_or(u32::MAX);
    rate.dropped = rate.dropped.saturating_add(over);
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CompiledRules {
        CompiledRules::from_json(
            r#"{"format": 1, "version": "test",
                "events": {"add_to_cart": {"remember": "30d"}, "purchase": {"remember": "90d"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse(body: &str) -> Result<Vec<PageEvent>, EventError> {
        parse_events(body.as_bytes(), &rules())
    }

    fn err(body: &str) -> String {
        parse(body).expect_err("should be rejected").to_string()
    }

    #[test]
    fn one_event_with_defaults() {
        let evs = parse(r#"{"name": "add_to_cart"}"#).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].name, "add_to_cart");
        assert_eq!(evs[0].path, "/");
        assert!(evs[0].props.is_empty());
    }

    #[test]
    fn a_batch_keeps_order_props_and_paths() {
        let evs = parse(
            r#"{"events": [{"name": "add_to_cart", "props": {"sku": "A-1", "qty": 2, "gift": false, "note": null}, "path": "/p/a"},
                           {"name": "purchase", "path": null}]}"#,
        )
        .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].props["sku"], "A-1");
        assert_eq!(evs[0].props["qty"], 2);
        assert_eq!(evs[0].path, "/p/a");
        assert_eq!(evs[1].name, "purchase");
        assert_eq!(evs[1].path, "/");
    }

    #[test]
    fn unknown_event_suggests_the_declared_one() {
        assert_eq!(
            err(
                r#"{"events": [{"name": "purchase"}, {"name": "purchase"}, {"name": "add_to_kart"}]}"#
            ),
            r#"events[2]: unknown event "add_to_kart" (did you mean "add_to_cart"?); declare it in the rules' "events""#
        );
        assert_eq!(
            err(r#"{"name": "zzz"}"#),
            r#"events[0]: unknown event "zzz"; declare it in the rules' "events""#
        );
    }

    #[test]
    fn page_view_is_built_in() {
        assert_eq!(
            parse(r#"{"name": "page_view"}"#),
            Err(EventError::BuiltIn {
                index: 0,
                name: "page_view".into()
            })
        );
        // ... and never suggested.
        assert!(!err(r#"{"name": "page_vew"}"#).contains("did you mean"));
    }

    #[test]
    fn not_json_says_where() {
        let e = parse("{\"name\": \n  \"add_to_cart\",}").unwrap_err();
        let EventError::NotJson { line, column, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(line, 2);
        assert!(column > 0);
        assert!(err("{").starts_with("the body is not JSON: EOF while parsing"));
        assert!(err("").starts_with("the body is not JSON"));
        assert!(parse_events(&[0xff, 0xfe], &rules()).is_err());
    }

    #[test]
    fn shape_errors() {
        assert_eq!(
            err("[1]"),
            "the body must be a JSON object (one event, or {\"events\": [...]}), got an array"
        );
        assert_eq!(
            err(r#"{"events": [], "name": "x"}"#),
            "unknown top-level field \"name\"; a batch is {\"events\": [...]} and nothing else"
        );
        assert_eq!(
            err(r#"{"events": {}}"#),
            "events: expected an array of events, got an object"
        );
        assert_eq!(parse(r#"{"events": []}"#), Err(EventError::Empty));
        assert_eq!(
            err(r#"{"events": [{"name": "purchase"}, 3]}"#),
            "events[1]: expected an event object, got a number"
        );
        assert_eq!(
            err(r#"{"name": "purchase", "prop": {}}"#),
            "events[0]: unknown field \"prop\" (did you mean \"props\"?); an event has only \"name\", \"props\" and \"path\""
        );
        assert_eq!(
            parse(r#"{"props": {}}"#),
            Err(EventError::MissingName { index: 0 })
        );
        assert_eq!(
            err(r#"{"name": 7}"#),
            "events[0].name: expected a string, got a number"
        );
        assert_eq!(
            err(r#"{"name": "purchase", "props": [1]}"#),
            "events[0].props: expected an object, got an array"
        );
        assert_eq!(
            err(r#"{"name": "purchase", "path": "products"}"#),
            "events[0].path: expected a path starting with \"/\", got \"products\""
        );
    }

    #[test]
    fn props_must_be_scalar_and_few() {
        assert_eq!(
            err(r#"{"name": "purchase", "props": {"items": [1, 2]}}"#),
            "events[0].props.items: expected a string, number, boolean or null, got an array"
        );
        let many: Vec<String> = (0..=MAX_PROPS).map(|i| format!("\"p{i}\": {i}")).collect();
        let body = format!(r#"{{"name": "purchase", "props": {{{}}}}}"#, many.join(","));
        assert_eq!(
            parse(&body),
            Err(EventError::TooManyProps {
                index: 0,
                count: MAX_PROPS + 1,
                limit: MAX_PROPS
            })
        );
    }

    #[test]
    fn long_strings_are_refused() {
        let long = "x".repeat(MAX_STRING_CHARS + 1);
        let ok = "é".repeat(MAX_STRING_CHARS); // characters, not bytes
        assert!(parse(&format!(
            r#"{{"name": "purchase", "props": {{"a": "{ok}"}}}}"#
        ))
        .is_ok());
        assert_eq!(
            err(&format!(
                r#"{{"name": "purchase", "props": {{"a": "{long}"}}}}"#
            )),
            "events[0].props.a: 257 characters, over the limit of 256; shorten it"
        );
        assert!(
            err(&format!(r#"{{"name": "purchase", "path": "/{long}"}}"#))
                .starts_with("events[0].path: 258 characters")
        );
        assert!(err(&format!(r#"{{"name": "{long}"}}"#)).starts_with("events[0].name: 257"));
        assert!(err(&format!(
            r#"{{"name": "purchase", "props": {{"{long}": 1}}}}"#
        ))
        .starts_with("events[0].props["));
    }

    #[test]
    fn size_and_count_limits() {
        let big = format!(
            r#"{{"name": "purchase", "pad": "{}"}}"#,
            " ".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(
            parse(&big),
            Err(EventError::TooLarge {
                size: big.len(),
                limit: MAX_BODY_BYTES
            })
        );
        let items = [r#"{"name": "purchase"}"#; MAX_EVENTS];
        assert_eq!(
            parse(&format!(r#"{{"events": [{}]}}"#, items.join(",")))
                .unwrap()
                .len(),
            MAX_EVENTS
        );
        let items = [r#"{"name": "purchase"}"#; MAX_EVENTS + 1];
        assert_eq!(
            parse(&format!(r#"{{"events": [{}]}}"#, items.join(","))),
            Err(EventError::TooMany {
                count: MAX_EVENTS + 1,
                limit: MAX_EVENTS
            })
        );
    }

    #[test]
    fn all_or_nothing() {
        // A valid first event does not survive a bad second one.
        assert!(parse(r#"{"events": [{"name": "purchase"}, {"name": "nope"}]}"#).is_err());
    }

    #[test]
    fn rate_window_admits_up_to_the_limit_then_drops() {
        let limit = RateLimit::default();
        let mut rate = RateWindow::default();
        assert_eq!(admit(&mut rate, 50, 1000, limit), 50);
        assert_eq!(admit(&mut rate, 20, 1030, limit), 10);
        assert_eq!(rate.dropped, 10);
        assert_eq!(admit(&mut rate, 1, 1059, limit), 0);
        assert_eq!(rate.dropped, 11);
        assert_eq!(rate.window_start, 1000);
        // The next window starts fresh.
        assert_eq!(admit(&mut rate, 5, 1060, limit), 5);
        assert_eq!(
            rate,
            RateWindow {
                window_start: 1060,
                count: 5,
                dropped: 0
            }
        );
        // A clock that went backwards starts a window rather than locking out.
        assert_eq!(admit(&mut rate, 3, 10, limit), 3);
        assert_eq!(rate.window_start, 10);
    }

    #[test]
    fn rate_window_from_a_fresh_state_starts_now() {
        let mut rate = RateWindow::default();
        let limit = RateLimit {
            max_events: 2,
            window_secs: 10,
        };
        assert_eq!(admit(&mut rate, 0, 5_000, limit), 0);
        assert_eq!(admit(&mut rate, 3, 5_001, limit), 2);
        assert_eq!(rate.window_start, 5_001);
        assert_eq!(rate.dropped, 1);
    }
}
