//! Structural validation of a rules document with every error and its JSON path.
//!
//! The shape is checked against the committed JSON Schema
//! (`schema/rules.schema.json`, generated from [`super::document`]), embedded
//! here and parsed once. The walker below understands exactly the keywords
//! schemars emits for our types (a unit test fails if the schema grows one it
//! does not), so the schema editors use and the check the Worker runs cannot
//! disagree. It collects every problem in one pass, in document order, each
//! with its path (`segments[2].priority`) and a message a marketer can act on.
//!
//! What the shape cannot say (references between parts, cycles, regexes,
//! selectors, the inside of a condition) is checked when the rules are compiled.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::document::{RulesDocument, FORMAT};
use crate::duration::parse_duration;
use crate::error::{describe, path_index, path_key, suggest, RuleError, RuleErrorKind, RuleErrors};

/// The committed schema, as editors see it.
const SCHEMA_TEXT: &str = include_str!("../../schema/rules.schema.json");

/// The embedded schema, parsed on first use.
pub(crate) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(SCHEMA_TEXT).expect("schema/rules.schema.json is valid JSON")
    })
}

/// Parses JSON text (syntax errors → one [`RuleErrorKind::Syntax`] with line and
/// column), validates the structure (all errors), then deserializes into the types.
pub fn parse_document(text: &str) -> Result<RulesDocument, RuleErrors> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| RuleErrors(vec![syntax_error(&e)]))?;
    validate_value(&value)
}

/// The same as [`parse_document`] for an already-parsed value.
pub fn validate_value(value: &Value) -> Result<RulesDocument, RuleErrors> {
    let errors = check(value);
    if !errors.is_empty() {
        return Err(RuleErrors(errors));
    }
    // The schema is generated from these types, so this only fails if the two
    // drift apart; say so rather than panic in the Worker.
    RulesDocument::deserialize(value).map_err(|e| {
        RuleErrors(vec![RuleError::new(
            "",
            RuleErrorKind::Invalid(format!("the document does not fit the rules types: {e}")),
        )])
    })
}

/// Every structural problem in `value`, in document order.
fn check(value: &Value) -> Vec<RuleError> {
    let mut walker = Walker {
        root: schema(),
        path: Vec::with_capacity(8),
        errors: Vec::new(),
        probing: false,
        failed: false,
    };
    walker.validate(value, walker.root);
    walker.errors
}

fn syntax_error(e: &serde_json::Error) -> RuleError {
    // serde_json appends " at line L column C"; we carry those as fields.
    let message = if e.is_eof() {
        "the text ends before the document is complete".to_string()
    } else {
        let text = e.to_string();
        match text.rfind(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    };
    RuleError::new(
        "",
        RuleErrorKind::Syntax {
            message,
            line: e.line(),
            column: e.column(),
        },
    )
}

/// One step of a JSON path, borrowed from the document; rendered only when an
/// error is reported, so a valid document costs no path strings.
#[derive(Clone, Copy)]
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

struct Walker<'v> {
    root: &'static Value,
    path: Vec<Step<'v>>,
    errors: Vec<RuleError>,
    /// Trying an alternative of `anyOf`/`oneOf`: record only whether it fails.
    probing: bool,
    failed: bool,
}

// JSON types as bits, so `"type": ["string", "null"]` is one mask.
const NULL: u8 = 1;
const BOOLEAN: u8 = 2;
const OBJECT: u8 = 4;
const ARRAY: u8 = 8;
const NUMBER: u8 = 16;
const INTEGER: u8 = 32;
const STRING: u8 = 64;

fn type_bit(name: &str) -> u8 {
    match name {
        "null" => NULL,
        "boolean" => BOOLEAN,
        "object" => OBJECT,
        "array" => ARRAY,
        "number" => NUMBER,
        "integer" => INTEGER,
        "string" => STRING,
        _ => 0,
    }
}

