//! Experiment statistics: pure functions of folded counts.
//!
//! For each variant against the control (the first variant):
//! * conversion rate `c / n` (conversions of exposed visitors);
//! * absolute uplift `p₁ − p₀` with a 95 % Wald interval, and relative uplift
//!   `(p₁ − p₀) / p₀` with a 95 % delta-method interval;
//! * the Bayesian chance to beat control, `P(p₁ > p₀)` under independent
//!   Beta(1 + c, 1 + n − c) posteriors (uniform priors), exact to 1e-9: a
//!   closed-form sum, or for very large counts an integration adapted to
//!   both posteriors, over a Beta distribution function checked to 1e-11;
//! * a sequential p-value that stays valid however often people look: the
//!   mixture sequential probability ratio test (mSPRT, "always valid
//!   p-values", Johari, Pekelis and Walsh 2017) on the difference of
//!   proportions with a normal mixing distribution whose variance is tuned
//!   to the metric's variance and a planned sample size, as GrowthBook's
//!   engine tunes it ([`sequential_p_at`]); p is the running minimum over
//!   the looks taken (the results endpoint takes one per day from the
//!   cumulative counts). It assumes independent visitors and a normal
//!   approximation of the difference (fine past the minimum sample);
//! * beside it, labelled as such, the fixed-horizon z-test p-value, for
//!   whoever planned a sample size and reads the result once;
//! * each arm's rate with a Wilson interval (not zero-width at 0 % or 100 %);
//! * value per visitor (the goal's summed value over exposed visitors) with a
//!   95 % interval, and its difference to control;
//! * a sample-ratio-mismatch check: Pearson's chi-square of the exposures
//!   against the configured weights, flagged at p < [`SRM_P`];
//! * "not enough data yet" below [`MIN_EXPOSURES`] exposures or
//!   [`MIN_CONVERSIONS`] conversions in any arm.
//!
//! `tests/fixtures/stats/make_reference.py` (scipy, statsmodels) and
//! `tools/stats-reference.py` (mpmath, scipy, statsmodels, GrowthBook's
//! `gbstats`) computed reference values offline; `tests/experiment_stats.rs`
//! checks these functions against them, natively and in wasm32.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use statrs::function::gamma::ln_gamma;

/// Exposures an arm needs before its numbers are worth reading.
pub const MIN_EXPOSURES: u64 = 100;
/// Conversions an arm needs before its numbers are worth reading.
pub const MIN_CONVERSIONS: u64 = 5;
/// Sample-ratio mismatch is flagged below this p-value.
pub const SRM_P: f64 = 0.001;

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
    /// The tuned mSPRT p-value at this look (not yet the running minimum).
    pub sequential_p: f64,
    /// The fixed-horizon z-test p-value (valid only for one planned look).
    pub p_fixed_horizon: f64,
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

    /// The Wilson 95 % interval of the rate (see [`wilson`]).
    pub fn rate_interval(&self) -> Interval {
        wilson(self.conversions, self.exposures)
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
    absolute_uplift_at(control, variant, ALPHA)
}

