//! Interest affinity: a visitor's decaying weight per category (taken from
//! page paths or event properties), bounded to a few categories.
//!
//! Every category of one [`Affinity`] decays with the same half-life from the
//! same time (`updated`), so weights are stored as they were at `updated` and
//! decayed only when something is added or read. Because the decay factor is
//! common, the top category and its share do not change between updates; what
//! changes is that a category whose decayed weight falls under
//! [`FORGET_BELOW`] is forgotten (and with it, after long enough, the whole
//! affinity).

use super::Timestamp;

/// Longest category name kept, in bytes (longer names are cut at a
/// character boundary).
pub const MAX_NAME_BYTES: usize = 32;

/// Weights are stored in hundredths.
const SCALE: f64 = 100.0;

/// A category whose decayed weight is below this (a twentieth of one
/// default-weight event) is forgotten.
pub const FORGET_BELOW: f64 = 0.05;

/// One category and its weight at [`Affinity::updated`], in hundredths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryWeight {
    pub name: String,
    pub weight: u32,
}

/// The categories of one affinity tracker, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Affinity {
    /// Hash of the affinity definition (sources, half-life).
    pub tracker: u32,
    /// When the weights were last decayed (the time of the last event added).
    pub updated: Timestamp,
    /// Strongest first; at most the rules' `keep`.
    pub weights: Vec<CategoryWeight>,
}

/// `name` cut to [`MAX_NAME_BYTES`] at a character boundary; `None` when empty.
pub fn category_name(name: &str) -> Option<&str> {
    let name = name.trim();
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let name = &name[..end];
    (!name.is_empty()).then_some(name)
}

/// The factor by which a weight decays over `elapsed` seconds with this
/// half-life (1 for a half-life of 0: no decay).
fn decay(elapsed: u64, half_life: u64) -> f64 {
    if half_life == 0 {
        return 1.0;
    }
    (-(elapsed as f64) / half_life as f64).exp2()
}

impl Affinity {
    pub fn new(tracker: u32) -> Self {
        Affinity {
            tracker,
            updated: 0,
            weights: Vec::new(),
        }
    }

    /// The weights decayed to `now` (never grown by a clock that went back),
    /// in weight units, strongest first, forgotten ones left out.
    pub fn decayed(&self, now: Timestamp, half_life: u64) -> Vec<(&str, f64)> {
        let factor = decay(now.saturating_sub(self.updated), half_life);
        self.weights
            .iter()
            .map(|c| (c.name.as_str(), f64::from(c.weight) / SCALE * factor))
            .filter(|(_, w)| *w >= FORGET_BELOW)
            .collect()
    }

    /// The strongest category at `now` and its share of all the weight
    /// (0 to 1); `None` when nothing is remembered. Ties go to the category
    /// that got there first.
    pub fn top(&self, now: Timestamp, half_life: u64) -> Option<(&str, f64)> {
        let weights = self.decayed(now, half_life);
        let total: f64 = weights.iter().map(|(_, w)| w).sum();
        let (name, w) = weights.first()?;
        Some((name, if total > 0.0 { w / total } else { 0.0 }))
    }

    /// Adds `weight` to `category` at `at`: every weight first decays to
    /// `at`; a category not yet kept takes the place of the weakest when
    /// `keep` are kept already (the newest interest always gets in); the
    /// weakest go first.
    pub fn add(&mut self, category: &str, weight: f64, at: Timestamp, half_life: u64, keep: usize) {
        let Some(name) = category_name(category) else {
            return;
        };
        if weight.is_nan() || weight <= 0.0 || weight.is_infinite() {
            return;
        }
        let now = at.max(self.updated);
        let mut weights: Vec<(String, f64)> = self
            .decayed(now, half_life)
            .into_iter()
            .map(|(n, w)| (n.to_string(), w))
            .collect();
        match weights.iter_mut().find(|(n, _)| n == name) {
            Some((_, w)) => *w += weight,
            None => {
                let keep = keep.max(1);
                if weights.len() >= keep {
                    // Strongest first, so the weakest are at the end.
                    weights.truncate(keep - 1);
                }
                weights.push((name.to_string(), weight));
            }
        }
        // Stable: equal weights keep their order (the earlier one first).
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        self.updated = now;
        self.weights = weights
            .into_iter()
            .map(|(name, w)| CategoryWeight {
                name,
                weight: (w * SCALE).round().clamp(0.0, f64::from(u32::MAX)) as u32,
            })
            .filter(|c| f64::from(c.weight) / SCALE >= FORGET_BELOW)
            .collect();
    }

    /// Forgets the categories decayed under [`FORGET_BELOW`] by `now`.
    pub fn prune(&mut self, now: Timestamp, half_life: u64) {
        let factor = decay(now.saturating_sub(self.updated), half_life);
        self.weights
            .retain(|c| f64::from(c.weight) / SCALE * factor >= FORGET_BELOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn weights_halve_every_half_life() {
        let mut a = Affinity::new(1);
        a.add("boots", 1.0, 0, 7 * DAY, 5);
        a.add("tents", 1.0, 7 * DAY, 7 * DAY, 5);
        // boots decayed to 0.5 when tents arrived: tents leads 1 to 0.5.
        assert_eq!(a.weights[0].name, "tents");
        assert_eq!(a.weights[1].weight, 50);
        let (top, share) = a.top(7 * DAY, 7 * DAY).unwrap();
        assert_eq!(top, "tents");
        assert!((share - 1.0 / 1.5).abs() < 1e-9);
        // Reading later changes no ranking and no share.
        assert_eq!(a.top(30 * DAY, 7 * DAY).map(|t| t.0), Some("tents"));
    }

    #[test]
    fn the_newest_category_replaces_the_weakest() {
        let mut a = Affinity::new(1);
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            for _ in 0..=i {
                a.add(c, 1.0, 100, DAY, 3);
            }
        }
        a.add("d", 1.0, 100, DAY, 3);
        let names: Vec<&str> = a.weights.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "d"]);
    }

    #[test]
    fn old_interests_are_forgotten() {
        let mut a = Affinity::new(1);
        a.add("boots", 1.0, 0, DAY, 5);
        assert!(a.top(4 * DAY, DAY).is_some()); // 1/16 = 0.0625
        assert!(a.top(5 * DAY, DAY).is_none()); // 1/32
        a.prune(5 * DAY, DAY);
        assert!(a.weights.is_empty());
    }

    #[test]
    fn names_are_bounded_and_weights_sane() {
        assert_eq!(category_name("  "), None);
        let long = "é".repeat(40);
        assert_eq!(category_name(&long).map(str::len), Some(32));
        let mut a = Affinity::new(1);
        a.add("x", f64::NAN, 1, DAY, 5);
        a.add("x", -1.0, 1, DAY, 5);
        a.add("x", f64::INFINITY, 1, DAY, 5);
        assert!(a.weights.is_empty());
        // A clock that went back does not grow weights.
        a.add("x", 1.0, 100, DAY, 5);
        a.add("y", 1.0, 50, DAY, 5);
        assert_eq!(a.updated, 100);
    }
}
