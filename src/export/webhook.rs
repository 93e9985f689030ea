//! Activation webhooks: the payload, its signature, the idempotency key, the
//! retry delay and the per-activation rate cap.
//!
//! Signature (README, "Activation webhooks"; the receiver's side is
//! `examples/verify-webhook.mjs`): the header
//! `X-Edgeseg-Signature: t=<unix seconds>,v1=<hex>` where `hex` is
//! HMAC-SHA256 keyed by the `EDGESEG_WEBHOOK_SECRET` secret over
//! `"<t>.<raw body>"`. Signing the time with the body lets a receiver refuse
//! old deliveries replayed by someone who captured one (check `t` is recent).
//!
//! The idempotency key is derived from the activation, visitor, transition
//! and the time of the transition only, so a queue retry, a duplicate
//! delivery of the same queue message, or a retry after a timeout all carry
//! the same key; the receiver keeps the keys it has seen (a day is plenty)
//! and ignores repeats.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::state::{digest_key, hex, Timestamp};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Edgeseg-Signature";
/// The header that carries the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Longest delay between two attempts of a delivery or a record write.
pub const MAX_RETRY_DELAY_SECS: u32 = 3_600;

type HmacSha256 = Hmac<Sha256>;

/// Entered or left a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Entered,
    Exited,
}

/// One transition to deliver. The queue carries its payload ([`Delivery::body`]);
/// the consumer looks the activation's URL and caps up in the rules in force
/// when it delivers, so a removed activation stops and a corrected URL
/// applies to deliveries still queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub activation: String,
    pub segment: String,
    pub transition: Transition,
    /// When the transition happened (Unix seconds).
    pub at: Timestamp,
    /// The random visitor id (32 hex).
    pub visitor: String,
    /// The admin revision of the rules, when known.
    pub rules_version: Option<u64>,
    /// The rules document's `version` label.
    pub rules_label: String,
}

/// The JSON body POSTed to the receiver (`v` 1). The receiver maps `visitor`
/// to a person with what the site itself sent its backend (`edgeseg.visitorId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload<'a> {
    pub v: u32,
    pub activation: &'a str,
    pub segment: &'a str,
    pub transition: Transition,
    pub at: Timestamp,
    pub visitor: &'a str,
    pub rules_version: Option<u64>,
    pub rules_label: &'a str,
    pub idempotency_key: String,
}

impl Delivery {
    /// The body to POST.
    pub fn body(&self) -> String {
        let payload = Payload {
            v: 1,
            activation: &self.activation,
            segment: &self.segment,
            transition: self.transition,
            at: self.at,
            visitor: &self.visitor,
            rules_version: self.rules_version,
            rules_label: &self.rules_label,
            idempotency_key: self.idempotency_key(),
        };
        serde_json::to_string(&payload).unwrap_or_default()
    }

    /// See the module doc: the same for every attempt of this transition.
    pub fn idempotency_key(&self) -> String {
        idempotency_key(&self.activation, &self.visitor, self.transition, self.at)
    }
}

/// 32 hex digits of SHA-256 over the activation, visitor, transition and time.
pub fn idempotency_key(
    activation: &str,
    visitor: &str,
    transition: Transition,
    at: Timestamp,
) -> String {
    let which = match transition {
        Transition::Entered => "entered",
        Transition::Exited => "exited",
    };
    digest_key(&format!("{activation}\n{visitor}\n{which}\n{at}"))
}

