//! What a data engineer found trying `edgeseg train` as a new user (issue 24,
//! item 5), checked as that user would meet it, with the binary: the example
//! rules' own model in the export is not a default feature, so the paste
//! block validates in `examples/rules.json`, and a second run does not read
//! the first model; a model worse than guessing says "worse" and gets advice;
//! cluster centres near zero never read `-0`; the paste block records how the
//! model was trained (`trained`), which validates too.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

#[path = "support/cli.rs"]
mod cli;
use cli::run;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeseg-findings-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A seeded stream of numbers from 0 to 1.
fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as f64 / (1u64 << 31) as f64
    }
}

const T0: u64 = 1_793_491_200;

fn record(id: &str, ts: u64, visitor: &str, event: &str, signals: &Value) -> String {
    let kind = if event == "page_view" {
        "page_view"
    } else {
        "event"
    };
    format!(
        "{}\n",
        json!({"v": 1, "id": id, "ts": ts, "kind": kind, "visitor": visitor, "event": event, "signals": signals})
    )
}

/// Visitors of `examples/rules.json`: the export records every signal of
/// the rules, its logistic model `likely_buyer_score` among them, and
/// `extra` (a model pasted earlier) when given. Engaged visitors buy.
fn example_export(dir: &Path, file: &str, n: usize, extra: Option<&str>) {
    let mut next = noise(3);
    let mut text = String::new();
    for i in 0..n {
        let ts = T0 + i as u64 * 300;
        let views = (next() * 8.0).floor();
        let engagement = (next() * 30.0).floor();
        let mut signals = json!({
            "product_views_1h": views,
            "engagement_7d": engagement,
            "sessions": 1 + i % 4,
            "likely_buyer_score": 1.0 / (1.0 + (-(0.6 * views + 0.08 * engagement - 4.0)).exp()),
            "top_interest": "boots",
        });
        if let Some(name) = extra {
            signals[name] = json!(next());
        }
        let v = format!("{file}-v{i}");
        text.push_str(&record(
            &format!("{file}-p{i}"),
            ts,
            &v,
            "page_view",
            &signals,
        ));
        if next() < engagement / 35.0 {
            text.push_str(&record(
                &format!("{file}-b{i}"),
                ts + 3_600,
                &v,
                "purchase",
                &signals,
            ));
        }
    }
    std::fs::write(dir.join(file), text).unwrap();
}

/// `examples/rules.json` with `block` pasted into its signals.
fn pasted(block: &Value) -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.json"))
            .unwrap();
    let mut rules: Value = serde_json::from_str(&text).unwrap();
    for (k, v) in block.as_object().unwrap() {
        rules["signals"][k] = v.clone();
    }
    rules
}

