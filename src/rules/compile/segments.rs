//! Phase `segments`: each segment's condition compiled and checked, its
//! hold and delay, and the evaluation order (every segment after the
//! segments its condition reads), with cycles reported once each.

use serde_json::Value;

use super::Compiler;
use crate::condition::Condition;
use crate::error::{describe, path_index, path_key, suggest, NameOf, RuleErrorKind};
use crate::request::BUILT_IN_ATTRIBUTES;
use crate::signals::Signal;
use crate::util::hash::key_hash;
use crate::util::ident::is_identifier;

#[derive(Debug)]
pub struct CompiledSegment {
    pub id: String,
    pub key: u32,
    pub priority: i32,
    /// Position in the document, for tie-breaks and messages.
    pub order: usize,
    pub condition: Condition,
    pub enter_after: u64,
    pub hold_for: u64,
}

impl Compiler<'_> {
    pub(super) fn segments(&mut self, signals: &[Signal]) -> Vec<CompiledSegment> {
        let doc = self.doc;
        let ids: Vec<&str> = doc.segments.iter().map(|s| s.id.as_str()).collect();
        let mut compiled = Vec::new();
        let mut deps: Vec<Vec<usize>> = Vec::new();
        for (i, spec) in doc.segments.iter().enumerate() {
            let path = path_index("segments", i);
            if spec.id.is_empty() || !is_identifier(&spec.id) {
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::BadName {
                        of: NameOf::Segment,
                        name: spec.id.clone(),
                    },
                );
            }
            if ids[..i].contains(&spec.id.as_str()) {
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::Duplicate {
                        what: "segment id",
                        name: spec.id.clone(),
                    },
                );
            }
            let cond_path = path_key(&path, "condition");
            let condition = self.condition(&cond_path, &spec.condition, signals);
            let mut my_deps = Vec::new();
            for lit in condition.string_literals_for("segments") {
                match ids.iter().position(|id| *id == lit) {
                    Some(j) => my_deps.push(j),
                    None => {
                        self.unknown(cond_path.clone(), "segment", &lit, ids.iter().copied());
                    }
                }
            }
            deps.push(my_deps);
            let enter_after = match &spec.enter_after {
                Some(d) => self.duration(path_key(&path, "enter_after"), d),
                None => 0,
            };
            let hold_for = match &spec.hold_for {
                Some(d) => self.duration(path_key(&path, "hold_for"), d),
                None => 0,
            };
            compiled.push(Some(CompiledSegment {
                id: spec.id.clone(),
                key: key_hash(&format!("segment:{}", spec.id)),
                priority: spec.priority,
                order: i,
                condition,
                enter_after,
                hold_for,
            }));
        }
        // Topological order (dependencies first), reporting each cycle once.
        let n = compiled.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut order = Vec::with_capacity(n);
        fn visit(
            i: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            match state[i] {
                2 => return,
                1 => {
                    let from = stack.iter().position(|&s| s == i).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[from..].to_vec();
                    cycle.push(i);
                    cycles.push(cycle);
                    return;
                }
                _ => {}
            }
            state[i] = 1;
            stack.push(i);
            for &d in &deps[i] {
                visit(d, deps, state, stack, order, cycles);
            }
            stack.pop();
            state[i] = 2;
            order.push(i);
        }
        let mut cycles = Vec::new();
        for i in 0..n {
            visit(
                i,
                &deps,
                &mut state,
                &mut Vec::new(),
                &mut order,
                &mut cycles,
            );
        }
        for cycle in cycles {
            let first = *cycle.first().unwrap_or(&0);
            self.err(
                path_key(&path_index("segments", first), "condition"),
                RuleErrorKind::Cycle(cycle.iter().map(|&i| ids[i].to_string()).collect()),
            );
        }
        order
            .into_iter()
            .filter_map(|i| compiled[i].take())
            .collect()
    }

    /// Compiles a condition (of a segment or an experiment), checking that it
    /// is an object and reads only known attributes and signals.
    pub(super) fn condition(
        &mut self,
        cond_path: &str,
        value: &Value,
        signals: &[Signal],
    ) -> Condition {
        if !value.is_object() {
            self.err(
                cond_path,
                RuleErrorKind::WrongType {
                    expected: "a condition object",
                    found: describe(value),
                },
            );
        }
        let condition = Condition::compile(value, cond_path, self.errors);
        for attr in condition.referenced_paths() {
            let first = attr.split('.').next().unwrap_or("");
            if let Some(suggestion) = unknown_attribute(first, signals) {
                self.err(
                    cond_path,
                    RuleErrorKind::UnknownReference {
                        what: "attribute or signal",
                        name: first.to_string(),
                        suggestion,
                    },
                );
            }
        }
        condition
    }
}

/// `None` when `name` is an attribute conditions and templates can read (a
/// built-in or a signal); otherwise the did-you-mean for the error.
pub(super) fn unknown_attribute(name: &str, signals: &[Signal]) -> Option<Option<String>> {
    let known = BUILT_IN_ATTRIBUTES.contains(&name) || signals.iter().any(|s| s.name == name);
    let candidates = BUILT_IN_ATTRIBUTES
        .iter()
        .copied()
        .chain(signals.iter().map(|s| s.name.as_str()));
    (!known).then(|| suggest(name, candidates))
}
