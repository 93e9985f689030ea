//! GrowthBook-compatible targeting conditions (MongoDB-style), compiled once.
//!
//! OWNER: condition helper. API contract (see the task text):
//! `Condition::compile(&Value, path, &mut Vec<RuleError>) -> Condition`,
//! `Condition::eval(&self, &Value, &SavedGroups) -> bool`,
//! `Condition::referenced_paths(&self) -> Vec<String>`,
//! `Condition::string_literals_for(&self, attribute) -> Vec<String>`,
//! `eval_condition(&Value, &Value, &SavedGroups) -> bool`.
