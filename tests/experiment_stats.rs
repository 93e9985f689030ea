//! The experiment stats (src/experiments/stats.rs) against reference values
//! computed once with scipy and statsmodels
//! (tests/fixtures/stats/make_reference.py → reference.json). Run natively and
//! in wasm32, since the Worker computes results.

use edgeseg::counters::names;
use edgeseg::experiments::results::{results_json, HourlyTotals};
use edgeseg::experiments::stats::holm;
use edgeseg::experiments::stats::{
    absolute_uplift, beta_cdf, chance_to_beat, chance_to_beat_exact, chance_to_beat_integrated,
    fixed_horizon_p, msprt_p, relative_uplift, sequential_p, sequential_p_at, sequential_p_planned,
    srm_p, value_difference, wilson, Arm, EXACT_SUM_TERMS, PLANNED_EXPOSURES, SRM_P,
};
use edgeseg::rules::CompiledRules;
use serde_json::{json, Value};

const REFERENCE: &str = include_str!("fixtures/stats/reference.json");
/// Written offline by tools/stats-reference.py (mpmath, scipy, statsmodels, gbstats).
const EXACT: &str = include_str!("fixtures/stats/exact.json");
/// The mixing sd reference.json's mSPRT values were computed with (the fixed
/// tau edgeseg used before the mixture was tuned); checks `msprt_p`'s formula.
const REFERENCE_TAU: f64 = 0.01;

fn arm(v: &Value) -> Arm {
    Arm {
        exposures: v["n"].as_u64().unwrap(),
        conversions: v["c"].as_u64().unwrap(),
        value_sum: v["sum"].as_f64().unwrap(),
        value_sq: v["sumsq"].as_f64().unwrap(),
    }
}

fn triple(v: &Value) -> [f64; 3] {
    let a = v.as_array().unwrap();
    [
        a[0].as_f64().unwrap(),
        a[1].as_f64().unwrap(),
        a[2].as_f64().unwrap(),
    ]
}

