//! What the site's backend POSTs to `/__edgeseg/server-events`: the body, and
//! the signature that makes it the backend's.
//!
//! ```json
//! {"visitor": "3f9c0a…(32 hex)", "events": [
//!   {"id": "order-NW-10482", "name": "purchase", "props": {"value": 129}, "path": "/checkout"}]}
//! ```
//! with `X-Edgeseg-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//! the same scheme as the activation webhooks the Worker sends
//! ([`crate::export::webhook`]), so one verification story covers both
//! directions. `t` must be within [`REPLAY_WINDOW_SECS`] of the Worker's
//! clock (a captured delivery replayed later is refused), the comparison is
//! constant-time, and `t` is when the events happened (they are recorded at
//! that time, so windows like "purchased within 7 days" count from the
//! purchase, not from the visitor's next page).
//!
//! `visitor` is the id the Worker gave the visitor (`edgeseg.visitorId` on
//! the page). Each event carries an `id` of the backend's choosing (an order
//! number): a retried delivery with the same ids is acknowledged and not
//! recorded twice. Everything else about an event is what the page sends
//! ([`crate::events`]), checked the same way.

use serde_json::Value;

use crate::events::{parse_event, EventError, PageEvent, MAX_BODY_BYTES, MAX_EVENTS};
use crate::export::webhook::{self, VerifyError};
use crate::state::Timestamp;

/// The header that carries the signature (the webhooks' header).
pub const SIGNATURE_HEADER: &str = webhook::SIGNATURE_HEADER;
/// How far from the Worker's clock a signing time may be, in seconds.
pub const REPLAY_WINDOW_SECS: u64 = 300;
/// Longest event id, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// A verified, validated delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The visitor's id, 32 lowercase hex digits.
    pub visitor: String,
    pub events: Vec<ServerEvent>,
}

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEvent {
    /// The backend's id for it (idempotency).
    pub id: String,
    pub event: PageEvent,
}

/// Why a delivery's signature was refused (401; nothing is recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("no X-Edgeseg-Signature header; sign the raw body with the server events secret (README, \"Events from the site's server\")")]
    Missing,
    #[error("{0}; nothing was recorded")]
    Refused(VerifyError),
}

/// Why a signed delivery's body was refused (400; nothing is recorded).
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    #[error(
        "the body is {size} bytes, over the {limit}-byte limit; send fewer events per request"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body must be a JSON object {{\"visitor\": \"...\", \"events\": [...]}}")]
    NotAnObject,
    #[error("unknown top-level field \"{0}\"; a delivery has only \"visitor\" and \"events\"")]
    UnknownField(String),
    #[error(
        "visitor: missing; give the id the Worker gave the visitor (edgeseg.visitorId on the page)"
    )]
    MissingVisitor,
    #[error("visitor: expected the 32 hex digits of edgeseg.visitorId, got {0}")]
    BadVisitor(String),
    #[error("events: expected a non-empty array of at most {limit} events")]
    BadEvents { limit: usize },
    #[error("events[{index}].id: missing; give each event an id of your own (an order number) so a retried delivery counts once")]
    MissingId { index: usize },
    #[error("events[{index}].id: expected a string of 1 to {limit} printable characters")]
    BadId { index: usize, limit: usize },
    #[error("events[{index}].id: {id:?} appears twice in this delivery")]
    DuplicateId { index: usize, id: String },
    #[error(transparent)]
    Event(#[from] EventError),
}

/// Checks the signature (see the module doc) and returns the signing time.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &str,
    now: Timestamp,
) -> Result<Timestamp, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    webhook::verify(secret, header, body, now, REPLAY_WINDOW_SECS)
        .map_err(SignatureError::Refused)?;
    // verify() has parsed it already; read the time it accepted.
    header
        .split(',')
        .find_map(|p| p.trim().strip_prefix("t=")?.parse().ok())
        .ok_or(SignatureError::Refused(VerifyError::Malformed))
}

/// The signature header for `body` signed at `t` (tests, and the CLI's twin
/// of `examples/shop-backend.mjs`).
pub fn sign(secret: &[u8], t: Timestamp, body: &str) -> String {
    webhook::signature_header(secret, t, body)
}

/// Parses and validates a delivery's body, all or nothing.
pub fn parse(body: &str, rules: &crate::rules::CompiledRules) -> Result<Delivery, DeliveryError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(DeliveryError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let value: Value =
        serde_json::from_str(body).map_err(|e| DeliveryError::NotJson(e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(DeliveryError::NotAnObject);
    };
    if let Some(field) = top.keys().find(|k| *k != "visitor" && *k != "events") {
        return Err(DeliveryError::UnknownField(field.clone()));
    }
    let visitor = match top.remove("visitor") {
        None | Some(Value::Null) => return Err(DeliveryError::MissingVisitor),
        Some(Value::String(s)) if is_visitor_id(&s) => s.to_ascii_lowercase(),
        Some(other) => return Err(DeliveryError::BadVisitor(shorten(&other.to_string()))),
    };
    let items = match top.remove("events") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_EVENTS => items,
        _ => return Err(DeliveryError::BadEvents { limit: MAX_EVENTS }),
    };
    let mut events: Vec<ServerEvent> = Vec::with_capacity(items.len());
    for (index, mut item) in items.into_iter().enumerate() {
        let id = match item.as_object_mut().map(|o| o.remove("id")) {
            // Not an object: the event parser says so.
            None => None,
            Some(None) => return Err(DeliveryError::MissingId { index }),
            Some(Some(Value::String(id))) if is_event_id(&id) => Some(id),
            Some(Some(_)) => {
                return Err(DeliveryError::BadId {
                    index,
                    limit: MAX_ID_CHARS,
                })
            }
        };
        let event = parse_event(index, item, rules)?;
        let id = id.ok_or(DeliveryError::MissingId { index })?;
        if events.iter().any(|e| e.id == id) {
            return Err(DeliveryError::DuplicateId { index, id });
        }
        events.push(ServerEvent { id, event });
    }
    Ok(Delivery { visitor, events })
}

