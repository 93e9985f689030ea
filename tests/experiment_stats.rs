//! The experiment stats (src/experiments/stats.rs) against reference values
//! computed once with scipy and statsmodels
//! (tests/fixtures/stats/make_reference.py → reference.json). Run natively and
//! in wasm32, since the Worker computes results.

use edgeseg::experiments::stats::{
    absolute_uplift, chance_to_beat, msprt_p, relative_uplift, sequential_p, srm_p,
    value_difference, Arm, MSPRT_TAU, SRM_P,
};
use serde_json::Value;

const REFERENCE: &str = include_str!("fixtures/stats/reference.json");

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
            1e-4,
        );
        let want = case["msprt_p"].as_f64().unwrap();
        check(
            "msprt p",
            msprt_p(&c, &v, MSPRT_TAU),
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
