//! What travels on the queue, and what the consumer writes to R2.
//!
//! A queue message is one JSON text: a record is its own NDJSON line
//! (`{"v":1,"id":...}`), a webhook is `{"webhook":{...}}`. The consumer
//! decodes each message on its own ([`decode`]), looking only at a record's
//! `v`, `id` and `ts` (it writes the line as it came, so the Worker carries
//! no record decoder); one it cannot read (a poisoned message: another
//! producer's, a newer format, garbage) is acknowledged and counted, never
//! retried, so it cannot block the batch it came in.
//!
//! The records of one consumer batch become one R2 object: NDJSON (one
//! record a line, `\n` after each), gzip, under
//! `events/YYYY/MM/DD/HH/<batch id>.ndjson.gz` — the UTC hour of the batch's
//! first record ([`partition_key`]). A batch id starts with that record's
//! time, so a listing of an hour is in time order.

use serde_json::Value;

use crate::state::{hex, Timestamp};

use super::record::{ExportRecord, SCHEMA_VERSION};
use super::webhook::Delivery;

/// The R2 prefix of the export.
pub const PREFIX: &str = "events/";

/// One queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    /// One record as its NDJSON line (the consumer writes it as it came,
    /// without decoding it), and its time (for the object's key).
    Record { line: String, ts: Timestamp },
    /// A webhook's payload (the body to POST, as the producer wrote it) and
    /// the two fields the consumer needs from it.
    Webhook {
        activation: String,
        idempotency_key: String,
        body: String,
    },
}

impl QueueMessage {
    /// A webhook's message.
    pub fn webhook(delivery: &Delivery) -> QueueMessage {
        QueueMessage::Webhook {
            activation: delivery.activation.clone(),
            idempotency_key: delivery.idempotency_key(),
            body: delivery.body(),
        }
    }

    /// A `guardrail_stop` webhook's message (the consumer delivers it like
    /// any webhook: the activation's URL and cap from the rules in force).
    pub fn guardrail_stop(delivery: &super::webhook::GuardrailStopDelivery) -> QueueMessage {
        QueueMessage::Webhook {
            activation: delivery.activation.clone(),
            idempotency_key: delivery.idempotency_key(),
            body: delivery.body(),
        }
    }

    /// A record's message.
    pub fn record(record: &ExportRecord) -> QueueMessage {
        QueueMessage::Record {
            line: serde_json::to_string(record).unwrap_or_default(),
            ts: record.ts,
        }
    }

    /// The message as the queue carries it: a record is its NDJSON line, a
    /// webhook `{"webhook": {...}}`.
    pub fn encode(&self) -> String {
        match self {
            QueueMessage::Record { line, .. } => line.clone(),
            QueueMessage::Webhook { body, .. } => format!("{{\"webhook\":{body}}}"),
        }
    }
}

/// Why a queue message was not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PoisonedMessage {
    #[error("the message is not text (another producer's message?)")]
    NotText,
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    #[error(
        "the message is neither an export record (v {SCHEMA_VERSION} with id and ts) nor a webhook"
    )]
    Unknown,
}

/// Decodes one queue message's body (see the module doc).
pub fn decode(body: Option<&str>) -> Result<QueueMessage, PoisonedMessage> {
    let body = body.ok_or(PoisonedMessage::NotText)?.trim();
    // Read as a JSON value, not into derived types: the Worker has that
    // parser already, and the consumer needs only a few fields.
    let value: Value =
        serde_json::from_str(body).map_err(|e| PoisonedMessage::NotJson(e.to_string()))?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    if let Some(hook) = value.get("webhook").filter(|w| w.is_object()) {
        return match (text(hook, "activation"), text(hook, "idempotency_key")) {
            (Some(activation), Some(idempotency_key)) if value.get("v").is_none() => {
                Ok(QueueMessage::Webhook {
                    activation,
                    idempotency_key,
                    body: hook.to_string(),
                })
            }
            _ => Err(PoisonedMessage::Unknown),
        };
    }
    let v = value.get("v").and_then(Value::as_u64);
    let ts = value.get("ts").and_then(Value::as_u64);
    match (v, text(&value, "id"), ts) {
        (Some(v), Some(id), Some(ts)) if v == u64::from(SCHEMA_VERSION) && !id.is_empty() => {
            Ok(QueueMessage::Record {
                line: body.to_string(),
                ts,
            })
        }
        _ => Err(PoisonedMessage::Unknown),
    }
}

/// Record lines as NDJSON bytes (before gzip): one a line, `\n` after each.
pub fn to_ndjson<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// `<first record's time>-<16 random hex>`: unique, and sorted by time.
pub fn batch_id(first: Timestamp, random: [u8; 8]) -> String {
    format!("{first}-{}", hex(&random))
}

/// `events/YYYY/MM/DD/HH/<batch id>.ndjson.gz` for a batch whose first
/// record is at `first` (UTC).
pub fn partition_key(first: Timestamp, batch_id: &str) -> String {
    format!("{}{batch_id}.ndjson.gz", hour_prefix(first))
}

