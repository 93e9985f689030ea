//! Thompson-sampling weights for a bandit experiment, from folded counts.
//!
//! Each variant's conversion rate gets a Beta(1 + c, 1 + n − c) posterior; a
//! variant's weight is the share of [`DRAWS`] joint draws in which it is the
//! best, then every variant is lifted to at least the floor
//! (`w = floor + (1 − k·floor) · share`). Until every variant has `burn_in`
//! exposures the configured weights stay. The draws come from a generator
//! seeded by the experiment's seed and the counts, so the same counts give
//! the same weights (on every run, in every isolate, in tests).

use serde::{Deserialize, Serialize};

use crate::document::BanditSpec;
use crate::state::Timestamp;

/// Joint draws per recomputation.
pub const DRAWS: usize = 10_000;
/// Weight history entries kept for the chart.
pub const MAX_HISTORY: usize = 500;

/// What KV holds under `bandit:KEY`: the weights new visitors get, and their history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanditState {
    /// The experiment seed these weights belong to (a new seed starts over).
    pub seed: String,
    pub variants: Vec<String>,
    pub weights: Vec<f64>,
    pub updated: Timestamp,
    /// (time, weights), oldest first, at most [`MAX_HISTORY`].
    #[serde(default)]
    pub history: Vec<(Timestamp, Vec<f64>)>,
    /// Counter totals of the hours up to `folded_through` (complete hours),
    /// so each run reads only the newest hours.
    #[serde(default)]
    pub base: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub folded_through: Option<u64>,
}

impl BanditState {
    pub fn from_json(text: &str) -> Result<BanditState, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Records new weights (and their history entry).
    pub fn push(&mut self, weights: Vec<f64>, at: Timestamp) {
        self.history.push((at, weights.clone()));
        if self.history.len() > MAX_HISTORY {
            let extra = self.history.len() - MAX_HISTORY;
            self.history.drain(..extra);
        }
        self.weights = weights;
        self.updated = at;
    }
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (boosted for shape < 1).
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }
}

/// New weights from each variant's (exposures, conversions), or `None`
/// while any variant is short of the burn-in (keep the weights as they are).
pub fn thompson_weights(seed: &str, arms: &[(u64, u64)], spec: &BanditSpec) -> Option<Vec<f64>> {
    if arms.len() < 2 || arms.iter().any(|&(n, _)| n < u64::from(spec.burn_in)) {
        return None;
    }
    let mut state = crate::util::hash::key_hash(seed) as u64;
    for &(n, c) in arms {
        state = state.rotate_left(17) ^ n.wrapping_mul(0x1000_0000_01b3) ^ c;
    }
    let mut rng = Rng(state);
    let mut wins = vec![0u64; arms.len()];
    for _ in 0..DRAWS {
        let mut best = 0;
        let mut best_x = f64::MIN;
        for (i, &(n, c)) in arms.iter().enumerate() {
            let c = c.min(n) as f64;
            let x = rng.beta(1.0 + c, 1.0 + n as f64 - c);
            if x > best_x {
                best_x = x;
                best = i;
            }
        }
        wins[best] += 1;
    }
    let k = arms.len() as f64;
    let floor = spec.floor.clamp(0.0, 1.0 / k);
    Some(
        wins.iter()
            .map(|&w| floor + (1.0 - k * floor) * w as f64 / DRAWS as f64)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BanditSpec {
        BanditSpec {
            goal: None,
            floor: 0.05,
            burn_in: 100,
        }
    }

    #[test]
    fn deterministic_and_moves_toward_the_better_variant() {
        let arms = [(1000, 100), (1000, 160)];
        let a = thompson_weights("s", &arms, &spec()).unwrap();
        let b = thompson_weights("s", &arms, &spec()).unwrap();
        assert_eq!(a, b);
        assert!(a[1] > 0.9, "{a:?}");
        assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(a[0] >= 0.05);
    }

    #[test]
    fn equal_arms_split_about_evenly() {
        let w = thompson_weights("s", &[(5000, 500), (5000, 500), (5000, 500)], &spec()).unwrap();
        for x in &w {
            assert!((x - 1.0 / 3.0).abs() < 0.05, "{w:?}");
        }
    }

    #[test]
    fn burn_in_keeps_weights() {
        assert_eq!(thompson_weights("s", &[(99, 50), (1000, 1)], &spec()), None);
    }

    #[test]
    fn history_is_bounded() {
        let mut s = BanditState {
            seed: "s".into(),
            variants: vec!["a".into(), "b".into()],
            weights: vec![0.5, 0.5],
            updated: 0,
            history: Vec::new(),
            base: Default::default(),
            folded_through: None,
        };
        for t in 0..(MAX_HISTORY as u64 + 10) {
            s.push(vec![0.5, 0.5], t);
        }
        assert_eq!(s.history.len(), MAX_HISTORY);
        assert_eq!(s.history[0].0, 10);
        assert_eq!(BanditState::from_json(&s.to_json()).unwrap(), s);
    }
}
