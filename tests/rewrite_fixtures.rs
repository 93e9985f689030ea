//! Data-driven tests of the streaming rewriter, in the lol-html style.
//!
//! Each case is three files in `tests/fixtures/rewrite/` (format described in
//! the README there): `NAME.src.html`, `NAME.plan.json`, `NAME.expected.html`.
//! Every case is run with the input whole, split in two at every byte offset,
//! and fed one byte at a time; every run must give exactly the expected bytes
//! and the expected report. A failure names the case and the split.
//!
//! The fixtures are compiled in with `include_str!` (listed in `cases!` below),
//! so the same cases run natively and under `wasm-bindgen-test`. A native-only
//! test checks that every fixture on disk is listed.
//!
//! `EDGESEG_BLESS=1 cargo test --test rewrite_fixtures` writes each case's
//! whole-input output to its `.expected.html` (review the diff before commit).

use edgeseg::rewrite::{BlockSpec, PlanSpec, RewritePlan, RewriteReport, Rewriter};
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;

/// The JSON form of a plan in `NAME.plan.json` (the core's [`PlanSpec`] blocks),
/// plus the expected report.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    blocks: Vec<BlockSpec>,
    #[serde(default)]
    head_append: Option<String>,
    /// Expected `RewriteReport::applied`.
    expect_applied: Vec<String>,
    /// Expected `RewriteReport::head_appended` (default: whether `head_append` is set).
    #[serde(default)]
    expect_head_appended: Option<bool>,
    /// Free text: what the case is about.
    #[serde(default, rename = "//")]
    _comment: Option<String>,
}

struct Case {
    name: &'static str,
    plan: RewritePlan,
    report: RewriteReport,
}

fn load(name: &'static str, plan_json: &str) -> Case {
    let file: PlanFile = serde_json::from_str(plan_json)
        .unwrap_or_else(|e| panic!("case `{name}`: bad plan.json: {e}"));
    let head_appended = file
        .expect_head_appended
        .unwrap_or(file.head_append.is_some());
    let spec = PlanSpec {
        blocks: file.blocks,
        head_append: file.head_append,
    };
    let plan = spec
        .compile()
        .unwrap_or_else(|e| panic!("case `{name}`: {e}"));
    Case {
        name,
        plan,
        report: RewriteReport {
            applied: file.expect_applied,
            head_appended,
        },
    }
}

/// Runs the plan over `chunks` in order; returns the output and the report.
fn run<'a>(
    plan: &Rc<RewritePlan>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<u8>, RewriteReport) {
    let out = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&out);
    let mut rewriter = Rewriter::new(Rc::clone(plan), move |c: &[u8]| {
        sink.borrow_mut().extend_from_slice(c)
    });
    for chunk in chunks {
        rewriter.write(chunk).expect("write");
    }
    let report = rewriter.end().expect("end");
    let bytes = out.take();
    (bytes, report)
}

fn check(case: &Case, how: &str, expected: &str, got: &(Vec<u8>, RewriteReport)) {
    let text = String::from_utf8_lossy(&got.0);
    assert!(
        got.0 == expected.as_bytes(),
        "case `{}` ({how}): output differs\n--- expected\n{expected}\n--- got\n{text}\n---",
        case.name
    );
    assert_eq!(
        got.1, case.report,
        "case `{}` ({how}): report differs",
        case.name
    );
}

fn run_case(name: &'static str, src: &str, plan_json: &str, expected: &str) {
    let case = load(name, plan_json);
    let plan = Rc::new(case.plan.clone());
    let src = src.as_bytes();

    let whole = run(&plan, [src]);
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var_os("EDGESEG_BLESS").is_some() {
        let path = format!(
            "{}/tests/fixtures/rewrite/{name}.expected.html",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::write(path, &whole.0).expect("bless");
        return;
    }
    check(&case, "whole input", expected, &whole);

    let doc = edgeseg::rewrite::rewrite_document(&case.plan, src).expect("rewrite_document");
    check(&case, "rewrite_document", expected, &doc);

    for at in 0..=src.len() {
        let (a, b) = src.split_at(at);
        let got = run(&plan, [a, b]);
        check(
            &case,
            &format!("split at byte {at} of {}", src.len()),
            expected,
            &got,
        );
    }

    let got = run(&plan, src.chunks(1));
    check(&case, "one byte at a time", expected, &got);
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case name, for the check against the files on disk.
        #[cfg(not(target_arch = "wasm32"))]
        const CASES: &[&str] = &[$(stringify!($name)),*];

        $(
            #[cfg_attr(not(target_arch = "wasm32"), test)]
            #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
            fn $name() {
                run_case(
                    stringify!($name),
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rewrite/", stringify!($name), ".src.html")),
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rewrite/", stringify!($name), ".plan.json")),
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rewrite/", stringify!($name), ".expected.html")),
                );
            }
        )*
    };
}

cases! {
    action_after,
    action_before,
    action_inner_html,
    action_outer_html,
    action_remove,
    action_set_attributes,
    attribute_entities,
    combo_attributes_inner,
    combo_before_after_inner,
    combo_outer_before_after,
    combo_remove_before_after,
    comments,
    head_append_doctype,
    head_append_implicit_head,
    head_append_meta_csp,
    head_append_meta_csp_body,
    head_append_meta_csp_none,
    head_append_no_head,
    head_append_no_head_no_body,
    malformed,
    malformed_implicit_close,
    nested_outer_attributes,
    nested_outer_replaces,
    no_match,
    repeated_block,
    same_element_two_blocks,
    script_style_title,
    several_blocks,
    template,
    utf8_multibyte,
    void_and_case,
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn every_fixture_on_disk_is_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rewrite");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .filter_map(|e| {
            let name = e
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 name");
            name.strip_suffix(".plan.json").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "fixtures on disk vs `cases!` in tests/rewrite_fixtures.rs"
    );
}
