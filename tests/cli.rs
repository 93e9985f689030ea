//! The `edgeseg` binary, run as a process on good and bad inputs: exit codes,
//! what goes to stdout and stderr. Inputs: `examples/rules.json`,
//! `www/index.html` and `tests/fixtures/cli/` (see its README).
#![cfg(not(target_arch = "wasm32"))]

use assert_cmd::Command;
use serde_json::Value;

/// A fixed clock, so times in the output are stable.
const NOW: &str = "1700000000";
const RULES: &str = "examples/rules.json";

fn edgeseg() -> Command {
    let mut cmd = Command::cargo_bin("edgeseg").expect("the edgeseg binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs with `args`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    run_with_stdin(args, "")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = edgeseg()
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("edgeseg runs");
    (
        out.status.code().expect("edgeseg exits with a code"),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

fn simulate_json(extra: &[&str]) -> Value {
    let mut args = vec!["simulate", RULES, "--now", NOW, "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).expect("simulate --json prints one JSON object")
}

fn segment<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no segment {id} in {report}"))
}

// ---------------------------------------------------------------- validate

#[test]
fn validate_accepts_the_example_rules() {
    let (code, stdout, stderr) = run(&["validate", RULES]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(
        stdout,
        "examples/rules.json: valid (version \"example-1\", 12 segments, 3 blocks)\n"
    );
}

#[test]
fn validate_reads_stdin_for_a_dash() {
    let text = std::fs::read_to_string(RULES).unwrap();
    let (code, stdout, _) = run_with_stdin(&["validate", "-"], &text);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("<stdin>: valid"), "{stdout}");
}

#[test]
fn validate_reports_every_error_with_path_line_and_caret() {
    let file = "tests/fixtures/cli/bad_rules.json";
    let (code, stdout, stderr) = run(&["validate", file]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let expected = format!(
        "\
ERROR: {file}: segments[1].priority: expected a whole number, got \"three\"
  at {file}:11:19
 |       \"priority\": \"three\",
 |                   ^
ERROR: {file}: segments[1].conditon: unknown field \"conditon\" (did you mean \"condition\"?)
  at {file}:12:7
 |       \"conditon\": {{\"spend\": {{\"$gt\": 100}}}}
 |       ^
"
    );
    assert!(stderr.ends_with(&expected), "stderr:\n{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "ERROR: {file}: signals.views_10m.within: invalid duration \"10 minutes\""
        )),
        "stderr:\n{stderr}"
    );
    assert_eq!(stderr.matches("ERROR: ").count(), 3, "stderr:\n{stderr}");
}

/// Issue 23: `<script>alert(1)</script>` in hero content saved with no warning
/// and ran on shoppers' pages; a 383 KB hero saved with no warning.
#[test]
fn validate_refuses_script_in_content_unless_the_block_allows_it_and_warns_of_size() {
    let doc = |hero: &str, allow: bool| {
        serde_json::json!({
            "format": 1, "version": "t",
            "segments": [{"id": "vip", "condition": {"country": "NL"}}],
            "blocks": {"hero": {"allow_scripts": allow, "content": {"vip": {"inner_html": hero}}}}
        })
        .to_string()
    };
    let (code, _, stderr) = run_with_stdin(
        &["validate", "-"],
        &doc("<b>Hi</b><script>alert(1)</script>", false),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("ERROR: <stdin>: blocks.hero.content.vip.inner_html: a <script> element here would run on the page of every shopper who sees this content; if that is meant (a tracking snippet you trust, say), set \"allow_scripts\": true on block \"hero\"\n  at <stdin>:1:"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run_with_stdin(
        &["validate", "-"],
        &doc("<b>Hi</b><script>alert(1)</script>", true),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("<stdin>: valid"), "{stdout}");
    assert_eq!(stderr, "");
    let (code, stdout, stderr) =
        run_with_stdin(&["validate", "-"], &doc(&"<p>big</p>".repeat(3000), false));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("<stdin>: valid"), "{stdout}");
    assert!(
        stderr.starts_with(
            "WARNING: <stdin>: blocks.hero.content.vip: this content is 30 KB, over 16 KB"
        ),
        "{stderr}"
    );
}

/// Issue 23: `"props": {"value": 300}` was ignored silently, so value-based
/// segments could not be checked before going live.
#[test]
fn simulate_events_carry_properties_to_value_signals() {
    let spent = |events: &[&str]| {
        let mut args = vec!["simulate", RULES, "--json", "--now", "1764000000"];
        for e in events {
            args.extend(["--event", e]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        let member = segment(&report, "big_spender")["member"].as_bool().unwrap();
        (report["signals"]["spend_90d"].clone(), member)
    };
    let orders = [
        r#"purchase:/checkout@-3d{"value": "129.00"}"#,
        r#"purchase:/checkout@-1d{"value": 90}"#,
    ];
    assert_eq!(spent(&orders), (serde_json::json!(219), true));
    assert!(!spent(&["purchase:/checkout@-3d", "purchase:/checkout@-1d"]).1);
    let (code, _, stderr) = run(&["simulate", RULES, "--event", "purchase{\"value\": 1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the properties are a JSON object"),
        "{stderr}"
    );
}

#[test]
fn validate_points_at_unknown_names() {
    let file = "tests/fixtures/cli/unknown_names.json";
    let (code, _, stderr) = run(&["validate", file]);
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!(
        "ERROR: {file}: segments[0].condition: unknown attribute or signal \"view_10m\" (did you mean \"views_10m\"?)\n  at {file}:6:53\n"
    )), "stderr:\n{stderr}");
    assert!(stderr.contains(&format!(
        "ERROR: {file}: blocks.hero.content.brwser: unknown segment \"brwser\" (did you mean \"browser\"?)\n  at {file}:8:35\n"
    )), "stderr:\n{stderr}");
    assert!(
        stderr.contains("\n |                                   ^\n"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn validate_shows_json_syntax_errors_cel_style() {
    let file = "tests/fixtures/cli/syntax_error.json";
    let (code, _, stderr) = run(&["validate", file]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!("ERROR: {file}:3:3: expected `,` or `}}`\n |   \"version\": \"x\"\n |   ^\n")
    );
}

#[test]
fn validate_of_a_missing_file_is_an_input_error() {
    let (code, _, stderr) = run(&["validate", "tests/fixtures/cli/no_such_file.json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read tests/fixtures/cli/no_such_file.json"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- usage

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "error: no command given"),
        (&["frobnicate"], "error: unknown command \"frobnicate\""),
        (&["valdate", RULES], "did you mean `validate`?"),
        (&["validate"], "error: missing FILE"),
        (&["simulate"], "error: missing FILE"),
        (&["preview", RULES], "error: missing PAGE.html"),
        (
            &["simulate", RULES, "--evnt", "x"],
            "unknown flag --evnt (did you mean --event?)",
        ),
        (&["validate", RULES, "--json"], "unknown flag --json"),
        (
            &["simulate", RULES, "--now", "soon"],
            "--now expects whole seconds",
        ),
        (
            &["simulate", RULES, "--event", "page_view@5m"],
            "invalid --event",
        ),
        (
            &["simulate", RULES, "--attr", "colour=red"],
            "unknown --attr key",
        ),
        (
            &["simulate", RULES, "--attr", "device=fridge"],
            "expected mobile, tablet",
        ),
        (&["simulate", RULES, "--url"], "--url needs a value"),
        (&["eval", "{}"], "error: missing ATTRIBUTES"),
        (&["schema", "extra"], "unexpected argument"),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: stderr: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: stderr: {stderr}");
        assert!(
            stderr.contains("Usage: edgeseg"),
            "{args:?}: stderr: {stderr}"
        );
    }
}

#[test]
fn help_and_version() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let (code, stdout, _) = run(args);
        assert_eq!(code, 0);
        assert!(stdout.contains("Commands:"), "{stdout}");
    }
    for command in ["validate", "simulate", "preview", "schema", "eval"] {
        let (code, stdout, _) = run(&[command, "--help"]);
        assert_eq!(code, 0, "{command} --help");
        assert!(
            stdout.contains(&format!("Usage: edgeseg {command}")),
            "{stdout}"
        );
        let (code, again, _) = run(&["help", command]);
        assert_eq!((code, &again), (0, &stdout));
    }
    let (_, stdout, _) = run(&["simulate", "--help"]);
    assert!(
        stdout.contains("visitor_segments"),
        "the JSON fields are documented"
    );
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("edgeseg {}\n", env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------- simulate

#[test]
fn three_product_views_in_ten_minutes_make_a_product_browser() {
    let (code, stdout, stderr) = run(&[
        "simulate",
        RULES,
        "--now",
        NOW,
        "--event",
        "page_view:/products/trail-runner@-9m",
        "--event",
        "page_view:/products/summit-shell@-6m",
        "--event",
        "page_view:/products/ember-lantern@-2m",
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("product_views_10m"), "product_views_10m 3");
    assert_eq!(line("minutes_since_cart"), "minutes_since_cart —");
    // Entered on the third view, two minutes ago.
    assert_eq!(
        line("product_browser"),
        "product_browser 60 holds member since 2m ago"
    );
    assert_eq!(line("cart_abandoner"), "cart_abandoner 100 - out");
    assert_eq!(line("1."), "1. product_browser");
    assert_eq!(line("hero"), "hero product_browser");
    assert!(
        stdout.contains("now       1700000000 (2023-11-14 22:13:20 UTC)"),
        "{stdout}"
    );
}

#[test]
fn simulate_json_has_stable_fields() {
    let report = simulate_json(&[
        "--event",
        "page_view:/products/a@-9m",
        "--event",
        "page_view:/products/b@-6m",
        "--event",
        "page_view:/products/c",
        "--url",
        "https://shop.test/products/d",
    ]);
    assert_eq!(report["rules_version"], "example-1");
    assert_eq!(report["now"], 1_700_000_000);
    assert_eq!(report["url"], "https://shop.test/products/d");
    assert_eq!(report["signals"]["product_views_10m"], 4);
    assert_eq!(report["signals"]["minutes_since_cart"], Value::Null);
    assert!(report["signals"]["likely_buyer_score"].is_f64());
    let pb = segment(&report, "product_browser");
    assert_eq!(pb["priority"], 60);
    assert_eq!(pb["condition"], true);
    assert_eq!(pb["member"], true);
    assert_eq!(pb["standing"], "member");
    assert_eq!(pb["since"], 1_700_000_000);
    assert_eq!(segment(&report, "cart_abandoner")["standing"], "out");
    assert_eq!(
        report["visitor_segments"],
        serde_json::json!(["product_browser"])
    );
    assert_eq!(report["entered"], serde_json::json!([]));
    assert_eq!(report["blocks"]["hero"], "product_browser");
    assert_eq!(report["segments"].as_array().unwrap().len(), 12); // 8 + big_spender, engaged_reader, interest_shopper, new_gear_shopper
}

#[test]
fn a_cart_left_forty_minutes_ago_makes_a_cart_abandoner() {
    // cart_abandoner: minutes_since_cart >= 30, where the signal is absent once
    // a purchase follows the add to cart.
    let report = simulate_json(&[
        "--event",
        "page_view:/products/a@-41m",
        "--event",
        "add_to_cart:/products/a@-40m",
    ]);
    assert_eq!(report["signals"]["minutes_since_cart"], 40);
    assert_eq!(segment(&report, "cart_abandoner")["standing"], "entered");
    assert_eq!(report["visitor_segments"][0], "cart_abandoner");
    assert_eq!(report["blocks"]["hero"], "cart_abandoner");

    let recent = simulate_json(&["--event", "add_to_cart@-10m"]);
    assert_eq!(recent["signals"]["minutes_since_cart"], 10);
    assert_eq!(segment(&recent, "cart_abandoner")["member"], false);

    let bought = simulate_json(&[
        "--event",
        "add_to_cart@-40m",
        "--event",
        "purchase:/checkout@-35m",
    ]);
    assert_eq!(bought["signals"]["minutes_since_cart"], Value::Null);
    assert_eq!(segment(&bought, "cart_abandoner")["member"], false);
}

#[test]
fn simulate_reads_request_facts_from_attrs_and_url() {
    let report = simulate_json(&[
        "--url",
        "https://x.test/?utm_campaign=spring",
        "--attr",
        "device=mobile",
    ]);
    assert_eq!(segment(&report, "campaign_visitor")["standing"], "entered");
    assert_eq!(report["blocks"]["offer"], "campaign_visitor");
    let report = simulate_json(&[]);
    assert_eq!(report["visitor_segments"], serde_json::json!([]));
    assert_eq!(report["blocks"]["hero"], Value::Null);
}

#[test]
fn simulate_rejects_events_the_rules_do_not_declare() {
    let (code, _, stderr) = run(&["simulate", RULES, "--event", "purchse"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("unknown event \"purchse\" (did you mean \"purchase\"?)"),
        "{stderr}"
    );
}

#[test]
fn simulate_of_invalid_rules_reports_them() {
    let (code, stdout, stderr) = run(&["simulate", "tests/fixtures/cli/bad_rules.json"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(stderr.contains("segments[1].priority"), "{stderr}");
}

// ---------------------------------------------------------------- preview

#[test]
fn preview_with_a_forced_campaign_segment_shows_the_campaign_hero() {
    let (code, stdout, stderr) = run(&[
        "preview",
        RULES,
        "www/index.html",
        "--segment",
        "campaign_visitor",
        "--url",
        "https://x.test/?utm_campaign=spring",
        "--now",
        NOW,
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout
        .contains(r#"<h1 data-variant="campaign_visitor">Your trail-ready offer is here</h1>"#));
    assert!(
        stdout.contains(r#"<p class="eyebrow">spring</p>"#),
        "utm_campaign filled in"
    );
    assert!(
        !stdout.contains("Gear up for the long way round"),
        "default hero replaced"
    );
    assert!(stdout.starts_with("<!doctype html>"));
    assert!(stderr.contains("hero: campaign_visitor"), "{stderr}");
}

#[test]
fn preview_forces_a_segment_whatever_its_condition() {
    let (code, stdout, _) = run(&[
        "preview",
        RULES,
        "tests/fixtures/cli/page.html",
        "--segment",
        "cart_abandoner",
        "--now",
        NOW,
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("You left something at base camp"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"<aside class="offer offer--alert""#),
        "{stdout}"
    );
}

/// The example rules with the README's experiment on the cart abandoners'
/// hero, written to a temporary file (so the test follows the examples).
fn rules_with_an_experiment() -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/",
        "examples/rules.json"
    ))
    .unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["experiments"] = serde_json::json!({
        "hero_copy": {
            "segment": "cart_abandoner",
            "status": "running",
            "variants": [
                { "id": "control" },
                { "id": "urgent", "content": { "hero": { "inner_html": "<h1>Your cart expires soon</h1>" } } }
            ],
            "goals": { "purchase": { "event": "purchase", "window": "7d" } }
        }
    });
    let dir = std::env::temp_dir().join(format!("edgeseg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules-with-experiment.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

#[test]
fn preview_shows_a_forced_variant() {
    let rules = rules_with_an_experiment();
    let rules = rules.to_str().unwrap();
    for (variant, urgent) in [("urgent", true), ("control", false)] {
        let flag = format!("hero_copy={variant}");
        // As a preview link does, the variant is shown whatever the visitor's
        // segments: this visitor has done nothing.
        let (code, stdout, stderr) = run(&[
            "preview",
            rules,
            "www/index.html",
            "--variant",
            &flag,
            "--now",
            NOW,
        ]);
        assert_eq!(code, 0, "stderr: {stderr}");
        assert_eq!(
            stdout.contains("Your cart expires soon"),
            urgent,
            "variant {variant}: {stdout}"
        );
    }
    // Without the flag, a visitor outside the segment sees no variant.
    let (code, stdout, _) = run(&["preview", rules, "www/index.html", "--now", NOW]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("Your cart expires soon"));
}

#[test]
fn preview_names_an_unknown_experiment_or_variant() {
    let rules = rules_with_an_experiment();
    let rules = rules.to_str().unwrap();
    let page = "www/index.html";
    let (code, _, stderr) = run(&["preview", rules, page, "--variant", "hero_cpy=urgent"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(r#"unknown experiment "hero_cpy" (did you mean "hero_copy"?)"#),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["preview", rules, page, "--variant", "hero_copy=urgnt"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(r#"unknown variant of hero_copy "urgnt" (did you mean "urgent"?); the rules have: control, urgent"#),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["preview", rules, page, "--variant", "hero_copy"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("expected EXPERIMENT=VARIANT"), "{stderr}");
}

#[test]
fn preview_without_segments_classifies_the_events() {
    let page = "tests/fixtures/cli/page.html";
    let (code, stdout, _) = run(&["preview", RULES, page, "--now", NOW]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        std::fs::read_to_string(page).unwrap(),
        "a fresh visitor sees the page as is"
    );
    let (code, stdout, _) = run(&[
        "preview",
        RULES,
        page,
        "--now",
        NOW,
        "--event",
        "page_view:/products/a@-3m",
        "--event",
        "page_view:/products/b@-2m",
        "--event",
        "page_view:/products/c@-1m",
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Still deciding? Compare your top picks"),
        "{stdout}"
    );
}

#[test]
fn preview_of_an_unknown_segment_lists_the_known_ones() {
    let (code, stdout, stderr) = run(&[
        "preview",
        RULES,
        "www/index.html",
        "--segment",
        "campaign_visitr",
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("unknown segment \"campaign_visitr\" (did you mean \"campaign_visitor\"?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cart_abandoner, campaign_visitor"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- schema

#[test]
fn schema_prints_the_committed_schema() {
    let (code, stdout, _) = run(&["schema"]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string("schema/rules.schema.json").unwrap();
    assert_eq!(stdout, committed);
}

// ---------------------------------------------------------------- eval

#[test]
fn eval_prints_true_or_false() {
    let cases = [
        (
            r#"{"country": {"$in": ["DE", "AT"]}}"#,
            r#"{"country": "DE"}"#,
            "true",
        ),
        (
            r#"{"country": {"$in": ["DE", "AT"]}}"#,
            r#"{"country": "FR"}"#,
            "false",
        ),
        (
            r#"{"product_views_10m": {"$gte": 3}}"#,
            r#"{"product_views_10m": 2}"#,
            "false",
        ),
        (
            r#"{"$or": [{"device": "mobile"}, {"language": "de"}]}"#,
            r#"{"language": "de"}"#,
            "true",
        ),
        (
            r#"{"path": {"$regex": "^/products/"}}"#,
            r#"{"path": "/products/boots"}"#,
            "true",
        ),
        (
            r#"{"query.app": {"$vgte": "2.1.0"}}"#,
            r#"{"query": {"app": "2.10.0"}}"#,
            "true",
        ),
        (r#"{"utm_campaign": {"$exists": true}}"#, r#"{}"#, "false"),
    ];
    for (condition, attributes, expected) in cases {
        let (code, stdout, stderr) = run(&["eval", condition, attributes]);
        assert_eq!(code, 0, "{condition}: {stderr}");
        assert_eq!(
            stdout,
            format!("{expected}\n"),
            "{condition} on {attributes}"
        );
    }
}

#[test]
fn eval_reads_saved_groups_and_stdin() {
    let condition = r#"{"id": {"$inGroup": "staff"}}"#;
    let groups = r#"{"staff": ["42", "43"]}"#;
    let (_, stdout, _) = run(&["eval", condition, r#"{"id": "42"}"#, "--groups", groups]);
    assert_eq!(stdout, "true\n");
    let (_, stdout, _) = run(&["eval", condition, r#"{"id": "7"}"#, "--groups", groups]);
    assert_eq!(stdout, "false\n");
    let (code, stdout, _) = run_with_stdin(
        &["eval", condition, "-", "--groups", groups],
        r#"{"id": "43"}"#,
    );
    assert_eq!((code, stdout.as_str()), (0, "true\n"));
}

#[test]
fn eval_of_bad_json_is_an_input_error_with_the_position() {
    let (code, stdout, stderr) = run(&["eval", r#"{"a": 1,}"#, "{}"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "ERROR: CONDITION:1:9: trailing comma\n | {\"a\": 1,}\n |         ^\n"
    );
    let (code, _, stderr) = run(&["eval", "{}", "{\"a\": tru}"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("ERROR: ATTRIBUTES:1:"), "{stderr}");
    let (code, _, stderr) = run(&["eval", "{}", "{}", "--groups", "[1]"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("SAVED_GROUPS: expected an object"),
        "{stderr}"
    );
}

#[test]
fn eval_warns_about_unknown_operators_and_fails_the_test() {
    let (code, stdout, stderr) = run(&["eval", r#"{"a": {"$bogus": 1}}"#, r#"{"a": 1}"#]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "false\n");
    assert!(stderr.contains("unknown operator \"$bogus\""), "{stderr}");
}
