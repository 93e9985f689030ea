//! Where each event may come from, and the bounds on its numeric
//! properties: one check for both endpoints, so the page and the site's
//! backend are held to the same rules.
//!
//! An event's `source` in the rules says who may send it (`browser`, the
//! default; `server`; `any`). A body with an event its sender may not send is
//! refused whole (403): a browser's copy of a server-only purchase must never
//! reach a visitor's state. Bounds (`props.NAME.min`/`max`) refuse a body with
//! a value outside them, or a value that is not a number, with a 400 naming
//! the property. Both run before anything is recorded.

use serde_json::Value;

use crate::document::EventSource;
use crate::events::PageEvent;
use crate::rules::CompiledRules;

/// Who sent a body of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// `POST /__edgeseg/event`: the page, i.e. anyone.
    Browser,
    /// `POST /__edgeseg/server-events`, signed with the server events secret.
    Server,
}

/// Why a body was refused. Each message names the event by its index and says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("events[{index}]: \"{name}\" may only be sent by the site's server (the rules give it \"source\": \"server\"), so the page's copy was refused and nothing was recorded")]
    ServerOnly { index: usize, name: String },
    #[error("events[{index}]: \"{name}\" is sent by the page (its \"source\" is \"browser\"); give it \"source\": \"any\" or \"server\" in the rules to accept it from the server")]
    BrowserOnly { index: usize, name: String },
    #[error("events[{index}].props.{prop}: {value} is below {min}, the least the rules allow for \"{name}\"; nothing was recorded")]
    BelowMin {
        index: usize,
        name: String,
        prop: String,
        value: String,
        min: f64,
    },
    #[error("events[{index}].props.{prop}: {value} is above {max}, the most the rules allow for \"{name}\"; nothing was recorded")]
    AboveMax {
        index: usize,
        name: String,
        prop: String,
        value: String,
        max: f64,
    },
    #[error("events[{index}].props.{prop}: expected a number (the rules bound it for \"{name}\"), got {value}; nothing was recorded")]
    NotANumber {
        index: usize,
        name: String,
        prop: String,
        value: String,
    },
}

impl PolicyError {
    /// The HTTP status: 403 for an event from the wrong sender, 400 for a value out of bounds.
    pub fn status(&self) -> u16 {
        match self {
            PolicyError::ServerOnly { .. } | PolicyError::BrowserOnly { .. } => 403,
            _ => 400,
        }
    }

    /// The property a bounds error is about.
    pub fn property(&self) -> Option<&str> {
        match self {
            PolicyError::BelowMin { prop, .. }
            | PolicyError::AboveMax { prop, .. }
            | PolicyError::NotANumber { prop, .. } => Some(prop),
            _ => None,
        }
    }

    /// Whether this is a source refusal (403), which the Worker counts apart.
    pub fn is_source(&self) -> bool {
        self.status() == 403
    }
}

/// The sources an event accepts. Built-in events the rules do not declare
/// (the page script's engagement event) are the page's.
pub fn source_of(rules: &CompiledRules, event: &str) -> EventSource {
    rules
        .document
        .events
        .get(event)
        .map_or(EventSource::Browser, |e| e.source)
}

/// Whether the rules let the server send any event: without one, the content
/// path never looks for waiting server events (no I/O for sites that do not use them).
pub fn accepts_server_events(rules: &CompiledRules) -> bool {
    rules
        .document
        .events
        .values()
        .any(|e| e.source != EventSource::Browser)
}

/// Checks every event of a body against its source and bounds (see the module doc).
pub fn check(
    rules: &CompiledRules,
    events: &[PageEvent],
    sender: Sender,
) -> Result<(), PolicyError> {
    for (index, event) in events.iter().enumerate() {
        let allowed = matches!(
            (source_of(rules, &event.name), sender),
            (EventSource::Any, _)
                | (EventSource::Browser, Sender::Browser)
                | (EventSource::Server, Sender::Server)
        );
        if !allowed {
            let name = event.name.clone();
            return Err(match sender {
                Sender::Browser => PolicyError::ServerOnly { index, name },
                Sender::Server => PolicyError::BrowserOnly { index, name },
            });
        }
    }
    for (index, event) in events.iter().enumerate() {
        check_bounds(rules, index, event)?;
    }
    Ok(())
}

fn check_bounds(rules: &CompiledRules, index: usize, event: &PageEvent) -> Result<(), PolicyError> {
    let Some(spec) = rules.document.events.get(&event.name) else {
        return Ok(());
    };
    for (prop, bounds) in &spec.props {
        // A bounded property may be left out; when present it must fit.
        let Some(value) = event.props.get(prop).filter(|v| !v.is_null()) else {
            continue;
        };
        let shown = shown(value);
        let err_name = || event.name.clone();
        let Ok(n) = crate::util::number::parse(value) else {
            return Err(PolicyError::NotANumber {
                index,
                name: err_name(),
                prop: prop.clone(),
                value: shown,
            });
        };
        if let Some(min) = bounds.min.filter(|min| n < *min) {
            return Err(PolicyError::BelowMin {
                index,
                name: err_name(),
                prop: prop.clone(),
                value: shown,
                min,
            });
        }
        if let Some(max) = bounds.max.filter(|max| n > *max) {
            return Err(PolicyError::AboveMax {
                index,
                name: err_name(),
                prop: prop.clone(),
                value: shown,
                max,
            });
        }
    }
    Ok(())
}

