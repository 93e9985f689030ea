//! `cluster`: the nearest of k centroids, a k-means model trained by
//! `edgeseg train kmeans`. The value is the nearest cluster's name when the
//! signal gives `names`, else its number (0 for the first centroid).
//!
//! Distance is `Σ ((input − centroid) / scale)²`: the standardized distance
//! the model was fitted with, with centroids kept in the inputs' own units so
//! people can read them. An input with no value, or a text value, counts as 0,
//! as for `logistic`. Ties go to the earlier centroid.

use super::SignalValue;
use crate::document::ClusterSignal;
use crate::error::path_index;

/// Bounds checked when the rules compile (a cookie-sized visitor and a
/// rules document in KV do not need more, and scoring stays microseconds).
pub const MAX_FEATURES: usize = 32;
pub const MAX_CLUSTERS: usize = 32;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterModel {
    /// Indices of the input signals (set once the names are resolved).
    pub inputs: Vec<usize>,
    /// 1 / scale, per input.
    pub inverse_scale: Vec<f64>,
    /// Centroids row after row, one value per input each, in the inputs' units.
    pub centroids: Vec<f64>,
    pub names: Option<Vec<String>>,
}

impl ClusterModel {
    /// Checks the shape and bounds of a `cluster` spec; errors are
    /// `(path below the signal, message)`.
    pub fn compile(spec: &ClusterSignal) -> Result<ClusterModel, Vec<(String, String)>> {
        let d = spec.cluster.len();
        let mut errors = Vec::new();
        if d == 0 || d > MAX_FEATURES {
            errors.push((
                "cluster".into(),
                format!("a cluster model reads 1 to {MAX_FEATURES} signals, got {d}"),
            ));
        }
        if spec.scale.len() != d {
            errors.push((
                "scale".into(),
                format!(
                    "expected one scale per input ({d}), got {}",
                    spec.scale.len()
                ),
            ));
        }
        for (i, s) in spec.scale.iter().enumerate() {
            if !(s.is_finite() && *s > 0.0) {
                errors.push((
                    path_index("scale", i),
                    format!("a scale must be above 0, got {s}"),
                ));
            }
        }
        let k = spec.centroids.len();
        if !(1..=MAX_CLUSTERS).contains(&k) {
            errors.push((
                "centroids".into(),
                format!("a cluster model has 1 to {MAX_CLUSTERS} centroids, got {k}"),
            ));
        }
        for (i, c) in spec.centroids.iter().enumerate() {
            if c.len() != d {
                errors.push((
                    path_index("centroids", i),
                    format!("expected one value per input ({d}), got {}", c.len()),
                ));
            } else if c.iter().any(|v| !v.is_finite()) {
                errors.push((
                    path_index("centroids", i),
                    "values must be finite numbers".into(),
                ));
            }
        }
        if let Some(names) = &spec.names {
            if names.len() != k {
                errors.push((
                    "names".into(),
                    format!("expected one name per centroid ({k}), got {}", names.len()),
                ));
            }
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    errors.push((
                        path_index("names", i),
                        format!("the name \"{n}\" is used twice"),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ClusterModel {
            inputs: Vec::new(),
            inverse_scale: spec.scale.iter().map(|s| 1.0 / s).collect(),
            centroids: spec.centroids.iter().flatten().copied().collect(),
            names: spec.names.clone(),
        })
    }

    /// The nearest centroid to `x` (one value per input) and its squared
    /// scaled distance.
    pub fn nearest(&self, x: &[f64]) -> (usize, f64) {
        let d = self.inverse_scale.len().max(1);
        let mut best = (0, f64::INFINITY);
        for (i, c) in self.centroids.chunks_exact(d).enumerate() {
            let mut sum = 0.0;
            for ((v, c), s) in x.iter().zip(c).zip(&self.inverse_scale) {
                let z = (v - c) * s;
                sum += z * z;
            }
            if sum < best.1 {
                best = (i, sum);
            }
        }
        best
    }

    /// The cluster's name, or its number.
    pub fn label(&self, cluster: usize) -> SignalValue {
        match self.names.as_ref().and_then(|n| n.get(cluster)) {
            Some(name) => SignalValue::Text(name.clone()),
            None => SignalValue::Number(cluster as f64),
        }
    }

    pub(super) fn value(&self, earlier: &[Option<SignalValue>]) -> SignalValue {
        let x = super::numbers(earlier, &self.inputs);
        self.label(self.nearest(&x).0)
    }

    /// For the debug header: which centroid, how far, from what.
    pub(super) fn explain(&self, earlier: &[Option<SignalValue>]) -> String {
        let x = super::numbers(earlier, &self.inputs);
        let (c, d2) = self.nearest(&x);
        format!(
            "nearest of {} clusters: #{c} at scaled distance {:.3}",
            self.centroids.len() / self.inverse_scale.len().max(1),
            d2.sqrt()
        )
    }
}