/// The absolute uplift with a two-sided Wald interval at level `1 − alpha`
/// (for [`ALPHA`] over the number of comparisons: Bonferroni intervals).
pub fn absolute_uplift_at(control: &Arm, variant: &Arm, alpha: f64) -> Interval {
    let d = variant.rate() - control.rate();
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let half = z * (variant.rate_variance() + control.rate_variance()).sqrt();
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

/// `P(p₁ > p₀)` under independent Beta(1 + c, 1 + n − c) posteriors
/// (uniform priors), with an absolute error under 1e-9 for any counts.
///
/// The parameters are integers, so Evan Miller's closed form applies: a sum
/// of as many terms as the parameter it runs over. Of the four equivalent
/// sums (swap the arms, or read each rate as its complement) the shortest is
/// taken, so 0/20 against 1,000/1,000,000 is one term. Past
/// [`EXACT_SUM_TERMS`] terms (both arms with that many conversions and that
/// many non-conversions) both posteriors are nearly normal and narrow, and
/// [`chance_to_beat_integrated`] is as exact and cheaper.
pub fn chance_to_beat(control: &Arm, variant: &Arm) -> f64 {
    let (a0, b0) = posterior(control);
    let (a1, b1) = posterior(variant);
    if a0.min(b0).min(a1).min(b1) <= EXACT_SUM_TERMS as f64 {
        chance_to_beat_exact(control, variant)
    } else {
        chance_to_beat_integrated(control, variant)
    }
}

/// Past this many terms [`chance_to_beat`] integrates instead of summing.
pub const EXACT_SUM_TERMS: u64 = 100_000;

/// The Beta posterior parameters of an arm under a uniform prior.
fn posterior(arm: &Arm) -> (f64, f64) {
    let c = arm.conversions.min(arm.exposures);
    (1.0 + c as f64, 1.0 + (arm.exposures - c) as f64)
}

/// [`chance_to_beat`] by the closed form (Evan Miller, "Formulas for
/// Bayesian A/B testing"), summed in log space over the smallest of the four
/// parameters; each term is the previous one times a rational ratio, so the
/// cost is one multiplication and one logarithm per term.
pub fn chance_to_beat_exact(control: &Arm, variant: &Arm) -> f64 {
    let (a0, b0) = posterior(control);
    let (a1, b1) = posterior(variant);
    // P(p1 > p0) = miller(control, variant); = 1 − miller(variant, control);
    // p1 > p0 ⇔ 1 − p1 < 1 − p0, where 1 − p ~ Beta(b, a).
    let smallest = a0.min(b0).min(a1).min(b1);
    let p = if smallest == a1 {
        miller(a0, b0, a1, b1)
    } else if smallest == a0 {
        1.0 - miller(a1, b1, a0, b0)
    } else if smallest == b0 {
        miller(b1, a1, b0, a0)
    } else {
        1.0 - miller(b0, a0, b1, a1)
    };
    p.clamp(0.0, 1.0)
}

/// `P(x_B > x_A)` for `x_A ~ Beta(aa, ba)`, `x_B ~ Beta(ab, bb)`, `ab` an
/// integer: `Σ_{i<ab} B(aa+i, ba+bb) / ((bb+i) B(1+i, bb) B(aa, ba))`.
fn miller(aa: f64, ba: f64, ab: f64, bb: f64) -> f64 {
    // The first term is B(aa, ba+bb) / B(aa, ba); term i+1 is term i times
    // (aa+i)(bb+i) / ((aa+ba+bb+i)(i+1)). Summed as m + ln(s) so that
    // terms far below or above 1e-308 neither underflow nor overflow.
    let mut log_term = ln_beta(aa, ba + bb) - ln_beta(aa, ba);
    let (mut m, mut s) = (log_term, 1.0);
    let terms = ab as u64;
    for i in 0..terms.saturating_sub(1) {
        let i = i as f64;
        log_term += ((aa + i) * (bb + i) / ((aa + ba + bb + i) * (i + 1.0))).ln();
        if log_term > m {
            s = s * (m - log_term).exp() + 1.0;
            m = log_term;
        } else {
            s += (log_term - m).exp();
        }
    }
    (m + s.ln()).exp()
}

/// [`chance_to_beat`] by integration adapted to both posteriors:
/// `∫ f(x) F(x) dx` with `f` the density of the narrower posterior and `F`
/// the distribution function ([`beta_cdf`]) of the wider one, by 20-point
/// Gauss–Legendre on 48 panels over ±14 standard deviations of the narrow
/// one, so the integrand never has a feature narrower than a panel. Meant
/// for large counts (both posteriors nearly normal); the tests check it
/// against [`chance_to_beat_exact`] where both apply.
pub fn chance_to_beat_integrated(control: &Arm, variant: &Arm) -> f64 {
    let (a0, b0) = posterior(control);
    let (a1, b1) = posterior(variant);
    let sd = |a: f64, b: f64| (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    // P(p1 > p0) = ∫ f1 F0 = 1 − ∫ f0 F1.
    let control_narrower = sd(a0, b0) < sd(a1, b1);
    let ((ad, bd), (ac, bc)) = if control_narrower {
        ((a0, b0), (a1, b1))
    } else {
        ((a1, b1), (a0, b0))
    };
    let (mean, s) = (ad / (ad + bd), sd(ad, bd));
    let lo = (mean - 14.0 * s).max(0.0);
    let hi = (mean + 14.0 * s).min(1.0);
    const PANELS: usize = 48;
    let (nodes, weights) = gauss_legendre_20();
    let width = (hi - lo) / PANELS as f64;
    let mut total = 0.0;
    for k in 0..PANELS {
        let centre = lo + width * (k as f64 + 0.5);
        for (t, w) in nodes.iter().zip(&weights) {
            let x = centre + 0.5 * width * t;
            total += w * beta_pdf(ad, bd, x) * beta_cdf(ac, bc, x);
        }
    }
    let integral = total * 0.5 * width;
    let p = if control_narrower {
        1.0 - integral
    } else {
        integral
    };
    p.clamp(0.0, 1.0)
}

/// Nodes and weights of 20-point Gauss–Legendre quadrature on [−1, 1], by
/// Newton's method on the Legendre polynomial (to machine precision).
fn gauss_legendre_20() -> ([f64; 20], [f64; 20]) {
    const N: usize = 20;
    let (mut nodes, mut weights) = ([0.0; N], [0.0; N]);
    for i in 0..N / 2 {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (N as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=N {
                let k = k as f64;
                (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
            }
            derivative = N as f64 * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        nodes[i] = x;
        nodes[N - 1 - i] = -x;
        let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
        weights[i] = w;
        weights[N - 1 - i] = w;
    }
    (nodes, weights)
}

/// The Stirling series remainder `ln Γ(x) − ((x − ½) ln x − x + ½ ln 2π)`,
/// for x ≥ 10 (error below 1e-12).
fn stirling_delta(x: f64) -> f64 {
    let r = 1.0 / (x * x);
    (1.0 / 12.0 - r * (1.0 / 360.0 - r * (1.0 / 1260.0 - r / 1680.0))) / x
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln B(a, b)`, accurate to about 1e-13 relative even for parameters in the
/// millions, where `ln Γ(a) + ln Γ(b) − ln Γ(a + b)` would lose eight digits
/// to cancellation: large arguments go through Stirling's series with the
/// big terms combined before they are rounded.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    let (small, large) = if a < b { (a, b) } else { (b, a) };
    let s = a + b;
    if small >= 10.0 {
        // ln(large / s) as ln(1 − small / s): no rounding of a number near 1.
        LN_SQRT_2PI + (small - 0.5) * (small / s).ln() + (large - 0.5) * (-small / s).ln_1p()
            - 0.5 * s.ln()
            + stirling_delta(a)
            + stirling_delta(b)
            - stirling_delta(s)
    } else if large >= 10.0 {
        // ln Γ(large) − ln Γ(s) by Stirling, ln Γ(small) directly.
        ln_gamma(small) + (large - 0.5) * (-small / s).ln_1p() - small * s.ln()
            + small
            + stirling_delta(large)
            - stirling_delta(s)
    } else {
        ln_gamma(a) + ln_gamma(b) - ln_gamma(s)
    }
}

/// `ln(x^a (1 − x)^b / B(a, b))`, the factor in front of the incomplete
/// beta function's continued fraction. With both parameters large, written
/// around the mean (`a ln(1 + e/a) + b ln(1 − e/b)`, `e = x(a+b) − a`) so
/// nothing of size `a ln x` is rounded.
fn ln_front(a: f64, b: f64, x: f64) -> f64 {
    if a >= 10.0 && b >= 10.0 {
        let s = a + b;
        let e = x * s - a;
        a * (e / a).ln_1p() + b * (-e / b).ln_1p() + 0.5 * (a * b / s).ln()
            - LN_SQRT_2PI
            - (stirling_delta(a) + stirling_delta(b) - stirling_delta(s))
    } else {
        a * x.ln() + b * (-x).ln_1p() - ln_beta(a, b)
    }
}

/// The density of Beta(a, b) at `x`.
pub fn beta_pdf(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    (ln_front(a, b, x) - x.ln() - (-x).ln_1p()).exp()
}

/// The Beta(a, b) distribution function, the regularized incomplete beta
/// function `I_x(a, b)`, to about 1e-12 absolute (checked to 1e-11 against mpmath at
/// 30 digits and scipy's Boost `ibeta` in tests/fixtures/stats/exact.json,
/// parameters up to millions).
///
/// Lentz's continued fraction, iterated until it converges rather than for
/// a fixed count (statrs stops at 140 iterations without saying so, which
/// costs five digits with parameters in the hundreds of thousands). It
/// converges in about √(min(a, b)) steps; NaN if it has not after
/// [`BETA_CF_MAX_ITERATIONS`], so an answer is never silently wrong.
pub fn beta_cdf(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front(a, b, x).exp() * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - ln_front(a, b, x).exp() * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// The most iterations [`beta_cdf`]'s continued fraction may take.
pub const BETA_CF_MAX_ITERATIONS: u32 = 1_000_000;

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=BETA_CF_MAX_ITERATIONS {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            return h;
        }
    }
    f64::NAN
}

/// The mSPRT p-value `min(1, 1/Λ)` for the difference of two proportions at
/// one look, with mixing standard deviation `tau` on the difference:
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

/// The significance level the sequential test is tuned for and the
/// intervals are drawn at.
pub const ALPHA: f64 = 0.05;

/// The total exposures (control and variant together) the sequential test
/// is tuned to be most powerful at, when the experiment plans none: small
/// sites reach it in days, and a test tuned there still gains power after.
pub const PLANNED_EXPOSURES: u64 = 1_000;

/// GrowthBook's tuning of the normal mixture (Waudby-Smith et al. 2023,
/// eq. 161, as in `gbstats`' `SequentialTwoSidedTTest`): `ρ²` that makes the
/// confidence sequence narrowest at `planned` total exposures.
pub fn mixture_rho2(planned: f64) -> f64 {
    let l = -2.0 * ALPHA.ln();
    (l + (l + 1.0).ln()) / planned.max(1.0)
}

/// The always-valid p-value at one look, with the mixture tuned to the
/// metric's scale and the planned sample size: the mSPRT of [`msprt_p`] with
/// `τ² = ρ² · V · N`, where `V` is the estimated variance of the difference
/// and `N` the exposures of both arms, so `V · N` is the per-visitor
/// variance (the metric's scale) and `ρ²` comes from [`mixture_rho2`].
/// This equals `gbstats`' sequential p-value on the absolute difference.
pub fn sequential_p_at(control: &Arm, variant: &Arm, planned: f64) -> f64 {
    let v = variant.rate_variance() + control.rate_variance();
    let n = (control.exposures + variant.exposures) as f64;
    let tau2 = mixture_rho2(planned) * v * n;
    msprt_p(control, variant, tau2.sqrt())
}

/// The always-valid p-value over a sequence of looks (cumulative counts):
/// the running minimum of [`sequential_p_at`], tuned to
/// [`PLANNED_EXPOSURES`].
pub fn sequential_p(looks: impl IntoIterator<Item = (Arm, Arm)>) -> f64 {
    sequential_p_planned(looks, PLANNED_EXPOSURES as f64)
}

/// [`sequential_p`] tuned to `planned` total exposures.
pub fn sequential_p_planned(looks: impl IntoIterator<Item = (Arm, Arm)>, planned: f64) -> f64 {
    looks
        .into_iter()
        .map(|(c, v)| sequential_p_at(&c, &v, planned))
        .fold(1.0, f64::min)
}

/// The fixed-horizon two-sided p-value of the difference of rates: a z-test
/// with the unpooled (Wald) variance, the one the absolute interval uses, so
/// the interval excludes 0 exactly when p < 0.05. Valid only when read once,
/// at a sample size planned in advance; 1 while the variance is 0.
pub fn fixed_horizon_p(control: &Arm, variant: &Arm) -> f64 {
    let v = variant.rate_variance() + control.rate_variance();
    if v <= 0.0 || control.exposures == 0 || variant.exposures == 0 {
        return 1.0;
    }
    let z = (variant.rate() - control.rate()).abs() / v.sqrt();
    (2.0 * Normal::standard().sf(z)).min(1.0)
}

/// The Wilson score 95 % interval of an arm's rate: never zero-width, also
/// at 0 % or 100 % (where the Wald interval collapses to a point), and
/// [0, 1] with no exposures.
pub fn wilson(conversions: u64, exposures: u64) -> Interval {
    if exposures == 0 {
        return Interval {
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = exposures as f64;
    let c = conversions.min(exposures) as f64;
    let z = z95();
    let z2 = z * z;
    let centre = (c + z2 / 2.0) / (n + z2);
    let half = z / (n + z2) * (c * (n - c) / n + z2 / 4.0).sqrt();
    Interval {
        estimate: c / n,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
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
        sequential_p: sequential_p_at(control, variant, PLANNED_EXPOSURES as f64),
        p_fixed_horizon: fixed_horizon_p(control, variant),
        value_difference: value_difference(control, variant),
    }
}

/// Holm–Bonferroni adjusted p-values, in the order given: the i-th smallest
/// p is multiplied by the number of hypotheses not yet rejected (m − i + 1),
/// then made non-decreasing, capped at 1. Chosen over Benjamini–Hochberg
/// because it bounds the chance of any false winner (family-wise error, what
/// a marketer shipping "the winner" needs), holds under any dependence
/// (variants share one control; goals share visitors) without BH's
/// positive-dependence assumption, and applied to always-valid p-values
/// stays valid at every look. Ties and NaN are handled (NaN counts as 1).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p
        .iter()
        .map(|&x| if x.is_nan() { 1.0 } else { x })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean[a].total_cmp(&clean[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * clean[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
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