/// `events/YYYY/MM/DD/HH/` of the hour containing `at` (UTC).
pub fn hour_prefix(at: Timestamp) -> String {
    let (y, m, d, h, _, _) = crate::duration::utc_parts(at);
    format!("{PREFIX}{y:04}/{m:02}/{d:02}/{h:02}/")
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::export::record::RecordKind;
    use crate::export::webhook::Transition;

    fn record(ts: Timestamp) -> ExportRecord {
        ExportRecord {
            v: 1,
            id: "0123456789abcdef0123456789abcdef".into(),
            ts,
            seq: ts * 100_000 + 3,
            kind: RecordKind::Event,
            visitor: "ffeeddccbbaa99887766554433221100".into(),
            event: "purchase".into(),
            path: "/checkout/done".into(),
            props: Map::from_iter([("amount".to_string(), json!(42.5))]),
            utm: Map::from_iter([("source".to_string(), json!("news"))]),
            signals: Map::from_iter([("sessions".to_string(), json!(2))]),
            segments: vec!["buyer".into()],
            experiments: Map::from_iter([("hero".to_string(), json!("b"))]),
            rules_version: Some(3),
            rules_label: "example-1".into(),
            guardrail_stopped: Map::new(),
        }
    }

    #[test]
    fn partition_keys_follow_the_utc_hour() {
        // 2026-12-02T05:59:59Z and the next second.
        assert_eq!(
            partition_key(1_796_191_199, "b1"),
            "events/2026/12/02/05/b1.ndjson.gz"
        );
        assert_eq!(hour_prefix(1_796_191_200), "events/2026/12/02/06/");
        assert_eq!(hour_prefix(0), "events/1970/01/01/00/");
        // A leap day and the turn of a year.
        assert_eq!(hour_prefix(1_709_164_800), "events/2024/02/29/00/");
        assert_eq!(hour_prefix(1_798_761_599), "events/2026/12/31/23/");
        assert_eq!(hour_prefix(1_798_761_600), "events/2027/01/01/00/");
    }

    #[test]
    fn batch_ids_sort_by_time() {
        let a = batch_id(1_796_190_399, [0xab; 8]);
        assert_eq!(a, "1796190399-abababababababab");
        assert!(batch_id(1_796_190_398, [0xff; 8]) < a);
    }

    #[test]
    fn record_encoding_is_the_documented_schema() {
        let line = serde_json::to_string(&record(1_796_190_399)).unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"v":1,"id":"0123456789abcdef0123456789abcdef","ts":1796190399,"seq":179619039900003,"kind":"event","#,
                r#""visitor":"ffeeddccbbaa99887766554433221100","event":"purchase","path":"/checkout/done","#,
                r#""props":{"amount":42.5},"utm":{"source":"news"},"signals":{"sessions":2},"#,
                r#""segments":["buyer"],"experiments":{"hero":"b"},"rules_version":3,"rules_label":"example-1"}"#
            )
        );
    }

    #[test]
    fn records_written_before_seq_still_read() {
        let old = r#"{"v":1,"id":"a","ts":5,"kind":"page_view","visitor":"b","event":"page_view","path":"/","props":{},"utm":{},"signals":{},"segments":[],"experiments":{},"rules_version":null,"rules_label":"x"}"#;
        let r: ExportRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.ts, r.seq), (5, 0));
    }

    #[test]
    fn ndjson_is_one_record_a_line() {
        let messages = [
            QueueMessage::record(&record(1)),
            QueueMessage::record(&record(2)),
        ];
        let lines: Vec<String> = messages.iter().map(QueueMessage::encode).collect();
        let text = String::from_utf8(to_ndjson(lines.iter().map(String::as_str))).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        for (line, ts) in lines.iter().zip([1, 2]) {
            let back: ExportRecord = serde_json::from_str(line).unwrap();
            assert_eq!(back, record(ts));
        }
        assert!(to_ndjson([]).is_empty());
    }

    #[test]
    fn messages_round_trip_and_poison_is_named() {
        let m = QueueMessage::record(&record(7));
        assert_eq!(decode(Some(&m.encode())), Ok(m.clone()));
        let QueueMessage::Record { line, ts } = m else {
            unreachable!()
        };
        assert_eq!(ts, 7);
        assert_eq!(
            serde_json::from_str::<ExportRecord>(&line).unwrap(),
            record(7)
        );
        let delivery = Delivery {
            activation: "a".into(),
            segment: "s".into(),
            transition: Transition::Exited,
            at: 9,
            visitor: "v".into(),
            rules_version: None,
            rules_label: "l".into(),
        };
        let w = QueueMessage::webhook(&delivery);
        assert_eq!(decode(Some(&w.encode())), Ok(w.clone()));
        let QueueMessage::Webhook {
            activation,
            idempotency_key,
            body,
        } = w
        else {
            unreachable!()
        };
        assert_eq!(activation, "a");
        assert_eq!(idempotency_key, delivery.idempotency_key());
        // The body the consumer POSTs is the payload as the producer wrote it.
        assert_eq!(body, delivery.body());
        assert_eq!(decode(None), Err(PoisonedMessage::NotText));
        for poison in [
            r#"{"type":"record","record":{"v":1}}"#,
            r#"{"v":2,"id":"a","ts":1}"#,
            r#"{"v":1,"ts":1}"#,
            r#"{"webhook":{"activation":"a"}}"#,
            "42",
            "[]",
        ] {
            assert!(decode(Some(poison)).is_err(), "{poison}");
        }
        assert!(matches!(
            decode(Some("not json")),
            Err(PoisonedMessage::NotJson(_))
        ));
    }
}
