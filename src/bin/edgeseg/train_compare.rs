//! `--compare RULES`: the model now in the rules, scored by the core on the
//! values the export recorded.

use edgeseg::learn::record::Record;

pub struct Current {
    pub name: String,
    pub file: String,
}

pub fn current(file: &str, name: &str) -> Result<Current, String> {
    Err(format!("--compare {file} {name}: not wired yet"))
}

impl Current {
    pub fn score_number(&self, _r: &Record) -> Option<f64> {
        None
    }
    pub fn score_text(&self, _r: &Record) -> Option<String> {
        None
    }
}
