//! `edgeseg train trees`: a small gradient-boosted ensemble for a yes/no label.
//!
//! smartcore has no gradient boosting for classification (its `XGRegressor`
//! is squared-error only, and keeps its trees private), so the boosting loop
//! is ours and each tree is smartcore's `DecisionTreeRegressor`, fit to the
//! residuals `label − p` (the gradient of the log loss in log-odds):
//! `F ← F + rate × tree(x)`, starting from the training log-odds. The result
//! is a probability `1 / (1 + e^−F)`.
//!
//! The exported `trees` signal is each tree's nodes in the core's compact form
//! (`[feature, threshold, left, right]` for a split, go left when the value is
//! at most the threshold; `[value]` for a leaf, the rate already multiplied
//! in), read from smartcore's serde form of the fitted tree.

use serde_json::{json, Value};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

use super::examples::{self, Example};
use super::LearnError;

pub const MAX_TREES: usize = 500;
pub const MAX_DEPTH: u16 = 6;

/// How the ensemble is grown.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub trees: usize,
    pub depth: u16,
    pub rate: f64,
    /// A leaf holds at least this many training examples.
    pub min_leaf: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            trees: 60,
            depth: 3,
            rate: 0.5,
            min_leaf: 20,
        }
    }
}

type Tree = DecisionTreeRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// One node in the exported form.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

pub struct TreesModel {
    pub features: Vec<String>,
    pub params: Params,
    /// The starting log-odds (the training part's rate of yes).
    pub base: f64,
    /// Exported trees (rate folded into the leaves).
    pub exported: Vec<Vec<Node>>,
    fitted: Vec<Tree>,
}

impl std::fmt::Debug for TreesModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreesModel")
            .field("features", &self.features)
            .field("trees", &self.exported.len())
            .finish_non_exhaustive()
    }
}

fn matrix(rows: &[Vec<f64>]) -> Result<DenseMatrix<f64>, LearnError> {
    DenseMatrix::from_2d_vec(&rows.to_vec()).map_err(|e| LearnError::Fit(e.to_string()))
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub fn fit(
    features: &[String],
    train: &[Example],
    params: &Params,
) -> Result<TreesModel, LearnError> {
    if params.trees == 0 || params.trees > MAX_TREES {
        return Err(LearnError::Parameter(format!(
            "--trees must be from 1 to {MAX_TREES}, got {}",
            params.trees
        )));
    }
    if params.depth == 0 || params.depth > MAX_DEPTH {
        return Err(LearnError::Parameter(format!(
            "--depth must be from 1 to {MAX_DEPTH}, got {}",
            params.depth
        )));
    }
    if !(params.rate > 0.0 && params.rate <= 1.0) {
        return Err(LearnError::Parameter(format!(
            "--rate must be above 0 and at most 1, got {}",
            params.rate
        )));
    }
    let rows = examples::rows(train);
    let x = matrix(&rows)?;
    let y = examples::labels(train);
    let rate = y.iter().sum::<f64>() / y.len() as f64;
    let base = (rate / (1.0 - rate)).ln();
    let mut f = vec![base; y.len()];
    let mut fitted = Vec::with_capacity(params.trees);
    let mut exported = Vec::with_capacity(params.trees);
    for _ in 0..params.trees {
        let residual: Vec<f64> = y.iter().zip(&f).map(|(y, f)| y - sigmoid(*f)).collect();
        let tree_params = DecisionTreeRegressorParameters::default()
            .with_max_depth(params.depth)
            .with_min_samples_leaf(params.min_leaf);
        let tree: Tree = DecisionTreeRegressor::fit(&x, &residual, tree_params)
            .map_err(|e| LearnError::Fit(e.to_string()))?;
        let step = tree
            .predict(&x)
            .map_err(|e| LearnError::Fit(e.to_string()))?;
        for (fi, s) in f.iter_mut().zip(step) {
            *fi += params.rate * s;
        }
        exported.push(export(&tree, params.rate)?);
        fitted.push(tree);
    }
    Ok(TreesModel {
        features: features.to_vec(),
        params: params.clone(),
        base,
        exported,
        fitted,
    })
}

/// Reads a fitted tree's nodes out of smartcore's serde form (its node list
/// is private), renumbered depth-first so every child comes after its parent.
fn export(tree: &Tree, rate: f64) -> Result<Vec<Node>, LearnError> {
    let value = serde_json::to_value(tree).map_err(|e| LearnError::Fit(e.to_string()))?;
    let nodes = value["tree_regressor"]["nodes"]
        .as_array()
        .ok_or_else(|| LearnError::Fit("unexpected regression tree form".into()))?;
    let mut out = Vec::new();
    fn walk(
        nodes: &[Value],
        i: usize,
        rate: f64,
        out: &mut Vec<Node>,
    ) -> Result<usize, LearnError> {
        let bad = || LearnError::Fit("unexpected regression tree node".into());
        let n = nodes.get(i).ok_or_else(bad)?;
        let at = out.len();
        match (n["true_child"].as_u64(), n["false_child"].as_u64()) {
            (Some(t), Some(fc)) => {
                let feature = n["split_feature"].as_u64().ok_or_else(bad)? as usize;
                let threshold = n["split_value"].as_f64().ok_or_else(bad)?;
                out.push(Node::Leaf(0.0));
                let left = walk(nodes, t as usize, rate, out)?;
                let right = walk(nodes, fc as usize, rate, out)?;
                out[at] = Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                };
            }
            _ => out.push(Node::Leaf(rate * n["output"].as_f64().ok_or_else(bad)?)),
        }
        Ok(at)
    }
    walk(nodes, 0, rate, &mut out)?;
    Ok(out)
}

impl TreesModel {
    /// The trainer's predictions: smartcore's trees, the rate applied here.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>, LearnError> {
        let x = matrix(rows)?;
        let mut f = vec![self.base; rows.len()];
        for tree in &self.fitted {
            let step = tree
                .predict(&x)
                .map_err(|e| LearnError::Fit(e.to_string()))?;
            for (fi, s) in f.iter_mut().zip(step) {
                *fi += self.params.rate * s;
            }
        }
        Ok(f.into_iter().map(sigmoid).collect())
    }

    /// The `trees` signal to paste.
    pub fn signal(&self) -> Value {
        let trees: Vec<Value> = self
            .exported
            .iter()
            .map(|t| {
                Value::Array(
                    t.iter()
                        .map(|n| match n {
                            Node::Split {
                                feature,
                                threshold,
                                left,
                                right,
                            } => json!([feature, threshold, left, right]),
                            Node::Leaf(v) => json!([v]),
                        })
                        .collect(),
                )
            })
            .collect();
        json!({"trees": self.features, "base": self.base, "ensemble": trees})
    }
}