/// A `guardrail_stop` activation's delivery: one per stop of a variant,
/// queued by the cron that found it (never per visitor). The payload says
/// which variant of which experiment stopped, the guardrail, when, and the
/// counts and p-value behind it. Its idempotency key is derived from the
/// activation, experiment, seed, variant and the stop's generation (how many
/// stops of that variant came before), not from the time, so two crons that
/// both saw the harm before either's KV write had spread carry the same key:
/// the receiver keeps one.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailStopDelivery {
    pub activation: String,
    pub experiment: String,
    /// The experiment's hash seed (a new seed is a new experiment).
    pub seed: String,
    pub variant: String,
    /// The variant its visitors get instead (the control).
    pub served: String,
    pub goal: String,
    /// `must_not_increase` or `must_not_decrease`.
    pub guardrail: String,
    pub at: Timestamp,
    pub p_value: f64,
    pub threshold: f64,
    /// (exposures, conversions) of the control and of the variant.
    pub control: (u64, u64),
    pub counts: (u64, u64),
    pub reason: String,
    pub generation: u32,
    pub rules_version: Option<u64>,
    pub rules_label: String,
}

impl GuardrailStopDelivery {
    /// The JSON body POSTed to the receiver (`v` 1, `event` `guardrail_stop`).
    pub fn body(&self) -> String {
        let arm = |(exposures, conversions): (u64, u64)| serde_json::json!({"exposures": exposures, "conversions": conversions});
        serde_json::json!({
            "v": 1,
            "activation": self.activation,
            "event": "guardrail_stop",
            "experiment": self.experiment,
            "variant": self.variant,
            "served": self.served,
            "goal": self.goal,
            "guardrail": self.guardrail,
            "at": self.at,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "control": arm(self.control),
            "variant_counts": arm(self.counts),
            "reason": self.reason,
            "rules_version": self.rules_version,
            "rules_label": self.rules_label,
            "idempotency_key": self.idempotency_key(),
        })
        .to_string()
    }

    /// See the type's doc.
    pub fn idempotency_key(&self) -> String {
        digest_key(&format!(
            "{}\nguardrail_stop\n{}\n{}\n{}\n{}",
            self.activation, self.experiment, self.seed, self.variant, self.generation
        ))
    }
}

/// The `X-Edgeseg-Signature` value for `body` signed at `t`.
pub fn signature_header(secret: &[u8], t: Timestamp, body: &str) -> String {
    format!("t={t},v1={}", hex(&sign(secret, t, body)))
}

fn sign(secret: &[u8], t: Timestamp, body: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the signature header is not t=<seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body: wrong secret, or the body was changed")]
    Mismatch,
    #[error("the delivery was signed {age} s away from now, beyond the {tolerance} s allowed")]
    Stale { age: u64, tolerance: u64 },
}

/// Checks a delivery the way a receiver should (the Rust twin of
/// `examples/verify-webhook.mjs`): the HMAC over the raw body, compared in
/// constant time, and a signing time within `tolerance` seconds of `now`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &str,
    now: Timestamp,
    tolerance: u64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(VerifyError::Malformed);
    };
    let expected = hex(&sign(secret, t, body));
    if !crate::auth::constant_time_eq(expected.as_bytes(), v1.as_bytes()) {
        return Err(VerifyError::Mismatch);
    }
    let age = now.abs_diff(t);
    if age > tolerance {
        return Err(VerifyError::Stale { age, tolerance });
    }
    Ok(())
}

/// Seconds to wait before attempt `attempts + 1` (`attempts` made so far,
/// from 1): `base`, then doubling, at most [`MAX_RETRY_DELAY_SECS`].
pub fn retry_delay(attempts: u32, base: u32) -> u32 {
    let doublings = attempts.saturating_sub(1).min(20);
    base.max(1)
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY_SECS)
}

/// An activation's caps (compiled with the rules).
pub use crate::rules::compile::export::RateCap;

/// Fixed one-minute and one-hour windows of deliveries for one activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapWindows {
    minute: (u64, u32),
    hour: (u64, u32),
}

