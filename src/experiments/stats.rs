//! Experiment statistics: pure functions of folded counts.
//!
//! For each variant against the control (the first variant):
//! * conversion rate `c / n` (conversions of exposed visitors);
//! * absolute uplift `p₁ − p₀` with a 95 % Wald interval, and relative uplift
//!   `(p₁ − p₀) / p₀` with a 95 % delta-method interval;
//! * the Bayesian chance to beat control, `P(p₁ > p₀)` under independent
//!   Beta(1 + c, 1 + n − c) posteriors (uniform priors), by numerical integration;
//! * a sequential p-value that stays valid however often people look: the
//!   mixture sequential probability ratio test (mSPRT, "always valid
//!   p-values", Johari, Pekelis and Walsh 2017) on the difference of
//!   proportions with a normal mixing distribution N(0, τ²), τ = [`MSPRT_TAU`];
//!   p is the running minimum of `min(1, 1/Λ)` over the looks taken (the
//!   results endpoint takes one per day from the cumulative counts). It
//!   assumes independent visitors and a normal approximation of the
//!   difference (fine past the minimum sample);
//! * value per visitor (the goal's summed value over exposed visitors) with a
//!   95 % interval, and its difference to control;
//! * a sample-ratio-mismatch check: Pearson's chi-square of the exposures
//!   against the configured weights, flagged at p < [`SRM_P`];
//! * "not enough data yet" below [`MIN_EXPOSURES`] exposures or
//!   [`MIN_CONVERSIONS`] conversions in any arm.
//!
//! `tests/fixtures/stats/make_reference.py` computed reference values once
//! with scipy and statsmodels; `tests/experiment_stats.rs` checks these
//! functions against them.

use statrs::distribution::{Beta, ChiSquared, Continuous, ContinuousCDF, Normal};

/// Exposures an arm needs before its numbers are worth reading.
pub const MIN_EXPOSURES: u64 = 100;
/// Conversions an arm needs before its numbers are worth reading.
pub const MIN_CONVERSIONS: u64 = 5;
/// Sample-ratio mismatch is flagged below this p-value.
pub const SRM_P: f64 = 0.001;
/// The mSPRT mixing standard deviation, on the absolute difference of
/// conversion rates (one percentage point: the size of effect expected).
pub const MSPRT_TAU: f64 = 0.01;

/// One arm's folded counts for one goal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Arm {
    pub exposures: u64,
    pub conversions: u64,
    /// The goal's value summed over the arm's visitors (in the goal's unit).
    pub value_sum: f64,
    /// The sum of each visitor's value squared.
    pub value_sq: f64,
}

/// An estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// A variant against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub absolute: Interval,
    pub relative: Option<Interval>,
    pub chance_to_beat: f64,
    /// The mSPRT p-value at this look (not yet the running minimum).
    pub sequential_p: f64,
    pub value_difference: Interval,
}

fn z95() -> f64 {
    Normal::standard().inverse_cdf(0.975)
}

impl Arm {
    pub fn rate(&self) -> f64 {
        if self.exposures == 0 {
            0.0
        } else {
            self.conversions.min(self.exposures) as f64 / self.exposures as f64
        }
    }

    fn rate_variance(&self) -> f64 {
        if self.exposures == 0 {
            return 0.0;
        }
        let p = self.rate();
        p * (1.0 - p) / self.exposures as f64
    }

    /// Whether this arm has enough data to read.
    pub fn enough(&self) -> bool {
        self.exposures >= MIN_EXPOSURES && self.conversions >= MIN_CONVERSIONS
    }

    /// Value per visitor with its 95 % interval (normal approximation,
    /// sample variance).
    pub fn value_per_visitor(&self) -> Interval {
        let n = self.exposures as f64;
        if self.exposures == 0 {
            return Interval {
                estimate: 0.0,
                low: 0.0,
                high: 0.0,
            };
        }
        let mean = self.value_sum / n;
        let half = z95() * self.value_variance_of_mean().sqrt();
        Interval {
            estimate: mean,
            low: mean - half,
            high: mean + half,
        }
    }

    fn value_variance_of_mean(&self) -> f64 {
        let n = self.exposures as f64;
        if self.exposures < 2 {
            return 0.0;
        }
        let mean = self.value_sum / n;
        let var = ((self.value_sq - n * mean * mean) / (n - 1.0)).max(0.0);
        var / n
    }
}

/// The absolute uplift `p₁ − p₀` with a 95 % Wald interval.
pub fn absolute_uplift(control: &Arm, variant: &Arm) -> Interval {
    let d = variant.rate() - control.rate();
    let half = z95() * (variant.rate_variance() + control.rate_variance()).sqrt();
    Interval {
        estimate: d,
        low: d - half,
        high: d + half,
    }
}

