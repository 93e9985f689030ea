//! What travels on the queue, and what the consumer writes to R2.
//!
//! A queue message is one JSON text: `{"type":"record","record":{...}}` or
//! `{"type":"webhook","delivery":{...}}`. The consumer decodes each message
//! on its own ([`decode`]); one it cannot read (a poisoned message: another
//! producer's, a newer format, garbage) is acknowledged and counted, never
//! retried, so it cannot block the batch it came in.
//!
//! The records of one consumer batch become one R2 object: NDJSON (one
//! record a line, `\n` after each), gzip, under
//! `events/YYYY/MM/DD/HH/<batch id>.ndjson.gz` — the UTC hour of the batch's
//! first record ([`partition_key`]). A batch id starts with that record's
//! time, so a listing of an hour is in time order.

use serde::{Deserialize, Serialize};

use crate::state::{hex, Timestamp};

use super::record::ExportRecord;
use super::webhook::Delivery;

/// The R2 prefix of the export.
pub const PREFIX: &str = "events/";

/// One queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QueueMessage {
    Record { record: ExportRecord },
    Webhook { delivery: Delivery },
}

impl QueueMessage {
    /// The message as the queue carries it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a queue message was not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PoisonedMessage {
    #[error("the message is not text (another producer's message?)")]
    NotText,
    #[error("the message is not an edgeseg export message: {0}")]
    Unreadable(String),
}

/// Decodes one queue message's body (see the module doc).
pub fn decode(body: Option<&str>) -> Result<QueueMessage, PoisonedMessage> {
    let body = body.ok_or(PoisonedMessage::NotText)?;
    serde_json::from_str(body).map_err(|e| PoisonedMessage::Unreadable(e.to_string()))
}

/// The records as NDJSON bytes (before gzip).
pub fn to_ndjson(records: &[ExportRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 384);
    for r in records {
        if serde_json::to_writer(&mut out, r).is_ok() {
            out.push(b'\n');
        }
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
    let (y, m, d) = civil_from_days((at / 86_400) as i64);
    let h = (at % 86_400) / 3_600;
    format!("{PREFIX}{y:04}/{m:02}/{d:02}/{h:02}/")
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day
/// count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Splits a consumer batch's records into objects of at most `max_records`
/// (each object's key then follows its own first record).
pub fn objects(
    records: &[ExportRecord],
    max_records: usize,
) -> impl Iterator<Item = &[ExportRecord]> {
    records.chunks(max_records.max(1))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Map};

    use super::*;
    use crate::export::record::RecordKind;
    use crate::export::webhook::Transition;

    fn record(ts: Timestamp) -> ExportRecord {
        ExportRecord {
            v: 1,
            id: "0123456789abcdef0123456789abcdef".into(),
            ts,
            kind: RecordKind::Event,
            visitor: "ffeeddccbbaa99887766554433221100".into(),
            event: "purchase".into(),
            path: "/checkout/done".into(),
            props: Map::from_iter([("amount".to_string(), json!(42.5))]),
            utm: BTreeMap::from([("source".to_string(), "news".to_string())]),
            signals: Map::from_iter([("sessions".to_string(), json!(2))]),
            segments: vec!["buyer".into()],
            experiments: BTreeMap::from([("hero".to_string(), "b".to_string())]),
            rules_version: Some(3),
            rules_label: "example-1".into(),
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
                r#"{"v":1,"id":"0123456789abcdef0123456789abcdef","ts":1796190399,"kind":"event","#,
                r#""visitor":"ffeeddccbbaa99887766554433221100","event":"purchase","path":"/checkout/done","#,
                r#""props":{"amount":42.5},"utm":{"source":"news"},"signals":{"sessions":2},"#,
                r#""segments":["buyer"],"experiments":{"hero":"b"},"rules_version":3,"rules_label":"example-1"}"#
            )
        );
    }

    #[test]
    fn ndjson_is_one_record_a_line() {
        let text = String::from_utf8(to_ndjson(&[record(1), record(2)])).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        for (line, ts) in lines.iter().zip([1, 2]) {
            let back: ExportRecord = serde_json::from_str(line).unwrap();
            assert_eq!(back, record(ts));
        }
        assert!(to_ndjson(&[]).is_empty());
    }

    #[test]
    fn objects_split_large_batches() {
        let records: Vec<ExportRecord> = (0..5).map(record).collect();
        let sizes: Vec<usize> = objects(&records, 2).map(<[_]>::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(objects(&records, 0).count(), 5);
    }

    #[test]
    fn messages_round_trip_and_poison_is_named() {
        let m = QueueMessage::Record { record: record(7) };
        assert_eq!(decode(Some(&m.encode())), Ok(m));
        let w = QueueMessage::Webhook {
            delivery: Delivery {
                activation: "a".into(),
                segment: "s".into(),
                transition: Transition::Exited,
                at: 9,
                visitor: "v".into(),
                rules_version: None,
                rules_label: "l".into(),
                url: "https://x.example/h".into(),
                max_per_minute: 1,
                max_per_hour: 2,
            },
        };
        assert_eq!(decode(Some(&w.encode())), Ok(w));
        assert_eq!(decode(None), Err(PoisonedMessage::NotText));
        assert!(matches!(
            decode(Some(r#"{"type":"record","record":{"v":1}}"#)),
            Err(PoisonedMessage::Unreadable(_))
        ));
        assert!(matches!(
            decode(Some("not json")),
            Err(PoisonedMessage::Unreadable(_))
        ));
    }
}