impl CapWindows {
    /// Whether one more delivery at `now` stays within `cap`; counts it if so.
    pub fn admit(&mut self, cap: RateCap, now: Timestamp) -> bool {
        let (minute, hour) = (now / 60, now / 3_600);
        if self.minute.0 != minute {
            self.minute = (minute, 0);
        }
        if self.hour.0 != hour {
            self.hour = (hour, 0);
        }
        if self.minute.1 >= cap.per_minute || self.hour.1 >= cap.per_hour {
            return false;
        }
        self.minute.1 += 1;
        self.hour.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            activation: "cart_reminder".into(),
            segment: "cart_abandoner".into(),
            transition: Transition::Entered,
            at: 1_764_633_600,
            visitor: "00112233445566778899aabbccddeeff".into(),
            rules_version: Some(7),
            rules_label: "example-1".into(),
        }
    }

    /// The known vector, computed independently:
    /// `printf '1764633600.{"v":1}' | openssl dgst -sha256 -hmac whsec_test`.
    #[test]
    fn signature_matches_a_known_vector() {
        assert_eq!(
            signature_header(b"whsec_test", 1_764_633_600, r#"{"v":1}"#),
            "t=1764633600,v1=ddc081312ae863577e957d9fff13afb14b24bc589df2ee5a4650647606a62127"
        );
    }

    #[test]
    fn verification_accepts_its_own_and_refuses_tampering() {
        let body = delivery().body();
        let header = signature_header(b"s3cret", 1_000, &body);
        assert_eq!(verify(b"s3cret", &header, &body, 1_100, 300), Ok(()));
        assert_eq!(
            verify(b"other", &header, &body, 1_100, 300),
            Err(VerifyError::Mismatch)
        );
        let tampered = body.replace("entered", "exited");
        assert_eq!(
            verify(b"s3cret", &header, &tampered, 1_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", &header, &body, 2_000, 300),
            Err(VerifyError::Stale {
                age: 1_000,
                tolerance: 300
            })
        );
        assert_eq!(
            verify(b"s3cret", "v1=abc", &body, 1_000, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn idempotency_key_is_stable_per_transition() {
        let a = delivery();
        let mut b = delivery();
        b.rules_version = Some(8);
        // Same transition, another attempt or another rules version: same key.
        assert_eq!(a.idempotency_key(), b.idempotency_key());
        assert_eq!(a.idempotency_key().len(), 32);
        b.transition = Transition::Exited;
        assert_ne!(a.idempotency_key(), b.idempotency_key());
        let mut c = delivery();
        c.at += 1;
        assert_ne!(a.idempotency_key(), c.idempotency_key());
    }

    #[test]
    fn payload_fields() {
        let body: serde_json::Value = serde_json::from_str(&delivery().body()).unwrap();
        assert_eq!(body["v"], 1);
        assert_eq!(body["activation"], "cart_reminder");
        assert_eq!(body["segment"], "cart_abandoner");
        assert_eq!(body["transition"], "entered");
        assert_eq!(body["at"], 1_764_633_600u64);
        assert_eq!(body["visitor"], "00112233445566778899aabbccddeeff");
        assert_eq!(body["rules_version"], 7);
        assert_eq!(body["idempotency_key"], delivery().idempotency_key());
        assert_eq!(body.as_object().unwrap().len(), 9);
    }

    #[test]
    fn retry_delays_double_up_to_an_hour() {
        assert_eq!(retry_delay(1, 10), 10);
        assert_eq!(retry_delay(2, 10), 20);
        assert_eq!(retry_delay(3, 10), 40);
        assert_eq!(retry_delay(40, 10), MAX_RETRY_DELAY_SECS);
        assert_eq!(retry_delay(0, 0), 1);
    }

    #[test]
    fn caps_per_minute_and_hour() {
        let cap = RateCap {
            per_minute: 2,
            per_hour: 3,
        };
        let mut w = CapWindows::default();
        assert!(w.admit(cap, 60));
        assert!(w.admit(cap, 61));
        assert!(!w.admit(cap, 62), "third in the minute");
        assert!(w.admit(cap, 120), "next minute");
        assert!(!w.admit(cap, 180), "fourth in the hour");
        assert!(w.admit(cap, 3_600), "next hour");
    }
}
