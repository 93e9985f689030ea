//! edgeseg's `run` against GrowthBook's own JS SDK, case by case.
//!
//! `tests/support/growthbook_sdk_cases.mjs` generates thousands of experiment
//! runs from a fixed seed (ids of every JSON type, Unicode, weights, coverage,
//! namespaces, filters, explicit ranges, conditions, force, statuses, hash
//! versions 0 to 3, seeds, QA mode) and records what the official SDK
//! (`@growthbook/growthbook`, pinned in package.json) answers to each. Every
//! answer must be edgeseg's: in the experiment or not, the variation, whether
//! the hash was used, the bucket value and the text that was hashed.
//!
//! Native only: it runs Node (`make tools` installs the SDK). The seed and the
//! number of cases can be changed with `EDGESEG_GB_SEED` and `EDGESEG_GB_CASES`
//! to explore further; a mismatch prints the case to paste into a bug report.

#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[path = "support/growthbook.rs"]
mod growthbook;

const DEFAULT_SEED: &str = "20261204";
const DEFAULT_CASES: &str = "10000";

fn sdk_cases(seed: &str, count: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("node_modules/@growthbook/growthbook/package.json")
            .exists(),
        "the GrowthBook JS SDK is not installed: run `make tools` (npm ci) first"
    );
    let out = Command::new("node")
        .current_dir(root)
        .args([
            "tests/support/growthbook_sdk_cases.mjs",
            "--seed",
            seed,
            "--count",
            count,
        ])
        .output()
        .expect("node runs (it is needed for the Worker tooling anyway)");
    assert!(
        out.status.success(),
        "the case generator failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the generator prints JSON")
}

#[test]
fn run_matches_the_growthbook_js_sdk() {
    let seed = std::env::var("EDGESEG_GB_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let count = std::env::var("EDGESEG_GB_CASES").unwrap_or_else(|_| DEFAULT_CASES.into());
    let doc = sdk_cases(&seed, &count);
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(
        cases.len().to_string(),
        count,
        "the generator made every case"
    );

    let mut mismatches = Vec::new();
    let (mut in_by_hash, mut forced, mut out) = (0, 0, 0);
    for case in cases {
        // Numbers read back as JSON may be integers (a bucket of 0): compare as numbers.
        let e = &case["expected"];
        let expected = &serde_json::json!({
            "inExperiment": e["inExperiment"].as_bool(),
            "variationId": e["variationId"].as_i64(),
            "hashUsed": e["hashUsed"].as_bool(),
            "bucket": e["bucket"].as_f64(),
            "hashValue": e["hashValue"],
        });
        let got = growthbook::run_json(&case["context"], &case["experiment"]);
        let a = &got.assignment;
        let bucket = a.bucket();
        let ours = serde_json::json!({
            "inExperiment": Some(a.in_experiment()),
            "variationId": Some(a.variation() as i64),
            "hashUsed": Some(a.hash_used()),
            "bucket": bucket,
            "hashValue": got.hashed,
        });
        match (a.in_experiment(), a.hash_used()) {
            (true, true) => in_by_hash += 1,
            (true, false) => forced += 1,
            _ => out += 1,
        }
        if &ours != expected {
            mismatches.push(format!(
                "{}\n    context:    {}\n    experiment: {}\n    GrowthBook: {expected}\n    edgeseg:    {ours}  ({a:?})",
                case["name"].as_str().unwrap_or("?"),
                case["context"],
                case["experiment"],
            ));
        }
    }
    println!(
        "{} cases against @growthbook/growthbook {} (seed {seed}): {in_by_hash} in by hash, {forced} forced, {out} not in",
        cases.len(),
        doc["sdk"].as_str().unwrap_or("?"),
    );
    // The generator must reach every kind of outcome, or the test proves little.
    assert!(
        in_by_hash > cases.len() / 10 && forced > 0 && out > cases.len() / 10,
        "the generated cases are lopsided: {in_by_hash} in by hash, {forced} forced, {out} not in"
    );
    if let Some(first) = mismatches.first() {
        panic!(
            "{} of {} cases differ from GrowthBook's JS SDK; the first:\n  {first}",
            mismatches.len(),
            cases.len()
        );
    }
}
