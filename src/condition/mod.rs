//! GrowthBook-compatible targeting conditions (MongoDB-style), compiled once.
//!
//! A condition is a JSON object whose keys are attribute paths (`"father.age"`)
//! or the logical operators `$and $or $nor $not`, and whose values are either a
//! plain value to compare with or an object of operators:
//! `{"views_10m": {"$gte": 3}, "country": {"$in": ["DE", "AT"]}}`.
//!
//! The semantics are GrowthBook's exactly (its JS SDK's `evalCondition` in
//! `mongrule.ts`, which every GrowthBook SDK follows and its cross-SDK test
//! suite checks), including the JavaScript coercions that implies:
//! - A missing attribute reads as `null`, so `{"age": {"$lt": 10}}` holds for a
//!   visitor without `age` (`null < 10` in JS), and so does `{"age": 0}`.
//! - A plain string compares with `String(attribute)`, a plain number with
//!   `attribute * 1`, a plain boolean with the attribute's truthiness (never
//!   matching null), `null` with null; arrays and non-operator objects compare
//!   as `JSON.stringify` would (order matters).
//! - `$eq`/`$ne` are strict (`===`); `$gt $gte $lt $lte` are JS comparisons
//!   (two strings compare as strings, anything else as numbers: `"8" > 5`).
//! - `$in $nin $ini $nini` against an array attribute test the intersection.
//! - `$elemMatch` skips falsy elements; `$all` checks each operand against some
//!   element; `$size` applies its operand to the array length.
//! - Malformed conditions never fail to evaluate; they evaluate as GrowthBook
//!   would: an unknown operator is false, `$in` with a non-array is false,
//!   a regex that does not compile is false.
//!
//! [`Condition::compile`] also reports, with JSON paths, everything a rules
//! validator should reject (unknown operators, operands of the wrong type, bad
//! regexes), so a marketer hears about a typo instead of a segment that never
//! matches.
//!
//! # Regular expressions differ from JavaScript's
//! `$regex` and `$regexi` use the [`regex`] crate, not JS `RegExp`: there is no
//! look-around (`(?=`, `(?!`, `(?<=`) and no backreferences (`\1`), a lone `{`
//! must be escaped, and `\d`, `\w`, `\b` are Unicode-aware. Patterns that use
//! them fail to compile and are reported as errors. In exchange, matching takes
//! linear time, and each pattern is limited to [`REGEX_SIZE_LIMIT`] bytes of
//! compiled program so a hostile rules document cannot exhaust memory.

mod js;
mod version;

use crate::error::{describe, path_index, path_key, suggest};
use crate::{RuleError, RuleErrorKind};
use js::Primitive;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

/// Saved groups for `$inGroup`/`$notInGroup`: group id → array of member values.
pub type SavedGroups = serde_json::Map<String, serde_json::Value>;

/// Every operator of the condition language, for docs and did-you-mean suggestions.
pub const OPERATORS: &[&str] = &[
    "$and",
    "$or",
    "$nor",
    "$not",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$all",
    "$alli",
    "$elemMatch",
    "$size",
    "$exists",
    "$type",
    "$regex",
    "$regexi",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$inGroup",
    "$notInGroup",
];

/// The most compiled program one `$regex` may take (see the module docs).
pub const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// The type names `$type` can match (GrowthBook's `getType`).
const TYPE_NAMES: &[&str] = &["string", "number", "boolean", "object", "array", "null"];

static NULL: Value = Value::Null;

/// A compiled condition: paths pre-split, regexes pre-compiled, versions
/// pre-padded, so [`Condition::eval`] only reads the attributes.
#[derive(Debug, Clone)]
pub struct Condition {
    root: Cond,
}

