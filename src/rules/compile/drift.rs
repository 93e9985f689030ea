//! Phase `drift`: what the Worker counts of each model signal for drift
//! ([`crate::signals::drift`]), with its training reference checked against
//! the model (bins per score, inputs the model reads, shares adding to 1).

use super::Compiler;
use crate::document::SignalSpec;
use crate::error::{path_key, RuleErrorKind};
use crate::signals::drift::DriftModel;
use crate::signals::Signal;

impl Compiler<'_> {
    /// One [`DriftModel`] per model signal, in signal order.
    pub(super) fn drift(&mut self, signals: &[Signal]) -> Vec<DriftModel> {
        let mut out = Vec::new();
        for (index, signal) in signals.iter().enumerate() {
            let reference = match self.doc.signals.get(&signal.name) {
                Some(SignalSpec::Logistic(l)) => l.reference.as_ref(),
                Some(SignalSpec::Trees(t)) => t.reference.as_ref(),
                Some(SignalSpec::Cluster(c)) => c.reference.as_ref(),
                _ => continue,
            };
            match DriftModel::compile(signals, index, reference) {
                Some(Ok(m)) => out.push(m),
                Some(Err(errors)) => {
                    let path = path_key("signals", &signal.name);
                    for (below, message) in errors {
                        self.err(format!("{path}.{below}"), RuleErrorKind::BadModel(message));
                    }
                }
                None => {}
            }
        }
        out
    }
}
