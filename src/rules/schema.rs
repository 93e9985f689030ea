//! The JSON Schema of the rules document, generated from [`super::document`].
//!
//! The committed copy, `schema/rules.schema.json`, is what editors use and what
//! [`super::validate`] embeds, so the shape has one source: the Rust types.
//! `tests/schema.rs` fails when the copy is stale; run it with
//! `UPDATE_SCHEMA=1` to refresh the copy.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::document::RulesDocument;

/// The schema's `$id`: where editors can fetch it.
pub const SCHEMA_ID: &str = "https://edgeseg.dev/schema/rules.schema.json";

const TITLE: &str = "edgeseg rules document";

const DESCRIPTION: &str = "Audience segments and the content each one sees, \
read by the edgeseg Worker from the KV key `rules`. Durations are a whole number \
followed by s, m, h or d (\"30s\", \"10m\", \"24h\", \"7d\"), at most 400 days. \
Conditions use GrowthBook's targeting syntax.";

/// The JSON Schema (draft 2020-12) for [`RulesDocument`].
///
/// Deterministic: the same types give the same value with the same key order,
/// so the committed file only changes when the types do.
pub fn generate() -> Value {
    let generated = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RulesDocument>()
        .to_value();
    let Value::Object(mut generated) = generated else {
        unreachable!("a struct's schema is an object");
    };
    // The root keywords first, in the order people read them, then the rest as
    // schemars emits them.
    let mut root = Map::new();
    if let Some(meta) = generated.remove("$schema") {
        root.insert("$schema".into(), meta);
    }
    root.insert("$id".into(), SCHEMA_ID.into());
    root.insert("title".into(), TITLE.into());
    root.insert("description".into(), DESCRIPTION.into());
    generated.remove("title");
    generated.remove("description");
    root.extend(generated);
    Value::Object(root)
}

/// [`generate`] as the text committed in `schema/rules.schema.json`: pretty,
/// two-space indented, with a final newline.
pub fn generate_pretty() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).expect("a JSON value serializes");
    text.push('\n');
    text
}