/// An AND of clauses: one per key of a condition object.
#[derive(Debug, Clone)]
struct Cond {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
enum Clause {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Nor(Vec<Cond>),
    Not(Box<Cond>),
    /// A malformed part whose GrowthBook result does not depend on the attributes.
    Const(bool),
    Field {
        path: String,
        parts: Box<[Box<str>]>,
        test: Test,
    },
}

/// What a value must satisfy (GrowthBook's `evalConditionValue`).
#[derive(Debug, Clone)]
enum Test {
    /// `String(value) === s`; with `folded`, compared lowercased (inside `$alli`).
    Str {
        s: String,
        folded: Option<String>,
    },
    /// `value * 1 === n`
    Num(f64),
    /// `value !== null && !!value === b`
    Bool(bool),
    Null,
    /// `JSON.stringify(value) === JSON.stringify(v)`
    Json(Value),
    /// Every operator must hold.
    Ops(Vec<Op>),
}

#[derive(Debug, Clone, Copy)]
enum Rel {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Ne,
}

impl Rel {
    fn holds(self, ord: Option<Ordering>) -> bool {
        match (self, ord) {
            (_, None) => false,
            (Rel::Lt, Some(o)) => o == Ordering::Less,
            (Rel::Lte, Some(o)) => o != Ordering::Greater,
            (Rel::Gt, Some(o)) => o == Ordering::Greater,
            (Rel::Gte, Some(o)) => o != Ordering::Less,
            (Rel::Eq, Some(o)) => o == Ordering::Equal,
            (Rel::Ne, Some(o)) => o != Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Version {
        rel: Rel,
        padded: String,
    },
    Eq(Value),
    Ne(Value),
    Compare {
        rel: Rel,
        rhs: Primitive<'static>,
    },
    Exists(bool),
    In {
        list: Vec<Value>,
        fold: bool,
        negate: bool,
    },
    Group {
        name: String,
        negate: bool,
    },
    Not(Box<Test>),
    Size(Box<Test>),
    ElemMatchValue(Box<Test>),
    ElemMatchCond(Box<Cond>),
    All(Vec<Test>),
    /// `None`: the pattern did not compile, which GrowthBook evaluates as false.
    Regex(Option<Regex>),
    Type(String),
    False,
}

impl Condition {
    /// Compiles a condition.
    ///
    /// Always returns a condition that evaluates with GrowthBook semantics, even
    /// when malformed (so conformance cases of malformed conditions pass); pushes
    /// onto `errors` what a rules validator must reject: unknown operators (with a
    /// did-you-mean), operands of a type GrowthBook cannot use (`$in` not an
    /// array, `$exists` not a boolean, `$and` not an array of conditions, `$type`
    /// not a known type name, ...), and regexes that do not compile or exceed
    /// [`REGEX_SIZE_LIMIT`]. Each error's path starts from `path`, e.g.
    /// `segments[2].condition` + `.views_10m.$gte`.
    ///
    /// A top-level key that starts with `$` but is not `$and $or $nor $not` is an
    /// attribute name to GrowthBook (`$groups` is a common one), so it is only
    /// reported when it is a field operator (`$in` at the top) or close to an
    /// operator's spelling (`$ors`).
    pub fn compile(value: &Value, path: &str, errors: &mut Vec<RuleError>) -> Condition {
        let mut c = Compiler { errors };
        Condition {
            root: c.cond(value, path, true),
        }
    }

    /// Evaluates the condition against an attribute object (GrowthBook's
    /// `evalCondition(attributes, condition, savedGroups)`).
    pub fn eval(&self, attributes: &Value, groups: &SavedGroups) -> bool {
        eval_cond(&self.root, attributes, groups)
    }

    /// Attribute paths the condition reads, as written (dotted), at the top level
    /// of each (sub)condition, including inside `$and $or $nor $not`; not the
    /// inner fields of `$elemMatch`. Each path once, in order of appearance.
    pub fn referenced_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_paths(&self.root, &mut out);
        out
    }

    /// String literals that the condition compares the attribute `attribute`
    /// with by equality or membership: plain values, `$eq $ne $in $nin $ini
    /// $nini $all $alli`, and through `$not` and an operator `$elemMatch`, in
    /// any (sub)condition. `{"segments": {"$in": ["a","b"]}}` → `["a","b"]`.
    /// Used to find which segments a segment's condition depends on.
    pub fn string_literals_for(&self, attribute: &str) -> Vec<String> {
        let mut out = Vec::new();
        collect_literals(&self.root, attribute, &mut out);
        out
    }
}

/// Convenience for tests and the CLI: compile (ignoring errors) then eval.
pub fn eval_condition(attributes: &Value, condition: &Value, groups: &SavedGroups) -> bool {
    Condition::compile(condition, "", &mut Vec::new()).eval(attributes, groups)
}

// ---------------------------------------------------------------------------
// Compilation

struct Compiler<'e> {
    errors: &'e mut Vec<RuleError>,
}

fn is_operator_object(m: &Map<String, Value>) -> bool {
    !m.is_empty() && m.keys().all(|k| k.starts_with('$'))
}

/// The (key, value) pairs JS `Object.entries` gives for a non-object
/// condition: array elements and string characters by index, nothing for
/// numbers and booleans.
fn entries_of(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Value::String(s) => s
            .chars()
            .enumerate()
            .map(|(i, c)| (i.to_string(), Value::String(c.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

impl Compiler<'_> {
    fn error(&mut self, path: String, kind: RuleErrorKind) {
        self.errors.push(RuleError::new(path, kind));
    }

    fn wrong_type(&mut self, path: String, expected: &'static str, found: &Value) {
        self.error(
            path,
            RuleErrorKind::WrongType {
                expected,
                found: describe(found),
            },
        );
    }

    /// A condition object (GrowthBook's `evalCondition`).
    fn cond(&mut self, value: &Value, path: &str, report_non_object: bool) -> Cond {
        let map = match value {
            Value::Object(m) => m,
            // `Object.entries(null)` throws in GrowthBook: the condition cannot pass.
            Value::Null => {
                if report_non_object {
                    self.wrong_type(path.to_string(), "a condition (an object)", value);
                }
                return Cond {
                    clauses: vec![Clause::Const(false)],
                };
            }
            other => {
                if report_non_object {
                    self.wrong_type(path.to_string(), "a condition (an object)", other);
                }
                let clauses = entries_of(other)
                    .iter()
                    .map(|(k, v)| self.field(k, v, &path_key(path, k)))
                    .collect();
                return Cond { clauses };
            }
        };
        let mut clauses = Vec::with_capacity(map.len());
        for (key, v) in map {
            let p = path_key(path, key);
            let clause = match key.as_str() {
                // `null` makes GrowthBook throw (`null.length`): the condition fails.
                "$and" | "$or" | "$nor" if v.is_null() => {
                    self.wrong_type(p, "an array of conditions", v);
                    Clause::Const(false)
                }
                "$and" => Clause::And(self.cond_list(v, &p).unwrap_or_default()),
                "$or" => match self.cond_list(v, &p) {
                    Some(list) => Clause::Or(list),
                    None => Clause::Const(true),
                },
                "$nor" => match self.cond_list(v, &p) {
                    Some(list) => Clause::Nor(list),
                    None => Clause::Const(false),
                },
                "$not" => {
                    if v.is_null() {
                        self.wrong_type(p, "a condition (an object)", v);
                        Clause::Const(false)
                    } else {
                        Clause::Not(Box::new(self.cond(v, &p, true)))
                    }
                }
                _ => {
                    if key.starts_with('$') {
                        self.check_top_level_dollar_key(key, p.clone());
                    }
                    self.field(key, v, &p)
                }
            };
            clauses.push(clause);
        }
        Cond { clauses }
    }

    /// The operand of `$and $or $nor` (not null). `None` where GrowthBook never
    /// looks at elements: objects, numbers and booleans have no `length`, so
    /// `$and`/`$or` pass and `$nor` fails; the caller turns that into a constant.
    fn cond_list(&mut self, v: &Value, path: &str) -> Option<Vec<Cond>> {
        match v {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.cond(item, &path_index(path, i), true))
                    .collect(),
            ),
            Value::String(s) => {
                self.wrong_type(path.to_string(), "an array of conditions", v);
                // JS iterates the characters, each as the condition `{"0": char}`.
                Some(
                    s.chars()
                        .map(|c| self.cond(&Value::String(c.to_string()), path, false))
                        .collect(),
                )
            }
            _ => {
                self.wrong_type(path.to_string(), "an array of conditions", v);
                None
            }
        }
    }

    fn check_top_level_dollar_key(&mut self, key: &str, path: String) {
        if OPERATORS.contains(&key) {
            self.error(
                path,
                RuleErrorKind::OperatorAtTop {
                    operator: key.to_string(),
                },
            );
        } else if let Some(s) = suggest(key, OPERATORS.iter().copied()) {
            self.error(
                path,
                RuleErrorKind::UnknownOperator {
                    operator: key.to_string(),
                    suggestion: Some(s),
                },
            );
        }
    }

    fn field(&mut self, key: &str, v: &Value, path: &str) -> Clause {
        Clause::Field {
            path: key.to_string(),
            parts: key.split('.').map(Box::from).collect(),
            test: self.test(v, path, false),
        }
    }

    /// A value condition (GrowthBook's `evalConditionValue`).
    fn test(&mut self, v: &Value, path: &str, fold: bool) -> Test {
        match v {
            Value::String(s) => Test::Str {
                s: s.clone(),
                folded: fold.then(|| js::fold_case(s)),
            },
            Value::Number(n) => Test::Num(js::num(n)),
            Value::Bool(b) => Test::Bool(*b),
            Value::Null => Test::Null,
            Value::Array(_) => Test::Json(v.clone()),
            Value::Object(m) if is_operator_object(m) => Test::Ops(
                m.iter()
                    .map(|(op, arg)| self.op(op, arg, &path_key(path, op)))
                    .collect(),
            ),
            Value::Object(m) => {
                if let Some(op) = m.keys().find(|k| k.starts_with('$')) {
                    self.error(
                        path_key(path, op),
                        RuleErrorKind::MixedOperators {
                            operator: op.to_string(),
                        },
                    );
                }
                Test::Json(v.clone())
            }
        }
    }

    fn op(&mut self, op: &str, arg: &Value, path: &str) -> Op {
        let p = || path.to_string();
        match op {
            "$veq" | "$vne" | "$vgt" | "$vgte" | "$vlt" | "$vlte" => {
                if !matches!(arg, Value::String(s) if !s.is_empty()) && !arg.is_number() {
                    self.wrong_type(p(), "a version string like \"1.2.3\"", arg);
                }
                let rel = match op {
                    "$veq" => Rel::Eq,
                    "$vne" => Rel::Ne,
                    "$vgt" => Rel::Gt,
                    "$vgte" => Rel::Gte,
                    "$vlt" => Rel::Lt,
                    _ => Rel::Lte,
                };
                Op::Version {
                    rel,
                    padded: version::padded(arg),
                }
            }
            "$eq" | "$ne" => {
                if arg.is_array() || arg.is_object() {
                    // `===` compares objects by identity: `$eq` never holds.
                    self.wrong_type(p(), "a string, number, boolean or null", arg);
                }
                if op == "$eq" {
                    Op::Eq(arg.clone())
                } else {
                    Op::Ne(arg.clone())
                }
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                if !arg.is_number() && !arg.is_string() {
                    self.wrong_type(p(), "a number or a string", arg);
                }
                let rel = match op {
                    "$gt" => Rel::Gt,
                    "$gte" => Rel::Gte,
                    "$lt" => Rel::Lt,
                    _ => Rel::Lte,
                };
                Op::Compare {
                    rel,
                    rhs: js::to_primitive(arg).into_owned(),
                }
            }
            "$exists" => {
                if !arg.is_boolean() {
                    self.wrong_type(p(), "true or false", arg);
                }
                Op::Exists(js::truthy(arg))
            }
            "$in" | "$nin" | "$ini" | "$nini" => match arg {
                Value::Array(list) => Op::In {
                    list: list.clone(),
                    fold: op.ends_with('i'),
                    negate: op.starts_with("$n"),
                },
                _ => {
                    self.wrong_type(p(), "an array", arg);
                    Op::False
                }
            },
            "$inGroup" | "$notInGroup" => {
                if !arg.is_string() {
                    self.wrong_type(p(), "a saved group id (a string)", arg);
                }
                Op::Group {
                    name: js::JsString(arg).to_string(),
                    negate: op == "$notInGroup",
                }
            }
            "$not" => Op::Not(Box::new(self.test(arg, path, false))),
            "$size" => {
                if !arg.is_number() && !arg.is_object() {
                    self.wrong_type(p(), "a number or a condition on the length", arg);
                }
                Op::Size(Box::new(self.test(arg, path, false)))
            }
            "$elemMatch" => match arg {
                Value::Object(m) if is_operator_object(m) => {
                    Op::ElemMatchValue(Box::new(self.test(arg, path, false)))
                }
                Value::Object(_) => Op::ElemMatchCond(Box::new(self.cond(arg, path, true))),
                Value::Null => {
                    self.wrong_type(p(), "a condition (an object)", arg);
                    Op::False
                }
                _ => Op::ElemMatchCond(Box::new(self.cond(arg, path, true))),
            },
            "$all" | "$alli" => match arg {
                Value::Array(items) => {
                    let fold = op == "$alli";
                    Op::All(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| self.test(item, &path_index(path, i), fold))
                            .collect(),
                    )
                }
                _ => {
                    self.wrong_type(p(), "an array", arg);
                    Op::False
                }
            },
            "$regex" | "$regexi" => match arg {
                Value::String(pattern) => {
                    match RegexBuilder::new(pattern)
                        .case_insensitive(op == "$regexi")
                        .size_limit(REGEX_SIZE_LIMIT)
                        .dfa_size_limit(REGEX_SIZE_LIMIT)
                        .build()
                    {
                        Ok(re) => Op::Regex(Some(re)),
                        Err(e) => {
                            self.error(p(), RuleErrorKind::BadRegex(regex_message(&e)));
                            Op::Regex(None)
                        }
                    }
                }
                _ => {
                    self.wrong_type(p(), "a regular expression (a string)", arg);
                    Op::Regex(None)
                }
            },
            "$type" => {
                match arg {
                    Value::String(t) if TYPE_NAMES.contains(&t.as_str()) => {}
                    _ => self.wrong_type(
                        p(),
                        "one of \"string\", \"number\", \"boolean\", \"object\", \"array\", \"null\"",
                        arg,
                    ),
                }
                match arg {
                    Value::String(t) => Op::Type(t.clone()),
                    _ => Op::False,
                }
            }
            "$and" | "$or" | "$nor" => {
                self.error(
                    p(),
                    RuleErrorKind::OperatorInside {
                        operator: op.to_string(),
                    },
                );
                Op::False
            }
            _ => {
                self.error(
                    p(),
                    RuleErrorKind::UnknownOperator {
                        operator: op.to_string(),
                        suggestion: suggest(op, OPERATORS.iter().copied()),
                    },
                );
                Op::False
            }
        }
    }
}

/// One line from the regex crate's error, which spans several lines with a caret.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            last.trim().trim_start_matches("error: ").to_string()
        }
        regex::Error::CompiledTooBig(limit) => {
            format!("the pattern is too large (over the {limit} byte limit)")
        }
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Evaluation