fn close(name: &str, what: &str, got: f64, want: f64, tol: f64) -> Option<String> {
    ((got - want).abs() > tol).then(|| format!("{name}: {what}: got {got}, want {want}"))
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn matches_the_scipy_reference() {
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    let mut failures = Vec::new();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (c, v) = (arm(&case["control"]), arm(&case["variant"]));
        let mut check = |what: &str, got: f64, want: f64, tol: f64| {
            failures.extend(close(name, what, got, want, tol));
        };
        check(
            "control rate",
            c.rate(),
            case["rate_control"].as_f64().unwrap(),
            1e-12,
        );
        let abs = absolute_uplift(&c, &v);
        let [e, lo, hi] = triple(&case["absolute"]);
        check("absolute", abs.estimate, e, 1e-9);
        check("absolute low", abs.low, lo, 1e-9);
        check("absolute high", abs.high, hi, 1e-9);
        match (relative_uplift(&c, &v), case["relative"].is_null()) {
            (Some(r), false) => {
                let [e, lo, hi] = triple(&case["relative"]);
                check("relative", r.estimate, e, 1e-9);
                check("relative low", r.low, lo, 1e-9);
                check("relative high", r.high, hi, 1e-9);
            }
            (None, true) => {}
            (got, _) => check(
                "relative exists",
                f64::from(u8::from(got.is_some())),
                2.0,
                0.0,
            ),
        }
        check(
            "chance to beat",
            chance_to_beat(&c, &v),
            case["chance_to_beat"].as_f64().unwrap(),
            1e-6,
        );
        let want = case["msprt_p"].as_f64().unwrap();
        check(
            "msprt p",
            msprt_p(&c, &v, REFERENCE_TAU),
            want,
            1e-9 + want * 1e-9,
        );
        let [e, lo, hi] = triple(&case["value_control"]);
        let vpv = c.value_per_visitor();
        check("value per visitor", vpv.estimate, e, 1e-9);
        check("value per visitor low", vpv.low, lo, 1e-9);
        check("value per visitor high", vpv.high, hi, 1e-9);
        let d = value_difference(&c, &v);
        let [e, lo, hi] = triple(&case["value_difference"]);
        check("value difference", d.estimate, e, 1e-9);
        check("value difference low", d.low, lo, 1e-9);
        check("value difference high", d.high, hi, 1e-9);
    }
    for case in reference["srm"].as_array().unwrap() {
        let exposures: Vec<u64> = case["exposures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let weights: Vec<f64> = case["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let want = case["p"].as_f64().unwrap();
        let got = srm_p(&exposures, &weights).unwrap();
        failures.extend(close(
            &format!("srm {exposures:?}"),
            "p",
            got,
            want,
            1e-9 + want * 1e-6,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn srm_flags_a_clear_mismatch_only() {
    assert!(srm_p(&[5000, 5000], &[0.5, 0.5]).unwrap() > SRM_P);
    assert!(srm_p(&[5000, 5400], &[0.5, 0.5]).unwrap() < SRM_P);
    assert_eq!(srm_p(&[0, 0], &[0.5, 0.5]), None);
}

/// The sequential p-value is the running minimum over the looks: a later
/// look never raises it, and peeking at a null difference every day does
/// not make it significant.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sequential_p_is_a_running_minimum() {
    let looks: Vec<(Arm, Arm)> = (1..=30u64)
        .map(|day| {
            let arm = |c| Arm {
                exposures: 1000 * day,
                conversions: c,
                ..Arm::default()
            };
            (
                arm(100 * day),
                arm(100 * day + if day == 3 { 40 } else { 0 }),
            )
        })
        .collect();
    let all = sequential_p(looks.clone());
    let first_three = sequential_p(looks[..3].to_vec());
    assert!(all <= first_three);
    let null = sequential_p(looks[3..].to_vec());
    assert!(null > 0.05, "{null}");
}

fn counts(v: &Value) -> Arm {
    Arm {
        conversions: v[0].as_u64().unwrap(),
        exposures: v[1].as_u64().unwrap(),
        ..Arm::default()
    }
}

/// The Beta distribution function against mpmath (30 digits; scipy's Boost
/// `ibeta` past parameters of 10,000), parameters
/// up to millions, points from the far tails to the mean.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn beta_cdf_matches_mpmath_to_1e_11() {
    let exact: Value = serde_json::from_str(EXACT).unwrap();
    let cases = exact["beta_cdf"].as_array().unwrap();
    assert!(cases.len() > 50);
    let mut worst = (0.0, String::new());
    for c in cases {
        let (a, b, x) = (
            c["a"].as_f64().unwrap(),
            c["b"].as_f64().unwrap(),
            c["x"].as_f64().unwrap(),
        );
        let (got, want) = (beta_cdf(a, b, x), c["cdf"].as_f64().unwrap());
        let err = (got - want).abs();
        assert!(err.is_finite(), "I_{x}({a}, {b}) = {got}");
        if err > worst.0 {
            worst = (err, format!("I_{x}({a}, {b}) = {got}, want {want}"));
        }
    }
    assert!(worst.0 < 1e-11, "worst error {}: {}", worst.0, worst.1);
}

/// Chance to beat control against the exact Beta-Binomial answer (mpmath),
/// including 0/20 against 1,000/1,000,000 and millions of exposures.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn chance_to_beat_is_exact_to_1e_9() {
    let exact: Value = serde_json::from_str(EXACT).unwrap();
    let mut failures = Vec::new();
    for c in exact["chance_to_beat"].as_array().unwrap() {
        let (control, variant) = (counts(&c["control"]), counts(&c["variant"]));
        let want = c["p"].as_f64().unwrap();
        let got = chance_to_beat(&control, &variant);
        if (got - want).abs() > 1e-9 {
            failures.push(format!(
                "{control:?} vs {variant:?}: got {got}, want {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The case, in words: the exact answer is 0.0208, not 0.0475.
    let tiny = Arm {
        exposures: 20,
        ..Arm::default()
    };
    let huge = Arm {
        exposures: 1_000_000,
        conversions: 1_000,
        ..Arm::default()
    };
    assert!((chance_to_beat(&tiny, &huge) - 0.0208).abs() < 5e-5);
    assert!((chance_to_beat(&tiny, &huge) + chance_to_beat(&huge, &tiny) - 1.0).abs() < 1e-12);
}

/// The closed-form sum and the integration agree where both apply, from a
/// few hundred conversions to past the switch between them.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn exact_sum_and_integration_agree() {
    for (c0, n0, c1, n1) in [
        (300, 10_000, 340, 10_000),
        (5_000, 40_000, 5_150, 41_000),
        (
            EXACT_SUM_TERMS + 10,
            4 * EXACT_SUM_TERMS,
            EXACT_SUM_TERMS,
            4 * EXACT_SUM_TERMS,
        ),
    ] {
        let arm = |conversions, exposures| Arm {
            conversions,
            exposures,
            ..Arm::default()
        };
        let (c, v) = (arm(c0, n0), arm(c1, n1));
        let (sum, integral) = (
            chance_to_beat_exact(&c, &v),
            chance_to_beat_integrated(&c, &v),
        );
        assert!(
            (sum - integral).abs() < 1e-9,
            "{c0}/{n0} vs {c1}/{n1}: {sum} vs {integral}"
        );
    }
}

/// The sequential p-value equals gbstats' (`SequentialTwoSidedTTest` on the
/// absolute difference, same tuning), and the fixed-horizon p scipy's z-test.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sequential_and_fixed_horizon_p_match_gbstats_and_scipy() {
    let exact: Value = serde_json::from_str(EXACT).unwrap();
    let mut failures = Vec::new();
    for c in exact["sequential"].as_array().unwrap() {
        let (control, variant) = (counts(&c["control"]), counts(&c["variant"]));
        let planned = c["planned"].as_f64().unwrap();
        let rel = |got: f64, want: f64| (got - want).abs() <= 1e-12 + 1e-9 * want;
        let (seq, want_seq) = (
            sequential_p_at(&control, &variant, planned),
            c["p_sequential"].as_f64().unwrap(),
        );
        if !rel(seq, want_seq) {
            failures.push(format!(
                "{control:?} vs {variant:?} sequential: {seq} vs {want_seq}"
            ));
        }
        let (fixed, want_fixed) = (
            fixed_horizon_p(&control, &variant),
            c["p_fixed_horizon"].as_f64().unwrap(),
        );
        if !rel(fixed, want_fixed) {
            failures.push(format!(
                "{control:?} vs {variant:?} fixed: {fixed} vs {want_fixed}"
            ));
        }
        // z against GrowthBook's Welch t: the same reading past a few
        // thousand exposures (documented in the README).
        let t = c["gbstats_t_p"].as_f64().unwrap();
        if control.exposures >= 5_000 && c.get("gbstats_gives_up").is_none() {
            assert!((fixed - t).abs() <= 0.02 * t + 1e-9, "z {fixed} vs t {t}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The case: 30/100 against 60/100 is an obvious winner; the tuned
/// sequential test says so (the fixed tau = 0.01 said p = 0.81), while
/// staying above the fixed-horizon p (the price of peeking).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sequential_test_has_power_at_small_samples() {
    let arm = |conversions| Arm {
        conversions,
        exposures: 100,
        ..Arm::default()
    };
    let (c, v) = (arm(30), arm(60));
    let seq = sequential_p(vec![(c, v)]);
    let fixed = fixed_horizon_p(&c, &v);
    assert!(seq < 0.01, "sequential p {seq}");
    assert!(fixed < seq, "fixed {fixed} vs sequential {seq}");
    assert!(msprt_p(&c, &v, REFERENCE_TAU) > 0.5);
    // Tuned for a larger plan, it is less powerful this early.
    assert!(sequential_p_planned(vec![(c, v)], 100.0 * PLANNED_EXPOSURES as f64) > seq);
}

/// Under no difference, peeking every day for 60 days keeps the sequential
/// false-positive rate under 5 % (seeded simulation, 400 experiments), where
/// the fixed-horizon p read every day would exceed it.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn peeking_at_the_sequential_p_keeps_false_positives_under_alpha() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (runs, days, per_day, rate) = (400, 60, 40, 0.2);
    let (mut sequential_hits, mut peeking_hits) = (0, 0);
    for _ in 0..runs {
        let (mut c, mut v) = (Arm::default(), Arm::default());
        let (mut seq_min, mut fixed_min) = (1.0_f64, 1.0_f64);
        for _ in 0..days {
            for arm in [&mut c, &mut v] {
                for _ in 0..per_day {
                    arm.exposures += 1;
                    arm.conversions += u64::from(uniform() < rate);
                }
            }
            seq_min = seq_min.min(sequential_p_at(&c, &v, PLANNED_EXPOSURES as f64));
            fixed_min = fixed_min.min(fixed_horizon_p(&c, &v));
        }
        sequential_hits += u32::from(seq_min < 0.05);
        peeking_hits += u32::from(fixed_min < 0.05);
    }
    let (seq_rate, peek_rate) = (
        f64::from(sequential_hits) / f64::from(runs),
        f64::from(peeking_hits) / f64::from(runs),
    );
    assert!(seq_rate < 0.05, "sequential false positives {seq_rate}");
    assert!(
        peek_rate > 0.1,
        "peeking at the fixed-horizon p {peek_rate}"
    );
}

/// Arms at 0 % and 100 % get an interval with width, matching statsmodels'
/// Wilson interval.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn wilson_intervals_match_statsmodels_and_have_width_at_the_edges() {
    let exact: Value = serde_json::from_str(EXACT).unwrap();
    for c in exact["wilson"].as_array().unwrap() {
        let (conv, n) = (c["c"].as_u64().unwrap(), c["n"].as_u64().unwrap());
        let i = wilson(conv, n);
        for (got, want) in [(i.low, &c["low"]), (i.high, &c["high"])] {
            let want = want.as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{conv}/{n}: {got} vs {want}");
        }
        assert!(i.high - i.low > 0.0, "{conv}/{n} zero width");
    }
    let zero = Arm {
        exposures: 50,
        ..Arm::default()
    };
    assert_eq!(zero.rate_interval().low, 0.0);
    assert!(zero.rate_interval().high > 0.05);
}

/// Holm's adjustment by hand on a textbook case, with ties and order kept.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn holm_adjusts_in_steps_and_keeps_order() {
    let got = holm(&[0.04, 0.01, 0.03, 0.5]);
    let want = [0.09, 0.04, 0.09, 0.5];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?}");
    }
    assert_eq!(holm(&[0.2, 0.2]), vec![0.4, 0.4]);
    assert_eq!(holm(&[0.7, f64::NAN]), vec![1.0, 1.0]);
    assert!(holm(&[]).is_empty());
}

/// The results endpoint: existing fields kept; beside them the fixed-horizon
/// p, Holm-adjusted p-values over every variant and goal, Bonferroni
/// intervals, and Wilson intervals that have width at 0 %.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn results_show_fixed_horizon_and_corrected_p_values() {
    let doc = json!({
        "format": 1, "version": "stats-test",
        "events": {"purchase": {}, "signup": {}},
        "segments": [{"id": "shopper", "condition": {"path": {"$regex": "^/"}}}],
        "blocks": {"hero": {"content": {"shopper": {"inner_html": "Shopper hero"}}}},
        "experiments": {"hero_test": {
            "segment": "shopper", "status": "running", "seed": "s",
            "variants": [
                {"id": "control", "weight": 1},
                {"id": "bold", "weight": 1, "content": {"hero": {"inner_html": "Bold"}}},
                {"id": "calm", "weight": 1, "content": {"hero": {"inner_html": "Calm"}}}
            ],
            "goals": {"purchase": {"event": "purchase"}, "signup": {"event": "signup"}}
        }}
    });
    let rules = CompiledRules::from_value(&doc).unwrap_or_else(|e| panic!("{e}"));
    let mut totals = HourlyTotals::new();
    let mut put = |name: String, n: u64| {
        totals.entry(name).or_default().insert(10, n);
    };
    for (variant, purchases, signups) in [("control", 30, 10), ("bold", 60, 12), ("calm", 0, 9)] {
        put(names::exposures("hero_test", variant), 100);
        put(
            names::conversions("hero_test", variant, "purchase"),
            purchases,
        );
        put(names::conversions("hero_test", variant, "signup"), signups);
    }
    let out = results_json(&rules, &totals, 0, 23, &Default::default());
    let e = &out["experiments"][0];
    assert_eq!(e["corrections"]["method"], "holm");
    assert_eq!(e["corrections"]["comparisons"], 4);
    let mut raw = Vec::new();
    let mut rows = Vec::new();
    for goal in ["purchase", "signup"] {
        for row in e["goals"][goal]["variants"].as_array().unwrap() {
            let interval = &row["rate_interval"];
            assert!(interval["high"].as_f64().unwrap() > interval["low"].as_f64().unwrap());
            let vs = &row["vs_control"];
            if vs.is_null() {
                continue;
            }
            for field in [
                "absolute",
                "relative",
                "chance_to_beat",
                "p_value",
                "value_difference",
            ] {
                assert!(vs.get(field).is_some(), "{field} kept");
            }
            raw.push(vs["p_value"].as_f64().unwrap());
            rows.push(vs.clone());
        }
    }
    let adjusted = holm(&raw);
    for (vs, want) in rows.iter().zip(adjusted) {
        assert_eq!(vs["p_value_adjusted"].as_f64().unwrap(), want);
        assert!(
            vs["p_fixed_horizon_adjusted"].as_f64().unwrap()
                >= vs["p_fixed_horizon"].as_f64().unwrap()
        );
        let (narrow, wide) = (&vs["absolute"], &vs["absolute_corrected"]);
        assert!(wide["low"].as_f64().unwrap() < narrow["low"].as_f64().unwrap());
        assert!(wide["high"].as_f64().unwrap() > narrow["high"].as_f64().unwrap());
    }
    // bold's purchases (30/100 → 60/100) win even after the correction.
    let bold = &e["goals"]["purchase"]["variants"][1]["vs_control"];
    assert!(bold["p_value_adjusted"].as_f64().unwrap() < 0.05, "{bold}");
    assert!(bold["p_fixed_horizon"].as_f64().unwrap() < bold["p_value"].as_f64().unwrap());
    // calm converts nobody: its rate interval still has width.
    let calm = &e["goals"]["purchase"]["variants"][2];
    assert_eq!(calm["rate"], 0.0);
    assert!(calm["rate_interval"]["high"].as_f64().unwrap() > 0.02);
}