/// The relative uplift `p₁ / p₀ − 1` with a 95 % delta-method interval;
/// `None` while the control has no conversions.
pub fn relative_uplift(control: &Arm, variant: &Arm) -> Option<Interval> {
    let (p0, p1) = (control.rate(), variant.rate());
    if p0 <= 0.0 {
        return None;
    }
    let r = p1 / p0 - 1.0;
    let var = variant.rate_variance() / (p0 * p0)
        + p1 * p1 * control.rate_variance() / (p0 * p0 * p0 * p0);
    let half = z95() * var.sqrt();
    Some(Interval {
        estimate: r,
        low: r - half,
        high: r + half,
    })
}

/// `P(p₁ > p₀)` under Beta(1 + c, 1 + n − c) posteriors: `∫ f₁(x) F₀(x) dx`
/// by Simpson's rule over the region holding both posteriors' mass.
pub fn chance_to_beat(control: &Arm, variant: &Arm) -> f64 {
    let posterior = |a: &Arm| {
        let c = a.conversions.min(a.exposures) as f64;
        let alpha = 1.0 + c;
        let beta = 1.0 + a.exposures as f64 - c;
        let mean = alpha / (alpha + beta);
        let sd = (alpha * beta / ((alpha + beta).powi(2) * (alpha + beta + 1.0))).sqrt();
        (Beta::new(alpha, beta).ok(), mean, sd)
    };
    let (Some(b0), m0, s0) = posterior(control) else {
        return 0.5;
    };
    let (Some(b1), m1, s1) = posterior(variant) else {
        return 0.5;
    };
    let lo = (m0 - 12.0 * s0).min(m1 - 12.0 * s1).max(0.0);
    let hi = (m0 + 12.0 * s0).max(m1 + 12.0 * s1).min(1.0);
    const STEPS: usize = 4_000;
    let h = (hi - lo) / STEPS as f64;
    let f = |x: f64| b1.pdf(x) * b0.cdf(x);
    let mut sum = f(lo) + f(hi);
    for i in 1..STEPS {
        let x = lo + h * i as f64;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    (sum * h / 3.0).clamp(0.0, 1.0)
}

/// The mSPRT p-value `min(1, 1/Λ)` for the difference of two proportions at
/// one look, with mixing variance `tau²`:
/// `Λ = sqrt(V / (V + τ²)) · exp(τ² θ² / (2 V (V + τ²)))`, where θ is the
/// observed difference and V its estimated variance.
pub fn msprt_p(control: &Arm, variant: &Arm, tau: f64) -> f64 {
    let theta = variant.rate() - control.rate();
    let v = variant.rate_variance() + control.rate_variance();
    if v <= 0.0 || control.exposures == 0 || variant.exposures == 0 {
        return 1.0;
    }
    let t2 = tau * tau;
    let log_lambda = 0.5 * (v / (v + t2)).ln() + t2 * theta * theta / (2.0 * v * (v + t2));
    (-log_lambda).exp().min(1.0)
}

/// The always-valid p-value over a sequence of looks (cumulative counts):
/// the running minimum of [`msprt_p`].
pub fn sequential_p(looks: impl IntoIterator<Item = (Arm, Arm)>) -> f64 {
    looks
        .into_iter()
        .map(|(c, v)| msprt_p(&c, &v, MSPRT_TAU))
        .fold(1.0, f64::min)
}

/// The difference of values per visitor (variant − control), 95 % interval.
pub fn value_difference(control: &Arm, variant: &Arm) -> Interval {
    let d = variant.value_per_visitor().estimate - control.value_per_visitor().estimate;
    let half = z95() * (variant.value_variance_of_mean() + control.value_variance_of_mean()).sqrt();
    Interval {
        estimate: d,
        low: d - half,
        high: d + half,
    }
}

/// Everything for one variant against the control at one look.
pub fn compare(control: &Arm, variant: &Arm) -> Comparison {
    Comparison {
        absolute: absolute_uplift(control, variant),
        relative: relative_uplift(control, variant),
        chance_to_beat: chance_to_beat(control, variant),
        sequential_p: msprt_p(control, variant, MSPRT_TAU),
        value_difference: value_difference(control, variant),
    }
}

/// Sample-ratio mismatch: Pearson's chi-square p-value of the exposures
/// against the expected shares (normalized). `None` with fewer than two arms
/// or no exposures.
pub fn srm_p(exposures: &[u64], weights: &[f64]) -> Option<f64> {
    let total: u64 = exposures.iter().sum();
    let wsum: f64 = weights.iter().sum();
    if exposures.len() < 2 || exposures.len() != weights.len() || total == 0 || wsum <= 0.0 {
        return None;
    }
    let mut stat = 0.0;
    for (&o, &w) in exposures.iter().zip(weights) {
        let e = total as f64 * w / wsum;
        if e <= 0.0 {
            if o > 0 {
                return Some(0.0);
            }
            continue;
        }
        stat += (o as f64 - e).powi(2) / e;
    }
    let chi = ChiSquared::new((exposures.len() - 1) as f64).ok()?;
    Some(chi.sf(stat))
}