fn eval_cond(c: &Cond, obj: &Value, g: &SavedGroups) -> bool {
    c.clauses.iter().all(|clause| eval_clause(clause, obj, g))
}

fn eval_clause(clause: &Clause, obj: &Value, g: &SavedGroups) -> bool {
    match clause {
        Clause::And(list) => list.iter().all(|c| eval_cond(c, obj, g)),
        // GrowthBook: an empty `$or` passes, so an empty `$nor` fails.
        Clause::Or(list) => list.is_empty() || list.iter().any(|c| eval_cond(c, obj, g)),
        Clause::Nor(list) => !(list.is_empty() || list.iter().any(|c| eval_cond(c, obj, g))),
        Clause::Not(c) => !eval_cond(c, obj, g),
        Clause::Const(b) => *b,
        Clause::Field { parts, test, .. } => eval_test(test, &lookup(obj, parts), g),
    }
}

/// GrowthBook's `getPath`: walks objects by key and arrays by index (and an
/// array's `length`, which JS's `in` also finds); anything else is `null`.
fn lookup<'a>(root: &'a Value, parts: &[Box<str>]) -> Cow<'a, Value> {
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let next = match cur {
            Value::Object(m) => m.get(&**part),
            Value::Array(items) => match js::array_index(part) {
                Some(idx) => items.get(idx),
                None if &**part == "length" && i + 1 == parts.len() => {
                    return Cow::Owned(Value::from(items.len()));
                }
                None => None,
            },
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Cow::Borrowed(&NULL),
        }
    }
    Cow::Borrowed(cur)
}