#[test]
fn the_example_rules_own_model_is_never_a_default_feature_and_the_block_validates() {
    let dir = temp("example-rules");
    example_export(&dir, "a.ndjson", 1_500, None);
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(&[
        "train", "trees", d, "--label", "purchase", "--within", "12h", "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let features: Vec<&str> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(features, ["engagement_7d", "product_views_1h", "sessions"]);
    let signal = &report["signal"]["purchase_chance_trees"];
    assert_eq!(signal["trained"]["features"], json!(features));
    assert_eq!(signal["trained"]["label"], json!("purchase"));
    assert_eq!(signal["trained"]["within"], json!("12h"));
    assert_eq!(signal["trained"]["trees"], json!(60));
    assert!(signal["trained"]["auc"].as_f64().unwrap() > 0.6, "{signal}");
    let rules = dir.join("rules.json");
    std::fs::write(&rules, pasted(&report["signal"]).to_string()).unwrap();
    let (code, out, err) = run(&["validate", rules.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "the paste block validates in examples/rules.json: {out}{err}"
    );

    // After it is pasted the export records its values too; the next run
    // under another name still does not learn from it.
    example_export(&dir, "b.ndjson", 600, Some("purchase_chance_trees"));
    let (code, out, err) = run(&[
        "train", "logistic", d, "--label", "purchase", "--within", "12h", "--name", "buyer",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Left out by default: likely_buyer_score")
            && out.contains("purchase_chance_trees"),
        "{out}"
    );
    let start = out.find("{\n  \"buyer\"").expect("a paste block");
    let block: Value = serde_json::from_str(&out[start..]).unwrap();
    assert!(block["buyer"]["logistic"]
        .get("purchase_chance_trees")
        .is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_worse_than_guessing_says_worse_and_gets_advice() {
    // What predicted a purchase in the older part predicts none in the newer.
    let dir = temp("worse");
    let mut next = noise(11);
    let mut text = String::new();
    let n = 3_000;
    for i in 0..n {
        let ts = T0 + i as u64 * 300;
        let x = (next() * 10.0).floor();
        let older = i < n * 7 / 10;
        let buys = if older { x >= 5.0 } else { x < 5.0 } && next() < 0.8;
        let v = format!("v{i}");
        let s = json!({"x": x});
        text.push_str(&record(&format!("p{i}"), ts, &v, "page_view", &s));
        if buys {
            text.push_str(&record(&format!("b{i}"), ts + 600, &v, "purchase", &s));
        }
    }
    std::fs::write(dir.join("shift.ndjson"), text).unwrap();
    let (code, out, err) = run(&[
        "train",
        "logistic",
        dir.to_str().unwrap(),
        "--label",
        "purchase",
        "--within",
        "1h",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("% worse; lower is better"), "{out}");
    assert!(!out.contains("% better;"), "{out}");
    assert!(out.contains("Advice: do not paste this model"), "{out}");
    assert!(!out.contains("Paste into the rules"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cluster_centres_near_zero_never_read_minus_zero() {
    // A refund-like feature of tiny negative amounts beside page views.
    let dir = temp("centres");
    let mut next = noise(5);
    let mut text = String::new();
    for i in 0..600u64 {
        let views = if i % 2 == 0 {
            1.0 + (next() * 2.0).floor()
        } else {
            8.0 + (next() * 3.0).floor()
        };
        let refund = -(next() * 0.004);
        let s = json!({"views": views, "refund": refund});
        text.push_str(&record(
            &format!("r{i}"),
            T0 + i * 60,
            &format!("v{}", i % 150),
            "page_view",
            &s,
        ));
    }
    std::fs::write(dir.join("c.ndjson"), text).unwrap();
    let (code, out, err) = run(&[
        "train",
        "kmeans",
        dir.to_str().unwrap(),
        "--k",
        "2",
        "--names",
        "few,many",
    ]);
    assert_eq!(code, 0, "{err}");
    let report = &out[..out.find("Paste into the rules").expect("a paste block")];
    assert!(report.contains("centre: "), "{report}");
    for bad in ["-0 ", "-0,", "-0;", "-0)", "-0\n"] {
        assert!(!report.contains(bad), "{bad:?} in:\n{report}");
    }
    assert!(report.contains("refund 0"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `edgeseg retrain` command lines shipped in
/// `examples/retrain.github-workflow.yml` and the README's cron line, with
/// the site swapped for a closed local port: their flags parse (not the
/// usage error, 2), and a Worker that does not answer is exit 1 with a
/// clear error and no report.
#[test]
fn the_shipped_schedules_run_valid_retrain_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow =
        std::fs::read_to_string(root.join("examples/retrain.github-workflow.yml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines: Vec<&str> = workflow
        .lines()
        .chain(readme.lines())
        .filter(|l| l.contains("edgeseg retrain --worker") && !l.trim_start().starts_with('#'))
        .filter(|l| l.contains("--keep"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "the workflow's and the cron line's: {lines:?}"
    );
    let keep = temp("schedules");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for line in lines {
        let after = &line[line.find("edgeseg retrain").unwrap() + "edgeseg retrain".len()..];
        let args: Vec<String> = after
            .split_whitespace()
            .take_while(|a| !a.starts_with('>') && *a != "||")
            .map(str::to_string)
            .collect();
        let mut argv = vec!["retrain".to_string()];
        let mut it = args.iter();
        while let Some(a) = it.next() {
            argv.push(a.clone());
            if a == "--worker" || a == "--keep" {
                it.next();
                argv.push(if a == "--worker" {
                    url.clone()
                } else {
                    keep.display().to_string()
                });
            }
        }
        let out = Command::cargo_bin("edgeseg")
            .unwrap()
            .args(&argv)
            .env("EDGESEG_ADMIN_TOKEN", "t")
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{argv:?}: {err}");
        assert!(
            err.starts_with(&format!("error: cannot reach the Worker at {url}: ")),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let _ = std::fs::remove_dir_all(&keep);
}
