//! Rules documents that are structurally valid but wrong in meaning: each
//! `tests/fixtures/rules/semantic/NAME.json`, compiled with
//! `CompiledRules::from_json`, fails with exactly the lines in
//! `NAME.errors.txt` (format: that folder's README).
//!
//! Set `UPDATE_SEMANTIC=1` to print every fixture's actual errors instead of
//! comparing them (the expected files are written by hand, never generated).
#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::{Path, PathBuf};

use edgeseg::rules::validate::parse_document;
use edgeseg::rules::CompiledRules;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/semantic")
}

fn cases() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn error_lines(text: &str) -> Vec<String> {
    match CompiledRules::from_json(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn expected_lines(case: &Path) -> Vec<String> {
    let path = case.with_extension("errors.txt");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn semantic_fixtures_report_exactly_the_expected_errors() {
    let cases = cases();
    assert!(cases.len() >= 20, "expected at least 20 semantic fixtures");
    let show = std::env::var_os("UPDATE_SEMANTIC").is_some_and(|v| v == "1");
    let mut failures = String::new();
    for case in &cases {
        let text = fs::read_to_string(case).unwrap();
        let actual = error_lines(&text);
        if show {
            println!("== {}\n{}", name(case), actual.join("\n"));
            continue;
        }
        let expected = expected_lines(case);
        if actual.is_empty() {
            failures.push_str(&format!("\n{}: compiled, but should not\n", name(case)));
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

/// The point of this folder: its documents pass the structural validator, so
/// each error comes from the compiler's checks of meaning. (`format_2` is the
/// one exception: the format is checked in both places.)
#[test]
fn semantic_fixtures_are_structurally_valid() {
    for case in cases() {
        let text = fs::read_to_string(&case).unwrap();
        let structural = parse_document(&text);
        if name(&case) == "format_2.json" {
            continue;
        }
        if let Err(e) = structural {
            panic!(
                "{} does not pass the structural validator:\n{e}",
                name(&case)
            );
        }
    }
}

/// Every fixture's errors are reported in one pass, not one at a time: the
/// combined fixture lists errors from signals, segments and blocks together.
#[test]
fn many_errors_are_reported_in_one_pass() {
    let text = fs::read_to_string(dir().join("many_at_once.json")).unwrap();
    let lines = error_lines(&text);
    for part in ["signals.", "segments[", "blocks.", "settings."] {
        assert!(
            lines.iter().any(|l| l.starts_with(part)),
            "no error under {part} in:\n{}",
            lines.join("\n")
        );
    }
}

/// The examples the README points at compile without a single error.
#[test]
fn example_rules_compile() {
    for file in ["examples/rules.json", "examples/test-rules.json"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = fs::read_to_string(&path).unwrap();
        if let Err(e) = CompiledRules::from_json(&text) {
            panic!("{file}:\n{e}");
        }
    }
}

/// Regression: a `score` signal with a zero window (`"within": "0s"`) was
/// accepted and silently scored over 1 s, while a `count` with the same window
/// was rejected.
#[test]
fn score_signal_with_zero_window_is_rejected() {
    let text = r#"{"format": 1, "version": "x",
        "signals": {"s": {"score": {"page_view": 1}, "within": "0s"}}}"#;
    assert_eq!(
        error_lines(text),
        vec!["signals.s.within: the window must be longer than 0s"]
    );
}

/// Regression: an unknown `{{placeholder}}` in a `set_attributes` value was
/// reported at `...set_attributes`, without the attribute it is in.
#[test]
fn placeholder_error_in_set_attributes_names_the_attribute() {
    let text = r#"{"format": 1, "version": "x",
        "segments": [{"id": "s", "priority": 1, "condition": {}}],
        "blocks": {"b": {"content": {"s": {"set_attributes": {"title": "{{nope}}"}}}}}}"#;
    assert_eq!(
        error_lines(text),
        vec![
            r#"blocks.b.content.s.set_attributes.title: unknown attribute or signal in {{...}} "nope""#
        ]
    );
}