/// A value as the sender wrote it (`1e300`, `"12.50"`), shortened for a message.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let head: String = text.chars().take(40).collect();
        format!("{head}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_events;

    fn rules() -> CompiledRules {
        CompiledRules::from_json(
            r#"{"format": 1, "version": "t", "events": {
                "add_to_cart": {},
                "purchase": {"source": "server", "props": {"value": {"min": -5000, "max": 5000}}},
                "newsletter": {"source": "any", "props": {"rating": {"min": 1}}}
            }}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn check_body(body: &str, sender: Sender) -> Result<(), PolicyError> {
        let rules = rules();
        let events = parse_events(body.as_bytes(), &rules).unwrap();
        check(&rules, &events, sender)
    }

    /// Issue 20: `{"name":"purchase","props":{"value":1e300}}` from a browser made it a big spender.
    #[test]
    fn a_browser_purchase_is_refused_with_403() {
        let e = check_body(
            r#"{"name": "purchase", "props": {"value": 1e300}}"#,
            Sender::Browser,
        )
        .unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(e.is_source());
        assert_eq!(
            e.to_string(),
            "events[0]: \"purchase\" may only be sent by the site's server (the rules give it \"source\": \"server\"), so the page's copy was refused and nothing was recorded"
        );
        // Hidden in a batch behind a harmless event: still refused.
        let e = check_body(
            r#"{"events": [{"name": "add_to_cart"}, {"name": "purchase"}]}"#,
            Sender::Browser,
        )
        .unwrap_err();
        assert_eq!(
            e,
            PolicyError::ServerOnly {
                index: 1,
                name: "purchase".into()
            }
        );
    }

    #[test]
    fn sources_per_sender() {
        assert_eq!(
            check_body(r#"{"name": "add_to_cart"}"#, Sender::Browser),
            Ok(())
        );
        assert_eq!(
            check_body(r#"{"name": "purchase"}"#, Sender::Server),
            Ok(())
        );
        assert_eq!(
            check_body(r#"{"name": "newsletter"}"#, Sender::Browser),
            Ok(())
        );
        assert_eq!(
            check_body(r#"{"name": "newsletter"}"#, Sender::Server),
            Ok(())
        );
        let e = check_body(r#"{"name": "add_to_cart"}"#, Sender::Server).unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(e.to_string().contains("\"source\": \"any\""), "{e}");
        // The page script's engagement event is the page's.
        assert_eq!(
            source_of(&rules(), crate::signals::engagement::EVENT),
            EventSource::Browser
        );
    }

    #[test]
    fn bounds_name_the_property() {
        let e = check_body(
            r#"{"name": "purchase", "props": {"value": 1e300}}"#,
            Sender::Server,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.property(), Some("value"));
        assert_eq!(
            e.to_string(),
            "events[0].props.value: 1e+300 is above 5000, the most the rules allow for \"purchase\"; nothing was recorded"
        );
        let e = check_body(
            r#"{"name": "purchase", "props": {"value": -5000.5}}"#,
            Sender::Server,
        )
        .unwrap_err();
        assert!(matches!(e, PolicyError::BelowMin { .. }), "{e:?}");
        let e = check_body(
            r#"{"name": "purchase", "props": {"value": "lots"}}"#,
            Sender::Server,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "events[0].props.value: expected a number (the rules bound it for \"purchase\"), got \"lots\"; nothing was recorded"
        );
        let e = check_body(
            r#"{"name": "purchase", "props": {"value": true}}"#,
            Sender::Server,
        )
        .unwrap_err();
        assert!(matches!(e, PolicyError::NotANumber { .. }));
        // Inside the bounds, at them, as a numeric string, or left out: accepted.
        for props in [
            r#"{"value": 129}"#,
            r#"{"value": 5000}"#,
            r#"{"value": "-12.50"}"#,
            "{}",
            r#"{"value": null}"#,
        ] {
            let body = format!(r#"{{"name": "purchase", "props": {props}}}"#);
            assert_eq!(check_body(&body, Sender::Server), Ok(()), "{props}");
        }
        // Only a minimum: no maximum.
        assert_eq!(
            check_body(
                r#"{"name": "newsletter", "props": {"rating": 1e9}}"#,
                Sender::Browser
            ),
            Ok(())
        );
        assert!(check_body(
            r#"{"name": "newsletter", "props": {"rating": 0}}"#,
            Sender::Browser
        )
        .is_err());
    }

    #[test]
    fn only_rules_with_a_server_event_accept_server_events() {
        assert!(accepts_server_events(&rules()));
        let plain = CompiledRules::from_json(
            r#"{"format": 1, "version": "t", "events": {"add_to_cart": {}}}"#,
        )
        .unwrap();
        assert!(!accepts_server_events(&plain));
    }
}
