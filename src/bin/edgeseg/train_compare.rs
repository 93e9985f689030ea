//! `--compare RULES`: the model now in the rules, scored by the core (the
//! code the Worker runs, `signals::score_model`) on the signal values the
//! export recorded at each moment, so the drift report compares the two
//! models on exactly the same newer moments.

use edgeseg::learn::sample::Val;
use edgeseg::rules::CompiledRules;
use edgeseg::signals::{self, SignalKind, SignalValue};

pub struct Current {
    pub name: String,
    pub file: String,
    rules: CompiledRules,
    index: usize,
}

/// The signal `name` in the rules `file`; `cluster` says whether the new
/// model is a k-means one (compared with a `cluster` signal) or a chance
/// (compared with a `logistic` or `trees` signal).
pub fn current(file: &str, name: &str, cluster: bool) -> Result<Current, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let rules = CompiledRules::from_json(&text).map_err(|errors| {
        format!(
            "--compare {file}: the rules do not validate (run `edgeseg validate {file}`): {}",
            errors
                .0
                .first()
                .map_or_else(String::new, ToString::to_string)
        )
    })?;
    let Some(index) = rules.signals.iter().position(|s| s.name == name) else {
        let models: Vec<&str> = rules
            .signals
            .iter()
            .filter(|s| s.kind.is_model())
            .map(|s| s.name.as_str())
            .collect();
        return Err(format!(
            "--compare {file}: no signal \"{name}\" there (its models: {}); pass --name",
            if models.is_empty() {
                "none".to_string()
            } else {
                models.join(", ")
            }
        ));
    };
    let kind = &rules.signals[index].kind;
    let fits = if cluster {
        matches!(kind, SignalKind::Cluster(_))
    } else {
        matches!(kind, SignalKind::Logistic { .. } | SignalKind::Trees(_))
    };
    if !fits {
        return Err(format!(
            "--compare {file}: \"{name}\" is not a {} signal, so it cannot be compared with this model (pass --name)",
            if cluster { "cluster" } else { "logistic or trees" }
        ));
    }
    Ok(Current {
        name: name.to_string(),
        file: file.to_string(),
        rules,
        index,
    })
}

/// A moment's recorded value of a signal, by name.
pub type Recorded<'a> = dyn Fn(&str) -> Option<&'a Val> + 'a;

impl Current {
    fn score(&self, recorded: &Recorded<'_>) -> Option<SignalValue> {
        let input = |name: &str| match recorded(name) {
            Some(Val::Text(s)) => Some(SignalValue::Text(s.to_string())),
            Some(Val::Number(x)) => Some(SignalValue::Number(*x)),
            None => None,
        };
        signals::score_model(&self.rules.signals, self.index, &input)
    }

    /// The current model's chance at this moment.
    pub fn score_number(&self, recorded: &Recorded<'_>) -> Option<f64> {
        self.score(recorded).and_then(|v| v.as_number())
    }

    /// The current model's cluster (name or number) at this moment.
    pub fn score_text(&self, recorded: &Recorded<'_>) -> Option<String> {
        self.score(recorded).map(|v| v.to_string())
    }

    /// The compared model's drift on `moments` (indices into the sample, with
    /// their times): every signal's recorded value, the model's own scored
    /// by the core, binned and compared as the Worker's Models tab does.
    pub fn drift(
        &self,
        sample: &edgeseg::learn::sample::Sample,
        moments: &[(usize, u64)],
    ) -> Option<(String, serde_json::Value)> {
        use edgeseg::learn::report;
        let mut iter = moments.iter().map(|&(m, ts)| {
            let recorded = |name: &str| sample.value(m, name);
            let values: Vec<Option<SignalValue>> = self
                .rules
                .signals
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if i == self.index {
                        self.score(&recorded)
                    } else {
                        match recorded(&s.name) {
                            Some(Val::Text(t)) => Some(SignalValue::Text(t.to_string())),
                            Some(Val::Number(x)) => Some(SignalValue::Number(*x)),
                            None => None,
                        }
                    }
                })
                .collect();
            (ts, values)
        });
        let (model, days) = report::compare_drift(&self.rules, self.index, &mut iter)?;
        Some((
            report::drift_section(&self.name, &model, &days),
            report::drift_json(&days),
        ))
    }

    /// The model signals of the rules compared with (never features by default).
    pub fn model_names(&self) -> Vec<String> {
        self.rules
            .signals
            .iter()
            .filter(|s| s.kind.is_model())
            .map(|s| s.name.clone())
            .collect()
    }
}