fn is_visitor_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_event_id(s: &str) -> bool {
    let n = s.chars().count();
    (1..=MAX_ID_CHARS).contains(&n) && !s.chars().any(char::is_control)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::CompiledRules;

    const VISITOR: &str = "00112233445566778899aabbccddeeff";

    fn rules() -> CompiledRules {
        CompiledRules::from_json(
            r#"{"format": 1, "version": "t", "events": {"purchase": {"source": "server"}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_signed_delivery_verifies_and_gives_its_time() {
        let body =
            format!(r#"{{"visitor":"{VISITOR}","events":[{{"id":"o-1","name":"purchase"}}]}}"#);
        let header = sign(b"srv", 1_000, &body);
        assert_eq!(verify(b"srv", Some(&header), &body, 1_100), Ok(1_000));
        // Both sides of the window, to the second.
        assert_eq!(verify(b"srv", Some(&header), &body, 1_300), Ok(1_000));
        assert_eq!(verify(b"srv", Some(&header), &body, 700), Ok(1_000));
    }

    #[test]
    fn tampered_replayed_and_unsigned_deliveries_are_refused() {
        let body = format!(
            r#"{{"visitor":"{VISITOR}","events":[{{"id":"o-1","name":"purchase","props":{{"value":10}}}}]}}"#
        );
        let header = sign(b"srv", 1_000, &body);
        let tampered = body.replace("10", "10000");
        assert_eq!(
            verify(b"srv", Some(&header), &tampered, 1_000),
            Err(SignatureError::Refused(VerifyError::Mismatch))
        );
        assert_eq!(
            verify(b"other secret", Some(&header), &body, 1_000),
            Err(SignatureError::Refused(VerifyError::Mismatch))
        );
        // A capture replayed six minutes later.
        let e = verify(b"srv", Some(&header), &body, 1_360).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the delivery was signed 360 s away from now, beyond the 300 s allowed; nothing was recorded"
        );
        // Moving t into the window breaks the signature.
        let moved = header.replace("t=1000", "t=1300");
        assert_eq!(
            verify(b"srv", Some(&moved), &body, 1_360),
            Err(SignatureError::Refused(VerifyError::Mismatch))
        );
        assert_eq!(
            verify(b"srv", None, &body, 1_000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(b"srv", Some("sha256=abc"), &body, 1_000),
            Err(SignatureError::Refused(VerifyError::Malformed))
        );
    }

    /// The same vector as the webhook's (`openssl dgst -sha256 -hmac whsec_test`):
    /// one scheme both ways.
    #[test]
    fn the_scheme_is_the_webhooks() {
        assert_eq!(
            sign(b"whsec_test", 1_764_633_600, r#"{"v":1}"#),
            "t=1764633600,v1=ddc081312ae863577e957d9fff13afb14b24bc589df2ee5a4650647606a62127"
        );
    }

    #[test]
    fn bodies() {
        let ok = parse(
            &format!(r#"{{"visitor":"{}","events":[{{"id":"o-1","name":"purchase","props":{{"value":129}},"path":"/checkout"}}]}}"#, VISITOR.to_uppercase()),
            &rules(),
        )
        .unwrap();
        assert_eq!(ok.visitor, VISITOR);
        assert_eq!(ok.events[0].id, "o-1");
        assert_eq!(ok.events[0].event.name, "purchase");
        assert_eq!(ok.events[0].event.path, "/checkout");
        assert_eq!(ok.events[0].event.props["value"], 129);

        let err = |body: String| parse(&body, &rules()).unwrap_err().to_string();
        assert_eq!(
            err("[]".into()),
            "the body must be a JSON object {\"visitor\": \"...\", \"events\": [...]}"
        );
        assert!(err(r#"{"events":[]}"#.into()).starts_with("visitor: missing"));
        assert_eq!(
            err(r#"{"visitor":"abc","events":[]}"#.into()),
            "visitor: expected the 32 hex digits of edgeseg.visitorId, got \"abc\""
        );
        assert!(err(format!(r#"{{"visitor":"{VISITOR}","events":[]}}"#))
            .starts_with("events: expected a non-empty array"));
        assert!(err(format!(
            r#"{{"visitor":"{VISITOR}","events":[{{"name":"purchase"}}]}}"#
        ))
        .starts_with("events[0].id: missing"));
        assert!(err(format!(
            r#"{{"visitor":"{VISITOR}","events":[{{"id":"","name":"purchase"}}]}}"#
        ))
        .starts_with("events[0].id: expected a string"));
        assert_eq!(
            err(format!(
                r#"{{"visitor":"{VISITOR}","events":[{{"id":"a","name":"purchase"}},{{"id":"a","name":"purchase"}}]}}"#
            )),
            "events[1].id: \"a\" appears twice in this delivery"
        );
        assert_eq!(
            err(format!(r#"{{"visitor":"{VISITOR}","events":[{{"id":"a","name":"purchse"}}]}}"#)),
            "events[0]: unknown event \"purchse\" (did you mean \"purchase\"?); declare it in the rules' \"events\""
        );
        assert!(err(format!(r#"{{"visitor":"{VISITOR}","events":[3]}}"#))
            .starts_with("events[0]: expected an event object"));
        assert!(err(format!(
            r#"{{"visitor":"{VISITOR}","events":[{{"id":"a","name":"purchase"}}],"t":1}}"#
        ))
        .starts_with("unknown top-level field \"t\""));
        assert!(err("{".into()).starts_with("the body is not JSON"));
    }
}
