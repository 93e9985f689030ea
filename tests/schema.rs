//! The committed JSON Schema matches the types, and the validator reports what
//! the fixtures in `tests/fixtures/rules/` expect (format: that folder's README).
#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::{Path, PathBuf};

use edgeseg::rules::schema::{generate, generate_pretty};
use edgeseg::rules::validate::{parse_document, validate_value};
use serde_json::Value;

const SCHEMA_FILE: &str = "schema/rules.schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(kind: &str, ext: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/rules").join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn committed_schema_matches_the_types() {
    let path = root().join(SCHEMA_FILE);
    let expected = generate_pretty();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        fs::write(&path, &expected).unwrap();
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed != expected {
        let first_difference = committed
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(expected.lines().count()));
        panic!(
            "{SCHEMA_FILE} is out of date with src/rules/document.rs (first difference at line {}).\n\
             Refresh it with:\n\n    UPDATE_SCHEMA=1 cargo test --test schema\n\n\
             and commit it: the Worker's validator embeds this file.",
            first_difference + 1
        );
    }
}

#[test]
fn generated_schema_is_deterministic_and_draft_2020_12() {
    let schema = generate();
    assert_eq!(schema, generate());
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$id"]
        .as_str()
        .unwrap()
        .ends_with("rules.schema.json"));
    assert!(schema["title"].is_string() && schema["description"].is_string());
}

/// Every duration field carries `format: duration` and the pattern, so editors
/// flag a bad window; the walker checks them with `parse_duration`.
#[test]
fn duration_fields_are_marked() {
    let schema = generate();
    let defs = &schema["$defs"];
    let fields = [
        ("Settings", "cookie_lifetime"),
        ("Settings", "session_timeout"),
        ("EventSpec", "remember"),
        ("CountSignal", "within"),
        ("ScoreSignal", "within"),
        ("SegmentSpec", "enter_after"),
        ("SegmentSpec", "hold_for"),
    ];
    for (def, field) in fields {
        let property = &defs[def]["properties"][field];
        assert_eq!(property["format"], "duration", "{def}.{field}");
        assert_eq!(
            property["pattern"], "^(0|[1-9][0-9]{0,8})[smhd]$",
            "{def}.{field}"
        );
    }
}

/// The pattern editors apply and the parser the Worker applies agree, except
/// that the parser also caps durations at 400 days.
#[test]
fn duration_pattern_agrees_with_the_parser() {
    let pattern = generate()["$defs"]["Settings"]["properties"]["cookie_lifetime"]["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    let re = regex::Regex::new(&pattern).unwrap();
    let cases = [
        "0s",
        "30s",
        "10m",
        "24h",
        "7d",
        "400d",
        "999999999s",
        "",
        "10",
        "m",
        "10 m",
        " 10m",
        "10M",
        "1.5h",
        "-5m",
        "10mm",
        "1h30m",
        "010m",
        "00s",
        "10min",
        "1000000000s",
        "5w",
    ];
    for case in cases {
        let parsed = edgeseg::duration::parse_duration(case);
        let capped = case == "999999999s";
        assert_eq!(
            re.is_match(case),
            parsed.is_some() || capped,
            "pattern and parse_duration disagree on {case:?}"
        );
    }
}

fn error_lines(text: &str) -> Vec<String> {
    match parse_document(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// Each `invalid/NAME.json` fails with exactly the lines in `NAME.errors.txt`.
#[test]
fn invalid_fixtures_report_exactly_the_expected_errors() {
    let cases = fixtures("invalid", ".json");
    assert!(
        cases.len() >= 12,
        "expected at least a dozen invalid fixtures"
    );
    let mut failures = String::new();
    for case in &cases {
        let text = fs::read_to_string(case).unwrap();
        let expected_path = case.with_extension("errors.txt");
        let expected: Vec<String> = fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let actual = error_lines(&text);
        if actual.is_empty() {
            failures.push_str(&format!("\n{}: validated, but should not\n", name(case)));
        } else if actual != expected {
            failures.push_str(&format!(
                "\n{}:\n  expected:\n    {}\n  actual:\n    {}\n",
                name(case),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "fixtures failed:{failures}");
}

/// Each `valid/*.json` validates, and serializing what was read and reading it
/// again gives the same document.
#[test]
fn valid_fixtures_validate_and_round_trip() {
    let cases = fixtures("valid", ".json");
    assert!(cases.len() >= 2);
    for case in &cases {
        let text = fs::read_to_string(case).unwrap();
        let document = parse_document(&text)
            .unwrap_or_else(|e| panic!("{} should validate:\n{e}", name(case)));
        let written: Value = serde_json::to_value(&document).unwrap();
        let again = validate_value(&written).unwrap_or_else(|e| {
            panic!("{} does not validate once re-serialized:\n{e}", name(case))
        });
        assert_eq!(document, again, "{} changed in a round trip", name(case));
    }
}

/// The fixture using every field really does use every property in the schema.
#[test]
fn full_fixture_uses_every_property() {
    let text = fs::read_to_string(root().join("tests/fixtures/rules/valid/full.json")).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    fn collect(value: &Value, seen: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    seen.insert(k.clone());
                    collect(v, seen);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, seen)),
            _ => {}
        }
    }
    collect(&document, &mut seen);
    let schema = generate();
    let mut missing = Vec::new();
    let mut check = |props: &Value, owner: &str| {
        for key in props.as_object().unwrap().keys() {
            if !seen.contains(key) {
                missing.push(format!("{owner}.{key}"));
            }
        }
    };
    check(&schema["properties"], "RulesDocument");
    for (def, s) in schema["$defs"].as_object().unwrap() {
        if let Some(props) = s.get("properties") {
            check(props, def);
        }
    }
    assert!(
        missing.is_empty(),
        "valid/full.json never uses: {missing:?}"
    );
}