fn eval_test(test: &Test, v: &Value, g: &SavedGroups) -> bool {
    match test {
        Test::Str { s, folded: None } => js::string_eq(v, s, false),
        Test::Str {
            folded: Some(f), ..
        } => js::string_eq(v, f, true),
        Test::Num(n) => js::to_number(v) == *n,
        Test::Bool(b) => !v.is_null() && js::truthy(v) == *b,
        Test::Null => v.is_null(),
        Test::Json(c) => js::json_eq(v, c),
        Test::Ops(ops) => ops.iter().all(|op| eval_op(op, v, g)),
    }
}

fn eval_op(op: &Op, v: &Value, g: &SavedGroups) -> bool {
    match op {
        Op::Version { rel, padded } => rel.holds(Some(version::cmp_padded(v, padded))),
        Op::Eq(e) => js::strict_eq(v, e),
        Op::Ne(e) => !js::strict_eq(v, e),
        Op::Compare { rel, rhs } => rel.holds(js::compare(&js::to_primitive(v), rhs)),
        Op::Exists(want) => *want != v.is_null(),
        Op::In { list, fold, negate } => is_in(v, list, *fold) != *negate,
        Op::Group { name, negate } => {
            let members = g.get(name).and_then(Value::as_array).map_or(&[][..], |a| a);
            is_in(v, members, false) != *negate
        }
        Op::Not(t) => !eval_test(t, v, g),
        Op::Size(t) => match v {
            Value::Array(items) => eval_test(t, &Value::from(items.len()), g),
            _ => false,
        },
        Op::ElemMatchValue(t) => match v {
            Value::Array(items) => items.iter().any(|x| js::truthy(x) && eval_test(t, x, g)),
            _ => false,
        },
        Op::ElemMatchCond(c) => match v {
            Value::Array(items) => items.iter().any(|x| js::truthy(x) && eval_cond(c, x, g)),
            _ => false,
        },
        Op::All(tests) => match v {
            Value::Array(items) => tests
                .iter()
                .all(|t| items.iter().any(|x| eval_test(t, x, g))),
            _ => false,
        },
        Op::Regex(Some(re)) => match v {
            Value::String(s) => re.is_match(s),
            // JS `RegExp.test` converts its argument to a string (null → "null").
            other => re.is_match(&js::JsString(other).to_string()),
        },
        Op::Regex(None) => false,
        Op::Type(t) => js::type_name(v) == t,
        Op::False => false,
    }
}

