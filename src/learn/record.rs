//! One exported record, schema v1 (see README "Export"). Fields this reader
//! does not use (`path`, `props`, `utm`, `segments`, ...) are ignored, and so
//! are fields a later additive version brings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version this reader understands.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u64,
    pub id: String,
    pub ts: u64,
    pub kind: String,
    pub visitor: String,
    pub event: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub props: Map<String, Value>,
    #[serde(default)]
    pub utm: Map<String, Value>,
    /// Signal values at this moment, as the Worker computed them.
    #[serde(default)]
    pub signals: Map<String, Value>,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub experiments: Map<String, Value>,
    #[serde(default)]
    pub rules_version: Option<Value>,
}

impl Record {
    /// The numeric value of a recorded signal; text values and absent signals
    /// are `None`.
    pub fn number(&self, signal: &str) -> Option<f64> {
        self.signals
            .get(signal)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
    }
}
