//! `edgeseg train logistic`: L2-regularized logistic regression on
//! standardized features (smartcore, L-BFGS), exported with the scaling
//! folded into the weights and bias, so the Worker's `logistic` signal
//! computes the same probability from the raw signal values.

use serde_json::{json, Map, Value};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::examples::{self, Example, Scaling};
use super::LearnError;

/// The L2 penalty on the standardized weights (smartcore's `alpha`): mild,
/// enough to keep weights finite when a feature separates the classes.
pub const ALPHA: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct LogisticModel {
    pub features: Vec<String>,
    pub scaling: Scaling,
    /// Weights on standardized features (one standard deviation).
    pub standardized: Vec<f64>,
    pub standardized_bias: f64,
    /// Weights and bias on the raw values (what is pasted).
    pub weights: Vec<f64>,
    pub bias: f64,
}

pub fn fit(features: &[String], train: &[Example]) -> Result<LogisticModel, LearnError> {
    let rows = examples::rows(train);
    let scaling = Scaling::fit(&rows);
    let z: Vec<Vec<f64>> = rows.iter().map(|r| scaling.apply(r)).collect();
    let x = DenseMatrix::from_2d_vec(&z).map_err(|e| LearnError::Fit(e.to_string()))?;
    let y: Vec<i32> = train
        .iter()
        .map(|e| i32::from(e.label == Some(true)))
        .collect();
    let params = LogisticRegressionParameters::default().with_alpha(ALPHA);
    let model =
        LogisticRegression::fit(&x, &y, params).map_err(|e| LearnError::Fit(e.to_string()))?;
    let coef = model.coefficients();
    let standardized: Vec<f64> = (0..features.len()).map(|j| *coef.get((0, j))).collect();
    let standardized_bias = *model.intercept().get((0, 0));
    let weights: Vec<f64> = standardized
        .iter()
        .zip(&scaling.scale)
        .map(|(w, s)| w / s)
        .collect();
    let bias = standardized_bias
        - standardized
            .iter()
            .zip(&scaling.mean)
            .zip(&scaling.scale)
            .map(|((w, m), s)| w * m / s)
            .sum::<f64>();
    Ok(LogisticModel {
        features: features.to_vec(),
        scaling,
        standardized,
        standardized_bias,
        weights,
        bias,
    })
}

impl LogisticModel {
    /// The trainer's prediction: from the standardized features, as fitted.
    pub fn predict(&self, features: &[f64]) -> f64 {
        let z = self.scaling.apply(features);
        let s = self.standardized_bias
            + z.iter()
                .zip(&self.standardized)
                .map(|(x, w)| x * w)
                .sum::<f64>();
        1.0 / (1.0 + (-s).exp())
    }

    /// The `logistic` signal to paste.
    pub fn signal(&self) -> Value {
        let mut weights = Map::new();
        for (f, w) in self.features.iter().zip(&self.weights) {
            weights.insert(f.clone(), json!(w));
        }
        json!({"logistic": weights, "bias": self.bias})
    }
}