/// The types a schema's `type` keyword admits; `None` when it has none.
fn schema_types(schema: &Value) -> Option<u8> {
    match schema.get("type")? {
        Value::String(t) => Some(type_bit(t)),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .map(type_bit)
                .fold(0, |a, b| a | b),
        ),
        _ => None,
    }
}

/// The bits a value satisfies: a whole number is both an integer and a number.
/// `3.0` is not whole here, because serde will not read it into an integer field.
fn value_types(value: &Value) -> u8 {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::Number(n) if n.is_i64() || n.is_u64() => NUMBER | INTEGER,
        Value::Number(_) => NUMBER,
        Value::String(_) => STRING,
    }
}

/// What to tell a marketer was expected. `null` is left out when something
/// else is allowed too: an optional field is best described by its real type.
fn expected_phrase(mask: u8) -> &'static str {
    let mask = if mask & !NULL != 0 {
        mask & !NULL
    } else {
        mask
    };
    match mask {
        NULL => "null",
        BOOLEAN => "true or false",
        OBJECT => "an object",
        ARRAY => "an array",
        INTEGER => "a whole number",
        m if m & !(NUMBER | INTEGER) == 0 => "a number",
        STRING => "a string",
        m if m == STRING | NUMBER || m == STRING | NUMBER | INTEGER => "a string or a number",
        m if m == STRING | INTEGER => "a string or a whole number",
        m if m == STRING | ARRAY => "a string or an array",
        m if m == OBJECT | ARRAY => "an object or an array",
        _ => "a value of another type",
    }
}

/// The bounds a number's schema sets, from `minimum`/`maximum` and the integer
/// formats schemars uses for Rust integer types.
fn number_bounds(schema: &Map<String, Value>) -> (Option<f64>, Option<f64>) {
    let mut lo = schema.get("minimum").and_then(Value::as_f64);
    let mut hi = schema.get("maximum").and_then(Value::as_f64);
    let range = match schema.get("format").and_then(Value::as_str) {
        Some("int8") => Some((i8::MIN as f64, i8::MAX as f64)),
        Some("int16") => Some((i16::MIN as f64, i16::MAX as f64)),
        Some("int32") => Some((i32::MIN as f64, i32::MAX as f64)),
        Some("int64") => Some((i64::MIN as f64, i64::MAX as f64)),
        Some("uint8") => Some((0.0, u8::MAX as f64)),
        Some("uint16") => Some((0.0, u16::MAX as f64)),
        Some("uint32") => Some((0.0, u32::MAX as f64)),
        Some("uint64") | Some("uint") => Some((0.0, u64::MAX as f64)),
        _ => None,
    };
    if let Some((f_lo, f_hi)) = range {
        lo = Some(lo.map_or(f_lo, |l| l.max(f_lo)));
        hi = Some(hi.map_or(f_hi, |h| h.min(f_hi)));
    }
    (lo, hi)
}

fn bound_text(bound: f64) -> String {
    if bound.fract() == 0.0 && bound.abs() < 1e18 {
        format!("{}", bound as i64)
    } else {
        format!("{bound}")
    }
}

/// `"a", "b", "c"` for an enum message.
fn list_values(values: &[&Value]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&v.to_string());
    }
    out
}

/// The names of a schema's `properties` and `required`.
fn property_names(schema: &Value) -> impl Iterator<Item = &str> {
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.keys().map(String::as_str));
    props.chain(required_names(schema))
}

