//! Runs a GrowthBook-shaped `(context, experiment)` JSON pair through
//! edgeseg's `run`, reading the JSON as GrowthBook's JS SDK reads it (shared
//! by the conformance and the differential tests).

// Each test crate uses part of it.
#![allow(dead_code)]

use edgeseg::condition::{Condition, SavedGroups};
use edgeseg::experiments::assignment::{
    hash_value, run, Assignment, Context, Experiment, Filter, Status,
};
use serde_json::Value;

/// `[[start, end], ...]`.
pub fn ranges_of(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r[0].as_f64().unwrap_or(f64::NAN),
                r[1].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// A JSON number that is a whole number, as JS sees `1` and `1.0` alike.
fn integer(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// The outcome, and the text that was hashed (GrowthBook's `String(hashValue)`)
/// when the visitor was assigned by hash.
pub struct Outcome {
    pub assignment: Assignment,
    pub hashed: Option<String>,
}

/// GrowthBook's `run(experiment)` for a visitor with `context`.
pub fn run_json(ctx: &Value, exp: &Value) -> Outcome {
    let variations = exp["variations"].as_array().map_or(0, Vec::len);
    let weights: Option<Vec<f64>> = exp["weights"]
        .as_array()
        .map(|w| w.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect());
    let ranges = exp["ranges"].is_array().then(|| ranges_of(&exp["ranges"]));
    let filters: Option<Vec<Filter>> = exp["filters"].as_array().map(|fs| {
        fs.iter()
            .map(|f| Filter {
                seed: f["seed"].as_str().unwrap_or("").to_string(),
                attribute: f["attribute"].as_str().map(str::to_string),
                hash_version: integer(&f["hashVersion"])
                    .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)),
                ranges: ranges_of(&f["ranges"]),
            })
            .collect()
    });
    // GrowthBook skips a null condition (`experiment.condition && ...`).
    let condition = exp
        .get("condition")
        .filter(|c| !c.is_null())
        .map(|c| Condition::compile(c, "", &mut Vec::new()));
    let namespace = exp["namespace"].as_array().map(|ns| {
        (
            ns[0].as_str().unwrap_or(""),
            ns[1].as_f64().unwrap_or(f64::NAN),
            ns[2].as_f64().unwrap_or(f64::NAN),
        )
    });
    let experiment = Experiment {
        key: exp["key"].as_str().unwrap_or(""),
        variations,
        weights: weights.as_deref(),
        coverage: exp.get("coverage").map(|c| c.as_f64().unwrap_or(f64::NAN)),
        seed: exp["seed"].as_str(),
        // Not a whole number in u32: a version no SDK knows.
        hash_version: exp
            .get("hashVersion")
            .map(|v| integer(v).map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX))),
        hash_attribute: exp["hashAttribute"].as_str(),
        namespace,
        condition: condition.as_ref(),
        inactive: exp["active"] == Value::Bool(false),
        status: match exp["status"].as_str() {
            Some("draft") => Status::Draft,
            Some("stopped") => Status::Stopped,
            _ => Status::Running,
        },
        // A force that is not a whole number: no variation has that index.
        force: exp.get("force").map(|f| integer(f).unwrap_or(i64::MIN)),
        ranges: ranges.as_deref(),
        filters: filters.as_deref(),
    };
    let attributes = ctx
        .get("attributes")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let groups: SavedGroups = ctx["savedGroups"].as_object().cloned().unwrap_or_default();
    let context = Context {
        attributes: &attributes,
        groups: &groups,
        disabled: ctx["enabled"] == Value::Bool(false),
        qa_mode: ctx["qaMode"] == Value::Bool(true),
    };
    let assignment = run(&experiment, &context);
    let hashed = assignment
        .hash_used()
        .then(|| hash_value(&attributes, experiment.hash_attribute.unwrap_or("id")))
        .flatten();
    Outcome { assignment, hashed }
}