/// GrowthBook's `isIn`: membership by `===`, or an intersection when the
/// attribute is an array; `fold` lowercases strings on both sides.
fn is_in(actual: &Value, list: &[Value], fold: bool) -> bool {
    let member = |x: &Value| {
        list.iter().any(|e| match (fold, x, e) {
            (true, Value::String(a), Value::String(b)) => js::eq_fold(a, b),
            _ => js::strict_eq(x, e),
        })
    };
    match actual {
        Value::Array(items) => items.iter().any(member),
        other => member(other),
    }
}

// ---------------------------------------------------------------------------
// Introspection

fn collect_paths(c: &Cond, out: &mut Vec<String>) {
    for clause in &c.clauses {
        match clause {
            Clause::And(list) | Clause::Or(list) | Clause::Nor(list) => {
                list.iter().for_each(|c| collect_paths(c, out))
            }
            Clause::Not(c) => collect_paths(c, out),
            Clause::Const(_) => {}
            Clause::Field { path, .. } => push_unique(out, path),
        }
    }
}

fn collect_literals(c: &Cond, attribute: &str, out: &mut Vec<String>) {
    for clause in &c.clauses {
        match clause {
            Clause::And(list) | Clause::Or(list) | Clause::Nor(list) => list
                .iter()
                .for_each(|c| collect_literals(c, attribute, out)),
            Clause::Not(c) => collect_literals(c, attribute, out),
            Clause::Const(_) => {}
            Clause::Field { path, test, .. } => {
                if path == attribute {
                    test_literals(test, out);
                }
            }
        }
    }
}

fn test_literals(test: &Test, out: &mut Vec<String>) {
    let strings = |values: &[Value], out: &mut Vec<String>| {
        for v in values {
            if let Value::String(s) = v {
                push_unique(out, s);
            }
        }
    };
    match test {
        Test::Str { s, .. } => push_unique(out, s),
        Test::Json(Value::Array(items)) => strings(items, out),
        Test::Ops(ops) => {
            for op in ops {
                match op {
                    Op::Eq(Value::String(s)) | Op::Ne(Value::String(s)) => push_unique(out, s),
                    Op::In { list, .. } => strings(list, out),
                    Op::Not(t) | Op::ElemMatchValue(t) => test_literals(t, out),
                    Op::All(tests) => tests.iter().for_each(|t| test_literals(t, out)),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, s: &str) {
    if !out.iter().any(|x| x == s) {
        out.push(s.to_string());
    }
}

#[cfg(test)]
mod tests;