fn required_names(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

impl<'v> Walker<'v> {
    /// Records a problem at the current path. While probing an alternative the
    /// message is never built.
    fn report(&mut self, kind: impl FnOnce() -> RuleErrorKind) {
        if self.probing {
            self.failed = true;
            return;
        }
        let mut path = String::new();
        for step in &self.path {
            path = match *step {
                Step::Key(k) => path_key(&path, k),
                Step::Index(i) => path_index(&path, i),
            };
        }
        self.errors.push(RuleError::new(path, kind()));
    }

    /// A probe has already failed: nothing more to learn from this value.
    fn done(&self) -> bool {
        self.probing && self.failed
    }

    fn child(&mut self, step: Step<'v>, value: &'v Value, schema: &'static Value) {
        self.path.push(step);
        self.validate(value, schema);
        self.path.pop();
    }

    fn report_at(&mut self, step: Step<'v>, kind: impl FnOnce() -> RuleErrorKind) {
        self.path.push(step);
        self.report(kind);
        self.path.pop();
    }

    /// Follows `$ref` chains to the schema that says something.
    fn resolve(&self, mut schema: &'static Value) -> &'static Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = if reference == "#" {
                Some(self.root)
            } else {
                reference
                    .strip_prefix("#/$defs/")
                    .and_then(|name| self.root.get("$defs")?.get(name))
            };
            match target {
                Some(t) => schema = t,
                None => break,
            }
        }
        schema
    }

    fn validate(&mut self, value: &'v Value, schema: &'static Value) {
        let s = match schema {
            Value::Object(s) => s,
            Value::Bool(true) => return,
            Value::Bool(false) => {
                return self.report(|| RuleErrorKind::Invalid("no value is allowed here".into()))
            }
            _ => return,
        };
        if let Some(reference) = s.get("$ref") {
            let target = self.resolve(schema);
            if std::ptr::eq(target, schema) {
                let reference = reference.to_string();
                return self.report(|| {
                    RuleErrorKind::Invalid(format!(
                        "internal: unresolved schema reference {reference}"
                    ))
                });
            }
            self.validate(value, target);
            if self.done() {
                return;
            }
        }
        if let Some(Value::Array(alternatives)) = s.get("anyOf").or_else(|| s.get("oneOf")) {
            let one_of = s.contains_key("oneOf");
            self.alternatives(value, alternatives, s, one_of);
            if self.done() {
                return;
            }
        }
        // A wrong value for an enum gets the list of right ones, whatever its type.
        if let Some(Value::Array(allowed)) = s.get("enum") {
            if !allowed.contains(value) {
                let allowed: Vec<&Value> = allowed.iter().collect();
                self.report_not_allowed(value, &allowed);
            }
            return;
        }
        if let Some(constant) = s.get("const") {
            if constant != value {
                self.report_not_allowed(value, &[constant]);
            }
            return;
        }
        if let Some(mask) = schema_types(schema) {
            if value_types(value) & mask == 0 {
                return self.report(|| RuleErrorKind::WrongType {
                    expected: expected_phrase(mask),
                    found: describe(value),
                });
            }
        }
        match value {
            Value::Object(map) => self.object(map, schema, s),
            Value::Array(items) => {
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.child(Step::Index(i), item, item_schema);
                        if self.done() {
                            return;
                        }
                    }
                }
            }
            Value::Number(n) => self.number(n, value, s),
            Value::String(text) => {
                if s.get("format").and_then(Value::as_str) == Some("duration")
                    && parse_duration(text).is_none()
                {
                    self.report(|| RuleErrorKind::BadDuration {
                        found: text.clone(),
                    });
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn report_not_allowed(&mut self, value: &Value, allowed: &[&Value]) {
        self.report(|| {
            let suggestion = value
                .as_str()
                .and_then(|found| suggest(found, allowed.iter().filter_map(|v| v.as_str())));
            let expected = match allowed {
                [one] => one.to_string(),
                _ => format!("one of {}", list_values(allowed)),
            };
            RuleErrorKind::NotOneOf {
                expected,
                found: describe(value),
                suggestion,
            }
        });
    }

    fn number(&mut self, n: &Number, value: &Value, s: &'static Map<String, Value>) {
        let (lo, hi) = number_bounds(s);
        let Some(x) = n.as_f64() else { return };
        if lo.is_some_and(|lo| x < lo) || hi.is_some_and(|hi| x > hi) {
            self.report(|| {
                let whole = s.get("type").and_then(Value::as_str) == Some("integer");
                let noun = if whole { "a whole number" } else { "a number" };
                let range = match (lo, hi) {
                    (Some(lo), Some(hi)) => {
                        format!("from {} to {}", bound_text(lo), bound_text(hi))
                    }
                    (Some(lo), None) => format!("of at least {}", bound_text(lo)),
                    (None, Some(hi)) => format!("of at most {}", bound_text(hi)),
                    (None, None) => unreachable!("a bound was crossed"),
                };
                RuleErrorKind::OutOfRange {
                    expected: format!("{noun} {range}"),
                    found: describe(value),
                }
            });
        }
    }

    fn object(
        &mut self,
        map: &'v Map<String, Value>,
        schema: &'static Value,
        s: &'static Map<String, Value>,
    ) {
        let properties = s.get("properties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        let closed = matches!(additional, Some(Value::Bool(false)));
        // The closest known property to an unknown key, not counting those present.
        let guess = |key: &str| -> Option<String> {
            let candidates = properties
                .into_iter()
                .flat_map(|p| p.keys())
                .map(String::as_str)
                .filter(|name| !map.contains_key(*name));
            suggest(key, candidates)
        };
        // The object's own problems first: what is missing...
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if map.contains_key(name) {
                    continue;
                }
                if self.probing {
                    self.failed = true;
                    return;
                }
                // A typo of a required field is reported once, as the typo.
                let misspelt = closed
                    && map.keys().any(|key| {
                        !properties.is_some_and(|p| p.contains_key(key))
                            && guess(key).as_deref() == Some(name)
                    });
                if !misspelt {
                    self.report(|| RuleErrorKind::MissingField(name));
                }
            }
        }
        // ...then each field in the order written.
        for (key, child) in map {
            let step = Step::Key(key);
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                self.child(step, child, property);
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        self.report_at(step, || RuleErrorKind::UnknownField {
                            field: key.clone(),
                            suggestion: guess(key),
                        })
                    }
                    Some(additional) => self.child(step, child, additional),
                    None => {}
                }
            }
            if self.done() {
                return;
            }
            if self.path.is_empty() && std::ptr::eq(schema, self.root) && key == "format" {
                self.check_format(child);
            }
        }
    }

    /// The document's `format` must be the one this Worker reads. Checked here,
    /// not in the schema, so the message can say what to do.
    fn check_format(&mut self, value: &'v Value) {
        if let Some(found) = value.as_u64() {
            if found <= u64::from(u32::MAX) && found != u64::from(FORMAT) {
                self.report_at(Step::Key("format"), || RuleErrorKind::UnsupportedFormat {
                    found,
                    supported: FORMAT,
                });
            }
        }
    }

    /// Probes one alternative: does `value` match it, without reporting?
    fn matches(&mut self, value: &'v Value, schema: &'static Value) -> bool {
        let saved = (self.probing, self.failed);
        self.probing = true;
        self.failed = false;
        self.validate(value, schema);
        let matched = !self.failed;
        (self.probing, self.failed) = saved;
        matched
    }

    /// `anyOf` / `oneOf`. Rather than "matched none of the alternatives", pick
    /// the alternative the author evidently meant and report its errors: the one
    /// whose type fits, and among objects the one whose own required key
    /// (its discriminator, e.g. `count` for a count signal) is present.
    fn alternatives(
        &mut self,
        value: &'v Value,
        alternatives: &'static [Value],
        s: &'static Map<String, Value>,
        one_of: bool,
    ) {
        // A list of constants (a Rust enum with documented variants) is an enum.
        let constants: Option<Vec<&'static Value>> = alternatives
            .iter()
            .map(|a| self.resolve(a).get("const"))
            .collect();
        if let Some(constants) = constants {
            if !constants.contains(&value) {
                self.report_not_allowed(value, &constants);
            }
            return;
        }

        let mut matched = 0;
        for alternative in alternatives {
            if self.matches(value, alternative) {
                matched += 1;
                if !one_of || matched > 1 {
                    break;
                }
            }
        }
        match matched {
            0 => {}
            1 => return,
            _ if !one_of => return,
            _ => return self.report(|| RuleErrorKind::AmbiguousShape),
        }
        if self.probing {
            self.failed = true;
            return;
        }

        let kind = value_types(value);
        let resolved = |a: &'static Value| self.resolve(a);
        let fits = |a: &&'static Value| schema_types(resolved(a)).is_none_or(|m| m & kind != 0);
        let candidates: Vec<&'static Value> = alternatives.iter().filter(fits).collect();
        match candidates.as_slice() {
            [] => {
                let mask = alternatives
                    .iter()
                    .map(|a| schema_types(resolved(a)).unwrap_or(0))
                    .fold(0, |a, b| a | b);
                self.report(|| RuleErrorKind::WrongType {
                    expected: expected_phrase(mask),
                    found: describe(value),
                });
            }
            [only] => self.validate(value, only),
            _ => match value {
                Value::Object(map) => self.pick_object_alternative(value, map, &candidates, s),
                _ => self.validate(value, candidates[0]),
            },
        }
    }

    fn pick_object_alternative(
        &mut self,
        value: &'v Value,
        map: &'v Map<String, Value>,
        candidates: &[&'static Value],
        s: &'static Map<String, Value>,
    ) {
        let resolved: Vec<&'static Value> = candidates.iter().map(|c| self.resolve(c)).collect();
        // A required key that no other alternative knows tells this one apart.
        let discriminators: Vec<Vec<&'static str>> = resolved
            .iter()
            .enumerate()
            .map(|(i, own)| {
                required_names(own)
                    .filter(|key| {
                        resolved
                            .iter()
                            .enumerate()
                            .all(|(j, other)| i == j || !property_names(other).any(|k| k == *key))
                    })
                    .collect()
            })
            .collect();
        // The first key written decides, as a marketer reads it.
        for key in map.keys() {
            if let Some(i) = discriminators
                .iter()
                .position(|d| d.contains(&key.as_str()))
            {
                return self.validate(value, candidates[i]);
            }
        }
        if discriminators.iter().all(|d| !d.is_empty()) {
            let keys: Vec<&'static str> = discriminators.iter().map(|d| d[0]).collect();
            let title = s.get("title").and_then(Value::as_str);
            return self.report(|| {
                let list = keys.join(", ");
                let expected = match title {
                    Some(title) => format!("expected one of the {title} kinds: {list}"),
                    None => format!("expected an object with one of the keys {list}"),
                };
                let suggestion = map
                    .keys()
                    .find_map(|key| suggest(key, keys.iter().copied()));
                RuleErrorKind::NoMatchingShape {
                    expected,
                    suggestion,
                }
            });
        }
        // No clear discriminator: the alternative with most of its required keys present.
        let present = |schema: &Value| {
            required_names(schema)
                .filter(|k| map.contains_key(*k))
                .count()
        };
        let mut best = 0;
        for (i, schema) in resolved.iter().enumerate() {
            if present(schema) > present(resolved[best]) {
                best = i;
            }
        }
        self.validate(value, candidates[best]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(value: Value) -> Vec<String> {
        match validate_value(&value) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn doc(extra: Value) -> Value {
        let mut d = json!({"format": 1, "version": "test"});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        d
    }

    #[test]
    fn embedded_schema_parses_and_has_defs() {
        assert!(schema().get("$defs").and_then(Value::as_object).is_some());
    }

    /// The walker must understand every keyword in the schema; a new one from
    /// schemars (or an attribute) must be implemented here, not silently ignored.
    #[test]
    fn walker_understands_every_keyword_in_the_schema() {
        const ASSERTIONS: &[&str] = &[
            "type",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "$ref",
            "anyOf",
            "oneOf",
            "enum",
            "const",
            "minimum",
            "maximum",
            "format",
        ];
        const ANNOTATIONS: &[&str] = &[
            "$schema",
            "$id",
            "$defs",
            "title",
            "description",
            "default",
            "examples",
        ];
        // `date-time` (start_at/end_at) is for editors that know JSON
        // Schema; the compiler checks those times, with the same message.
        const FORMATS: &[&str] = &["duration", "uint32", "int32", "double", "date-time"];
        fn walk(schema: &Value, at: &str) {
            let Value::Object(s) = schema else {
                assert!(
                    schema.is_boolean(),
                    "{at}: a schema is an object or a boolean"
                );
                return;
            };
            for (key, sub) in s {
                let here = format!("{at}/{key}");
                match key.as_str() {
                    "pattern" => assert_eq!(
                        s.get("format"),
                        Some(&json!("duration")),
                        "{here}: a pattern is only checked through format: duration"
                    ),
                    "format" => assert!(
                        FORMATS.contains(&sub.as_str().unwrap()),
                        "{here}: unknown format {sub}"
                    ),
                    "properties" | "$defs" => {
                        for (name, s) in sub.as_object().unwrap() {
                            walk(s, &format!("{here}/{name}"));
                        }
                    }
                    "additionalProperties" | "items" => walk(sub, &here),
                    "anyOf" | "oneOf" => {
                        for (i, s) in sub.as_array().unwrap().iter().enumerate() {
                            walk(s, &format!("{here}/{i}"));
                        }
                    }
                    k => assert!(
                        ASSERTIONS.contains(&k) || ANNOTATIONS.contains(&k),
                        "{here}: the validator does not understand keyword {k:?}"
                    ),
                }
            }
        }
        walk(schema(), "#");
    }

    #[test]
    fn minimal_document_is_valid() {
        let d = validate_value(&doc(json!({}))).unwrap();
        assert_eq!(d.version, "test");
        assert_eq!(d.settings.cookie_name, "edgeseg");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = parse_document("{\n  \"format\": 1,\n  \"version\": \"x\",\n}").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(
            e.0[0].kind,
            RuleErrorKind::Syntax {
                message: "trailing comma".into(),
                line: 4,
                column: 1
            }
        );
    }

    #[test]
    fn wrong_type_names_expected_and_found() {
        let d = doc(json!({"segments": [
            {"id": "a", "condition": {}},
            {"id": "b", "condition": {}},
            {"id": "c", "condition": {}, "priority": "three"}
        ]}));
        assert_eq!(
            errors(d),
            ["segments[2].priority: expected a whole number, got \"three\""]
        );
    }

    #[test]
    fn unknown_field_suggests_the_closest_known_one() {
        let d = doc(json!({"segments": [{"id": "a", "condition": {}, "prority": 2}]}));
        assert_eq!(
            errors(d),
            ["segments[0].prority: unknown field \"prority\" (did you mean \"priority\"?)"]
        );
    }

    #[test]
    fn missing_fields_are_reported_at_the_object() {
        assert_eq!(
            errors(json!({"segments": [{"id": "a"}]})),
            [
                "(document): missing required field \"format\"",
                "(document): missing required field \"version\"",
                "segments[0]: missing required field \"condition\"",
            ]
        );
    }

    #[test]
    fn a_misspelt_required_field_is_one_error_not_two() {
        let d = doc(json!({"signals": {"views": {"count": "page_view", "withn": "10m"}}}));
        assert_eq!(
            errors(d),
            ["signals.views.withn: unknown field \"withn\" (did you mean \"within\"?)"]
        );
    }

    #[test]
    fn enums_list_allowed_values() {
        let d = doc(json!({"signals": {
            "a": {"since": "signup", "unit": "minute"},
            "b": {"visitor": "session_page"},
            "c": {"since": "signup", "unit": 5}
        }}));
        assert_eq!(
            errors(d),
            [
                "signals.a.unit: expected one of \"seconds\", \"minutes\", \"hours\", \"days\", got \"minute\" (did you mean \"minutes\"?)",
                "signals.b.visitor: expected one of \"sessions\", \"session_pages\", \"session_duration\", \"since_first_visit\", \"since_previous_visit\", got \"session_page\" (did you mean \"session_pages\"?)",
                "signals.c.unit: expected one of \"seconds\", \"minutes\", \"hours\", \"days\", got 5",
            ]
        );
    }

    #[test]
    fn durations_are_checked_everywhere() {
        let d = doc(json!({
            "settings": {"cookie_lifetime": "6 months", "session_timeout": "30m"},
            "events": {"signup": {"remember": "30"}},
            "signals": {"v": {"count": "page_view", "within": "10min"}},
            "segments": [{"id": "a", "condition": {}, "enter_after": "1h30m", "hold_for": "401d"}]
        }));
        let e = errors(d);
        let paths: Vec<&str> = e.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "settings.cookie_lifetime",
                "events.signup.remember",
                "signals.v.within",
                "segments[0].enter_after",
                "segments[0].hold_for"
            ]
        );
        assert!(e[0].ends_with("invalid duration \"6 months\": expected a whole number followed by s, m, h or d, like \"30s\", \"10m\", \"24h\", \"7d\""));
    }

    #[test]
    fn signal_kind_is_chosen_by_its_key() {
        let d = doc(json!({"signals": {
            "a": {"cont": "page_view", "within": "10m"},
            "b": {"score": {"page_view": "one"}, "within": "7d"},
            "c": "page_view",
            "d": {"logistic": {"a": 1}, "bias": "high", "count": "x"}
        }}));
        assert_eq!(
            errors(d),
            [
                "signals.a: expected one of the signal kinds: count, since, visitor, score, logistic, cluster, trees, sum, max, engaged, scroll, affinity, share (did you mean \"count\"?)",
                "signals.b.score.page_view: expected a number, got \"one\"",
                "signals.c: expected an object, got \"page_view\"",
                "signals.d.bias: expected a number, got \"high\"",
                "signals.d.count: unknown field \"count\"",
            ]
        );
    }

    #[test]
    fn every_signal_kind_validates() {
        let d = doc(json!({"signals": {
            "a": {"count": "page_view", "within": "10m", "path": "/p/*", "props": {"x": 1}},
            "b": {"since": "add_to_cart", "unless": "purchase", "unit": "minutes"},
            "c": {"visitor": "since_previous_visit", "unit": "days"},
            "d": {"score": {"page_view": 1, "add_to_cart": 5.5}, "within": "7d"},
            "e": {"logistic": {"a": 0.6}, "bias": -4}
        }}));
        assert_eq!(errors(d), Vec::<String>::new());
    }

    #[test]
    fn numbers_respect_their_rust_type() {
        let d = json!({"format": 2, "version": "x",
            "settings": {"refresh_seconds": -5},
            "segments": [{"id": "a", "condition": {}, "priority": 3000000000u64}, {"id": "b", "condition": {}, "priority": 2.5}]});
        assert_eq!(
            errors(d),
            [
                "format: unsupported format 2: this Worker reads format 1",
                "settings.refresh_seconds: expected a whole number from 0 to 4294967295, got -5",
                "segments[0].priority: expected a whole number from -2147483648 to 2147483647, got 3000000000",
                "segments[1].priority: expected a whole number, got 2.5",
            ]
        );
    }

    #[test]
    fn keys_that_are_not_identifiers_are_quoted() {
        let d =
            doc(json!({"blocks": {"hero.banner": {"content": {"vip buyers": {"inner_html": 5}}}}}));
        assert_eq!(
            errors(d),
            ["blocks[\"hero.banner\"].content[\"vip buyers\"].inner_html: expected a string, got 5"]
        );
    }

    #[test]
    fn nulls_are_accepted_where_serde_accepts_them() {
        let d = doc(json!({
            "settings": {"consent": {"cookie": null}},
            "events": {"e": {"description": null}},
            "signals": {"v": {"count": "e", "within": "1d", "path": null, "props": null}},
            "segments": [{"id": "a", "condition": {}, "description": null, "enter_after": null, "hold_for": null}],
            "blocks": {"b": {"selector": null, "content": {"a": {"inner_html": null}}}}
        }));
        assert_eq!(errors(d), Vec::<String>::new());
    }

    #[test]
    fn a_document_that_is_not_an_object() {
        assert_eq!(
            errors(json!([])),
            ["(document): expected an object, got an array"]
        );
    }
}
