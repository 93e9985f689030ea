//! `logistic`: a logistic model over earlier signals (a propensity in 0..1).

use super::SignalValue;

/// σ(bias + Σ weight × input). An absent or non-numeric input counts as 0,
/// so a visitor who never did something scores as "did it zero times".
pub(super) fn value(earlier: &[Option<SignalValue>], inputs: &[(usize, f64)], bias: f64) -> f64 {
    let z: f64 = bias
        + inputs
            .iter()
            .map(|(i, w)| {
                earlier
                    .get(*i)
                    .and_then(|v| v.as_ref())
                    .and_then(SignalValue::as_number)
                    .unwrap_or(0.0)
                    * w
            })
            .sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}
