//! Phase `models`: the inputs of logistic, cluster and trees signals,
//! resolved once every signal is known. Inputs must be declared signals that
//! read numbers: not models themselves, not affinities.

use std::collections::BTreeMap;

use super::Compiler;
use crate::error::{path_index, path_key, RuleErrorKind};
use crate::signals::{Signal, SignalKind};

/// Models whose inputs are still names, collected by the signals phase.
#[derive(Debug, Default)]
pub(super) struct ModelInputs {
    /// Logistic models: (name, path, (input, weight) pairs).
    pub logistic: Vec<(String, String, BTreeMap<String, f64>)>,
    /// Trained models (cluster, trees): (name, path, key, input names).
    pub trained: Vec<(String, String, &'static str, Vec<String>)>,
}

impl Compiler<'_> {
    /// Points every model at its inputs' indices in `ordered`.
    pub(super) fn models(&mut self, ordered: &mut [Signal], pending: ModelInputs) {
        for (model_name, path, inputs) in pending.logistic {
            let mut resolved = Vec::new();
            for (input, weight) in inputs {
                let input_path = path_key(&path_key(&path, "logistic"), &input);
                if let Some(i) = self.model_input(ordered, input, input_path) {
                    resolved.push((i, weight));
                }
            }
            if let Some(SignalKind::Logistic { inputs, .. }) = ordered
                .iter_mut()
                .find(|s| s.name == model_name)
                .map(|s| &mut s.kind)
            {
                *inputs = resolved;
            }
        }
        for (model_name, path, key, names) in pending.trained {
            let mut resolved = Vec::new();
            for (j, input) in names.into_iter().enumerate() {
                let input_path = path_index(&path_key(&path, key), j);
                if let Some(i) = self.model_input(ordered, input, input_path) {
                    resolved.push(i);
                }
            }
            match ordered
                .iter_mut()
                .find(|s| s.name == model_name)
                .map(|s| &mut s.kind)
            {
                Some(SignalKind::Cluster(m)) => m.inputs = resolved,
                Some(SignalKind::Trees(m)) => m.inputs = resolved,
                _ => {}
            }
        }
    }

    /// The index of a model's input signal, or an error at `path`: inputs
    /// must be declared, and not models themselves.
    fn model_input(&mut self, ordered: &[Signal], input: String, path: String) -> Option<usize> {
        match ordered.iter().position(|s| s.name == input) {
            Some(i) if ordered[i].kind.is_model() => {
                self.err(
                    path,
                    RuleErrorKind::ModelReadsModel {
                        model: model_word(&ordered[i].kind),
                        input,
                    },
                );
                None
            }
            Some(i) if matches!(ordered[i].kind, SignalKind::Affinity { .. }) => {
                // Its value is a category name, which a model would read as 0.
                self.err(path, RuleErrorKind::ModelReadsAffinity { input });
                None
            }
            Some(i) => Some(i),
            None => {
                self.unknown(
                    path,
                    "signal",
                    &input,
                    ordered.iter().map(|s| s.name.as_str()),
                );
                None
            }
        }
    }

    /// A trained model's shape errors, each at its path; an invalid model
    /// compiles to an empty one of its kind so the other errors still come out.
    pub(super) fn model_errors(
        &mut self,
        path: &str,
        model: Result<SignalKind, Vec<(String, String)>>,
        empty: impl FnOnce() -> SignalKind,
    ) -> SignalKind {
        model.unwrap_or_else(|errors| {
            for (below, message) in errors {
                let at = match below.split_once('[') {
                    Some((key, rest)) => format!("{}[{rest}", path_key(path, key)),
                    None => path_key(path, &below),
                };
                self.err(at, RuleErrorKind::BadModel(message));
            }
            empty()
        })
    }
}

/// A model kind's name, for "is a ... signal" errors.
fn model_word(kind: &SignalKind) -> &'static str {
    match kind {
        SignalKind::Cluster(_) => "cluster",
        SignalKind::Trees(_) => "trees",
        _ => "logistic",
    }
}
