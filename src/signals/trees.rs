//! `trees`: a gradient-boosted ensemble of small decision trees, trained by
//! `edgeseg train trees`, scored as `1 / (1 + e^-(base + Σ leaf))`: a
//! probability from 0 to 1, like `logistic`.
//!
//! Each tree is a list of nodes: a split `[input, threshold, left, right]`
//! goes to node `left` when the input's value is at most `threshold`, else to
//! `right`; a leaf `[value]` adds its value. Children come after their parent
//! (checked when the rules compile), so scoring always ends. An input with no
//! value, or a text value, counts as 0.
//!
//! The nodes of all trees sit in one flat array of small copies, so scoring
//! 100 trees of depth 4 is a few hundred predictable loads (benches/models.rs).

use super::SignalValue;
use crate::document::TreesSignal;
use crate::error::path_index;

/// Bounds checked when the rules compile.
pub const MAX_FEATURES: usize = 32;
pub const MAX_TREES: usize = 500;
pub const MAX_NODES_PER_TREE: usize = 255;

/// Marks a leaf in [`TreeNode::input`]; the leaf's value is in `threshold`.
pub const LEAF: u16 = u16::MAX;

/// One node of the flat array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeNode {
    /// Position in the model's inputs, or [`LEAF`].
    pub input: u16,
    pub threshold: f64,
    /// Absolute indices into [`TreesModel::nodes`].
    pub left: u32,
    pub right: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreesModel {
    /// Indices of the input signals (set once the names are resolved).
    pub inputs: Vec<usize>,
    pub base: f64,
    pub nodes: Vec<TreeNode>,
    /// Each tree's first node.
    pub roots: Vec<u32>,
}

impl TreesModel {
    /// Checks the shape and bounds of a `trees` spec; errors are
    /// `(path below the signal, message)`.
    pub fn compile(spec: &TreesSignal) -> Result<TreesModel, Vec<(String, String)>> {
        let d = spec.trees.len();
        let mut errors = Vec::new();
        if d == 0 || d > MAX_FEATURES {
            errors.push((
                "trees".into(),
                format!("a trees model reads 1 to {MAX_FEATURES} signals, got {d}"),
            ));
        }
        if !spec.base.is_finite() {
            errors.push(("base".into(), "base must be a finite number".into()));
        }
        let n = spec.ensemble.len();
        if !(1..=MAX_TREES).contains(&n) {
            errors.push((
                "ensemble".into(),
                format!("a trees model has 1 to {MAX_TREES} trees, got {n}"),
            ));
        }
        let mut nodes = Vec::new();
        let mut roots = Vec::with_capacity(n);
        for (t, tree) in spec.ensemble.iter().enumerate() {
            let tree_path = path_index("ensemble", t);
            if tree.is_empty() || tree.len() > MAX_NODES_PER_TREE {
                errors.push((
                    tree_path,
                    format!(
                        "a tree has 1 to {MAX_NODES_PER_TREE} nodes, got {}",
                        tree.len()
                    ),
                ));
                continue;
            }
            let root = nodes.len();
            roots.push(root as u32);
            for (i, node) in tree.iter().enumerate() {
                let path = path_index(&tree_path, i);
                let whole =
                    |v: f64, below: usize| v.fract() == 0.0 && v >= 0.0 && (v as usize) < below;
                match node.as_slice() {
                    [value] if value.is_finite() => nodes.push(TreeNode {
                        input: LEAF,
                        threshold: *value,
                        left: 0,
                        right: 0,
                    }),
                    [input, threshold, left, right] => {
                        if !whole(*input, d) {
                            errors.push((
                                path,
                                format!(
                                    "the input {input} is not a position in \"trees\" (0 to {})",
                                    d.saturating_sub(1)
                                ),
                            ));
                        } else if !threshold.is_finite() {
                            errors.push((path, "the threshold must be a finite number".into()));
                        } else if !(whole(*left, tree.len())
                            && whole(*right, tree.len())
                            && *left as usize > i
                            && *right as usize > i)
                        {
                            errors.push((
                                path,
                                format!(
                                    "children must be later nodes of this tree ({} to {})",
                                    i + 1,
                                    tree.len() - 1
                                ),
                            ));
                        } else {
                            nodes.push(TreeNode {
                                input: *input as u16,
                                threshold: *threshold,
                                left: (root + *left as usize) as u32,
                                right: (root + *right as usize) as u32,
                            });
                        }
                    }
                    _ => errors.push((
                        path,
                        "a node is [value] (a leaf) or [input, threshold, left, right] (a split)"
                            .into(),
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TreesModel {
            inputs: Vec::new(),
            base: spec.base,
            nodes,
            roots,
        })
    }

    /// The ensemble's log-odds for `x` (one value per input).
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        let mut sum = self.base;
        for &root in &self.roots {
            let mut i = root as usize;
            loop {
                let n = &self.nodes[i];
                if n.input == LEAF {
                    sum += n.threshold;
                    break;
                }
                let v = x.get(usize::from(n.input)).copied().unwrap_or(0.0);
                i = if v <= n.threshold { n.left } else { n.right } as usize;
            }
        }
        sum
    }

    /// The probability for `x`.
    pub fn probability(&self, x: &[f64]) -> f64 {
        1.0 / (1.0 + (-self.log_odds(x)).exp())
    }

    pub(super) fn value(&self, earlier: &[Option<SignalValue>]) -> f64 {
        self.probability(&super::numbers(earlier, &self.inputs))
    }

    /// For the debug header.
    pub(super) fn explain(&self, earlier: &[Option<SignalValue>]) -> String {
        let z = self.log_odds(&super::numbers(earlier, &self.inputs));
        format!("{} trees, log-odds {z:.3}", self.roots.len())
    }
}
