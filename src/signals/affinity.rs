//! `affinity` and `share` signals: the visitor's strongest interest among
//! categories taken from page paths (`/category/{name}`) or from an event
//! property, weighted per event and decaying with a half-life.
//!
//! The state keeps one [`crate::state::Affinity`] per tracker (the decay and
//! the bound on categories live there). The `affinity` signal's value is the
//! top category's name, text; `share` is the part of all the weight that
//! category holds, a number from 0 to 1.

use regex::Regex;
use serde_json::{Map, Value};

use crate::state::{Affinity, Timestamp, VisitorState};

/// Where one affinity takes categories from.
#[derive(Debug, Clone)]
pub struct AffinitySource {
    /// The event (`page_view` for page paths).
    pub event: String,
    /// The category is what the pattern's capture matched in the path...
    pub pattern: Option<Regex>,
    /// ...or the value of this property.
    pub property: Option<String>,
    /// What one event adds to its category.
    pub weight: f64,
}

impl PartialEq for AffinitySource {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
            && self.pattern.as_ref().map(Regex::as_str) == other.pattern.as_ref().map(Regex::as_str)
            && self.property == other.property
            && self.weight == other.weight
    }
}

/// Why a path pattern was refused (the compiler reports it with its path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    #[error("the pattern needs exactly one {{capture}} for the category, such as \"/category/{{name}}\"; it has {0}")]
    Captures(usize),
    #[error("a {{capture}} is not closed; write it as {{name}}")]
    Unclosed,
    #[error("the pattern must start with \"/\" (or \"*\")")]
    NotAPath,
}

/// Compiles a path pattern: `{name}` captures one path segment (no `/`),
/// `*` matches any run of characters, everything else is literal; the whole
/// path must match.
pub fn path_pattern(pattern: &str) -> Result<Regex, PatternError> {
    if !pattern.starts_with('/') && !pattern.starts_with('*') {
        return Err(PatternError::NotAPath);
    }
    let mut re = String::from("^");
    let mut captures = 0;
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '*']) {
        re.push_str(&regex::escape(&rest[..i]));
        if rest[i..].starts_with('*') {
            re.push_str(".*");
            rest = &rest[i + 1..];
        } else {
            let end = rest[i..].find('}').ok_or(PatternError::Unclosed)?;
            captures += 1;
            re.push_str("([^/]+)");
            rest = &rest[i + end + 1..];
        }
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    if captures != 1 {
        return Err(PatternError::Captures(captures));
    }
    Regex::new(&re).map_err(|_| PatternError::NotAPath)
}

/// One affinity the state keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct AffinityTracker {
    /// Hash of the definition; the key of its weights in the cookie.
    pub key: u32,
    pub sources: Vec<AffinitySource>,
    pub half_life: u64,
    pub keep: usize,
}

/// The category `source` finds in one event, if any.
fn category<'a>(
    source: &AffinitySource,
    path: &'a str,
    props: &'a Map<String, Value>,
) -> Option<std::borrow::Cow<'a, str>> {
    if let Some(re) = &source.pattern {
        let m = re.captures(path)?.get(1)?;
        return Some(m.as_str().into());
    }
    match props.get(source.property.as_deref()?)? {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

/// Adds the event's category (per matching source) to each affinity.
pub(super) fn record(
    trackers: &[AffinityTracker],
    state: &mut VisitorState,
    event: &str,
    path: &str,
    props: &Map<String, Value>,
    at: Timestamp,
) {
    for t in trackers {
        for source in t.sources.iter().filter(|s| s.event == event) {
            let Some(name) = category(source, path, props) else {
                continue;
            };
            let i = match state.affinities.iter().position(|a| a.tracker == t.key) {
                Some(i) => i,
                None => {
                    state.affinities.push(Affinity::new(t.key));
                    state.affinities.len() - 1
                }
            };
            state.affinities[i].add(&name, source.weight, at, t.half_life, t.keep);
        }
    }
}

/// Drops affinities no tracker needs, and categories decayed past memory.
pub(super) fn prune(trackers: &[AffinityTracker], state: &mut VisitorState, now: Timestamp) {
    state.affinities.retain_mut(|a| {
        let Some(t) = trackers.iter().find(|t| t.key == a.tracker) else {
            return false;
        };
        a.weights.truncate(t.keep);
        a.prune(now, t.half_life);
        !a.weights.is_empty()
    });
}

/// The top category and its share of all the weight, `None` with none.
pub fn top(t: &AffinityTracker, state: &VisitorState, now: Timestamp) -> Option<(String, f64)> {
    let a = state.affinities.iter().find(|a| a.tracker == t.key)?;
    a.top(now, t.half_life).map(|(n, s)| (n.to_string(), s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_capture_one_segment() {
        let re = path_pattern("/category/{name}").unwrap();
        assert_eq!(&re.captures("/category/boots").unwrap()[1], "boots");
        assert!(re.captures("/category/boots/trail").is_none());
        assert!(re.captures("/category/").is_none());
        let re = path_pattern("/shop/{c}/*").unwrap();
        assert_eq!(&re.captures("/shop/tents/2p/x.html").unwrap()[1], "tents");
        let re = path_pattern("*/c/{c}.html").unwrap();
        assert_eq!(&re.captures("/en/c/a.b.html").unwrap()[1], "a.b");
        assert_eq!(path_pattern("/a/*").unwrap_err(), PatternError::Captures(0));
        assert_eq!(
            path_pattern("/{a}/{b}").unwrap_err(),
            PatternError::Captures(2)
        );
        assert_eq!(
            path_pattern("/c/{name").unwrap_err(),
            PatternError::Unclosed
        );
        assert_eq!(
            path_pattern("c/{name}").unwrap_err(),
            PatternError::NotAPath
        );
        // Literal parts are literal, regex metacharacters included.
        let re = path_pattern("/c+/{x}").unwrap();
        assert!(re.is_match("/c+/a") && !re.is_match("/cc/a"));
    }
}
