//! `edgeseg train kmeans`: k-means on standardized features (smartcore:
//! k-means++ seeding), several restarts with fixed seeds, the run with the
//! least within-cluster spread kept. Clusters are numbered by size, largest
//! first, so a retrain on similar data numbers them alike.
//!
//! The exported `cluster` signal keeps the centroids in the features' own
//! units and the scaling: the Worker picks the centroid nearest to
//! `(value − centroid) / scale`, which is the distance the fit used.

use serde_json::{json, Value};
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::examples::{self, Example, Scaling};
use super::LearnError;

/// Restarts, each seeded `seed + i`.
pub const RESTARTS: u64 = 8;
pub const MAX_K: usize = 32;

type Fitted = KMeans<f64, usize, DenseMatrix<f64>, Vec<usize>>;

pub struct KMeansModel {
    pub features: Vec<String>,
    pub scaling: Scaling,
    /// Centroids in standardized units, largest cluster first.
    pub standardized: Vec<Vec<f64>>,
    /// The same in the features' own units.
    pub centroids: Vec<Vec<f64>>,
    pub names: Option<Vec<String>>,
    /// Within-cluster sum of squares on the training part.
    pub inertia: f64,
    fitted: Fitted,
    /// smartcore's cluster number → ours.
    order: Vec<usize>,
}

impl std::fmt::Debug for KMeansModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KMeansModel")
            .field("features", &self.features)
            .field("centroids", &self.centroids)
            .finish_non_exhaustive()
    }
}

pub fn fit(
    features: &[String],
    train: &[Example],
    k: usize,
    seed: u64,
    names: Option<Vec<String>>,
) -> Result<KMeansModel, LearnError> {
    if !(2..=MAX_K).contains(&k) {
        return Err(LearnError::Parameter(format!(
            "--k must be from 2 to {MAX_K}, got {k}"
        )));
    }
    if let Some(n) = &names {
        if n.len() != k {
            return Err(LearnError::Parameter(format!(
                "--names gives {} names for {k} clusters",
                n.len()
            )));
        }
    }
    if train.len() < k * 5 {
        return Err(LearnError::TooFewExamples {
            found: train.len(),
            need: k * 5,
            what: format!("to train {k} clusters"),
        });
    }
    let rows = examples::rows(train);
    let scaling = Scaling::fit(&rows);
    let z: Vec<Vec<f64>> = rows.iter().map(|r| scaling.apply(r)).collect();
    let x = DenseMatrix::from_2d_vec(&z).map_err(|e| LearnError::Fit(e.to_string()))?;
    let mut best: Option<(f64, Fitted, Vec<Vec<f64>>)> = None;
    for i in 0..RESTARTS {
        let mut params = KMeansParameters::default().with_k(k).with_max_iter(300);
        params.seed = Some(seed.wrapping_add(i));
        let fitted: Fitted = KMeans::fit(&x, params).map_err(|e| LearnError::Fit(e.to_string()))?;
        let centroids = centroids_of(&fitted)?;
        let inertia: f64 = z.iter().map(|p| nearest(&centroids, p).1).sum();
        if best.as_ref().is_none_or(|(b, _, _)| inertia < *b) {
            best = Some((inertia, fitted, centroids));
        }
    }
    let (inertia, fitted, centroids) = best.expect("RESTARTS > 0");
    // Number clusters by training size, largest first.
    let mut sizes = vec![0usize; k];
    for p in &z {
        sizes[nearest(&centroids, p).0] += 1;
    }
    let mut by_size: Vec<usize> = (0..k).collect();
    by_size.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut order = vec![0; k];
    for (ours, &theirs) in by_size.iter().enumerate() {
        order[theirs] = ours;
    }
    let standardized: Vec<Vec<f64>> = by_size.iter().map(|&c| centroids[c].clone()).collect();
    let own_units = standardized
        .iter()
        .map(|c| {
            c.iter()
                .zip(&scaling.mean)
                .zip(&scaling.scale)
                .map(|((v, m), s)| v * s + m)
                .collect()
        })
        .collect();
    Ok(KMeansModel {
        features: features.to_vec(),
        scaling,
        standardized,
        centroids: own_units,
        names,
        inertia,
        fitted,
        order,
    })
}

/// smartcore keeps the centroids private; its serde form is how they are read.
fn centroids_of(fitted: &Fitted) -> Result<Vec<Vec<f64>>, LearnError> {
    let value = serde_json::to_value(fitted).map_err(|e| LearnError::Fit(e.to_string()))?;
    serde_json::from_value(value["centroids"].clone())
        .map_err(|e| LearnError::Fit(format!("unexpected k-means form: {e}")))
}

fn nearest(centroids: &[Vec<f64>], p: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d: f64 = c.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

impl KMeansModel {
    /// The trainer's cluster for each row of raw features (smartcore's own
    /// assignment, renumbered).
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<usize>, LearnError> {
        let z: Vec<Vec<f64>> = rows.iter().map(|r| self.scaling.apply(r)).collect();
        let x = DenseMatrix::from_2d_vec(&z).map_err(|e| LearnError::Fit(e.to_string()))?;
        let labels = self
            .fitted
            .predict(&x)
            .map_err(|e| LearnError::Fit(e.to_string()))?;
        Ok(labels.into_iter().map(|c| self.order[c]).collect())
    }

    /// Rows in standardized units (for the silhouette).
    pub fn standardize(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.scaling.apply(r)).collect()
    }

    /// The `cluster` signal to paste.
    pub fn signal(&self) -> Value {
        let mut s = json!({
            "cluster": self.features,
            "scale": self.scaling.scale,
            "centroids": self.centroids,
        });
        if let Some(names) = &self.names {
            s["names"] = json!(names);
        }
        s
    }
}
