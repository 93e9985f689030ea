//! The slice of JavaScript value semantics that GrowthBook's conditions rely on.
//!
//! GrowthBook's reference SDK is JavaScript, and its condition evaluator leans on
//! JS coercion: `value + "" === "1,2"`, `value * 1 === 0`, `"8" > 5`, `null < 10`.
//! Every other GrowthBook SDK reproduces those results, so we do too. Everything
//! here is allocation-free except where a JS array has to be turned into a string
//! (`[1,2]` → `"1,2"`), which only happens for odd conditions.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write};

/// A JSON number as the JS number it would be.
pub fn num(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// JS truthiness (`!!v`).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => {
            let x = num(n);
            x != 0.0 && !x.is_nan()
        }
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// GrowthBook's `getType`: the name `$type` compares with.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Strict equality (`===`, and `Array.prototype.includes`' SameValueZero, which
/// is the same for JSON values): arrays and objects are compared by identity in
/// JS, and a condition's operand is never the attribute object itself, so they
/// are never equal.
pub fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => num(x) == num(y),
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// `JSON.stringify(a) === JSON.stringify(b)`, without building the strings.
///
/// JS orders an object's integer-like keys first (ascending), then the others
/// in insertion order; serde_json (built with `preserve_order`) keeps insertion
/// order, so integer-like keys are reordered here the way JS would.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => object_eq(x, y),
        _ => strict_eq(a, b),
    }
}

fn object_eq(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let reordered = a.keys().chain(b.keys()).any(|k| array_index(k).is_some());
    if !reordered {
        return a
            .iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && json_eq(va, vb));
    }
    fn js_order(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        // Stable: non-index keys keep insertion order.
        entries.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
        entries
    }
    js_order(a)
        .into_iter()
        .zip(js_order(b))
        .all(|((ka, va), (kb, vb))| ka == kb && json_eq(va, vb))
}

/// The index a key names if it is a canonical JS array index (`"0"`, `"17"`,
/// not `"01"` or `"-1"`), which is also what JS treats as an integer-like key.
pub fn array_index(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    if n >= u64::from(u32::MAX) {
        return None;
    }
    usize::try_from(n).ok()
}

/// Displays a value as JS `String(value)` does: `null` → `"null"`, numbers the
/// JS way (`1e+21`, `1.5e-7`, `3` for `3.0`), arrays joined with `,` (null
/// elements empty), objects `"[object Object]"`.
pub struct JsString<'a>(pub &'a Value);

impl fmt::Display for JsString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_js_string(f, self.0)
    }
}

fn write_js_string<W: Write + ?Sized>(w: &mut W, v: &Value) -> fmt::Result {
    match v {
        Value::Null => w.write_str("null"),
        Value::Bool(b) => w.write_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(w, num(n)),
        Value::String(s) => w.write_str(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                if !item.is_null() {
                    write_js_string(w, item)?;
                }
            }
            Ok(())
        }
        Value::Object(_) => w.write_str("[object Object]"),
    }
}

/// Writes a number as JS `Number.prototype.toString()` does (ECMA-262
/// Number::toString): shortest round-trip digits, plain notation for
/// 1e-7 < |x| < 1e21, exponent notation (`1e+21`, `1.5e-7`) outside.
pub fn write_number<W: Write + ?Sized>(w: &mut W, x: f64) -> fmt::Result {
    if x.is_nan() {
        return w.write_str("NaN");
    }
    if x == 0.0 {
        return w.write_str("0");
    }
    if x.is_infinite() {
        return w.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if x < 0.0 {
        w.write_char('-')?;
    }
    let mut buf = StackStr::<40>::new();
    write!(buf, "{:e}", x.abs())?;
    let (mantissa, exp) = buf.as_str().split_once('e').ok_or(fmt::Error)?;
    let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
    let (first, rest) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = StackStr::<24>::new();
    digits.write_str(first)?;
    digits.write_str(rest)?;
    let digits = digits.as_str();
    let k = digits.len() as i32;
    let n = exp + 1;
    if k <= n && n <= 21 {
        w.write_str(digits)?;
        for _ in 0..(n - k) {
            w.write_char('0')?;
        }
        Ok(())
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        w.write_str(int)?;
        w.write_char('.')?;
        w.write_str(frac)
    } else if -6 < n && n <= 0 {
        w.write_str("0.")?;
        for _ in 0..(-n) {
            w.write_char('0')?;
        }
        w.write_str(digits)
    } else {
        let (d0, tail) = digits.split_at(1);
        w.write_str(d0)?;
        if !tail.is_empty() {
            w.write_char('.')?;
            w.write_str(tail)?;
        }
        let e = n - 1;
        write!(w, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// `String(value) === expected` (or, with `fold`, both lowercased), compared
/// while the JS string is being produced, so nothing is allocated.
pub fn string_eq(v: &Value, expected: &str, fold: bool) -> bool {
    if let (Value::String(s), false) = (v, fold) {
        return s == expected;
    }
    let mut sink = EqSink {
        rest: expected,
        fold,
    };
    write_js_string(&mut sink, v).is_ok() && sink.rest.is_empty()
}

/// Lowercases a string the way [`string_eq`] with `fold` does (per character).
pub fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Case-insensitive string equality without allocating.
pub fn eq_fold(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // The common case, and much faster than per-char Unicode lowering.
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

struct EqSink<'a> {
    rest: &'a str,
    fold: bool,
}

impl Write for EqSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.fold {
            for c in s.chars().flat_map(char::to_lowercase) {
                let mut it = self.rest.chars();
                match it.next() {
                    Some(r) if r == c => self.rest = it.as_str(),
                    _ => return Err(fmt::Error),
                }
            }
            Ok(())
        } else if let Some(rest) = self.rest.strip_prefix(s) {
            self.rest = rest;
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// JS `ToNumber(value)` (what `value * 1` does).
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => num(n),
        Value::String(s) => str_to_number(s),
        // An array becomes its joined string first: [] → "" → 0, [x] → String(x),
        // two or more elements always contain "," → NaN.
        Value::Array(items) => match items.as_slice() {
            [] => 0.0,
            [Value::Null] => 0.0,
            [Value::Bool(_)] | [Value::Object(_)] => f64::NAN,
            [one] => to_number(one),
            _ => f64::NAN,
        },
        Value::Object(_) => f64::NAN,
    }
}

fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// JS `StringToNumber`: surrounding whitespace ignored, `""` is 0, `0x`/`0o`/`0b`
/// integers, `Infinity`, decimal literals; anything else is NaN. (Rust's
/// `f64::from_str` alone would accept `"inf"` and `"nan"`, which JS does not.)
pub fn str_to_number(s: &str) -> f64 {
    let s = s.trim_matches(is_js_whitespace);
    if s.is_empty() {
        return 0.0;
    }
    let radix = match s.get(..2) {
        Some("0x" | "0X") => 16,
        Some("0o" | "0O") => 8,
        Some("0b" | "0B") => 2,
        _ => 10,
    };
    if radix != 10 {
        let digits = &s[2..];
        if digits.is_empty() {
            return f64::NAN;
        }
        let mut x = 0.0f64;
        for c in digits.chars() {
            match c.to_digit(radix) {
                Some(d) => x = x * f64::from(radix) + f64::from(d),
                None => return f64::NAN,
            }
        }
        return x;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned == "Infinity" {
        return if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    if !is_decimal_literal(unsigned) {
        return f64::NAN;
    }
    s.parse().unwrap_or(f64::NAN)
}

/// `digits [. digits?] | . digits`, then an optional exponent.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// A value after JS `ToPrimitive`, the first step of `<`, `>`, `<=`, `>=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Primitive<'a> {
    Str(Cow<'a, str>),
    Num(f64),
}

impl Primitive<'_> {
    pub fn into_owned(self) -> Primitive<'static> {
        match self {
            Primitive::Str(s) => Primitive::Str(Cow::Owned(s.into_owned())),
            Primitive::Num(n) => Primitive::Num(n),
        }
    }

    fn number(&self) -> f64 {
        match self {
            Primitive::Str(s) => str_to_number(s),
            Primitive::Num(n) => *n,
        }
    }
}

pub fn to_primitive(v: &Value) -> Primitive<'_> {
    match v {
        Value::Null => Primitive::Num(0.0),
        Value::Bool(b) => Primitive::Num(f64::from(u8::from(*b))),
        Value::Number(n) => Primitive::Num(num(n)),
        Value::String(s) => Primitive::Str(Cow::Borrowed(s)),
        Value::Array(_) => Primitive::Str(Cow::Owned(JsString(v).to_string())),
        Value::Object(_) => Primitive::Str(Cow::Borrowed("[object Object]")),
    }
}

/// JS's abstract relational comparison: two strings compare by UTF-16 code
/// units, anything else as numbers; `None` when a side is NaN (then every one
/// of `<`, `<=`, `>`, `>=` is false).
pub fn compare(a: &Primitive<'_>, b: &Primitive<'_>) -> Option<Ordering> {
    match (a, b) {
        (Primitive::Str(x), Primitive::Str(y)) => Some(cmp_utf16(x, y)),
        _ => a.number().partial_cmp(&b.number()),
    }
}

/// JS string order (UTF-16 code units), which differs from Rust's (code points)
/// only between astral characters and U+E000..U+FFFF.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A fixed-size string buffer on the stack, for formatting numbers without
/// allocating.
pub struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    pub fn new() -> Self {
        StackStr {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this is always valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn js(x: f64) -> String {
        let mut s = String::new();
        write_number(&mut s, x).unwrap();
        s
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js(3.0), "3");
        assert_eq!(js(-1.5), "-1.5");
        assert_eq!(js(0.1), "0.1");
        assert_eq!(js(1e21), "1e+21");
        assert_eq!(js(1e20), "100000000000000000000");
        assert_eq!(js(1.5e-7), "1.5e-7");
        assert_eq!(js(0.000001), "0.000001");
        assert_eq!(js(123456.789), "123456.789");
        assert_eq!(js(-0.0), "0");
    }

    #[test]
    fn strings_convert_to_numbers_like_javascript() {
        assert_eq!(str_to_number(" 8 "), 8.0);
        assert_eq!(str_to_number(""), 0.0);
        assert_eq!(str_to_number("0x10"), 16.0);
        assert_eq!(str_to_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(str_to_number(".5"), 0.5);
        assert_eq!(str_to_number("5."), 5.0);
        assert!(str_to_number("inf").is_nan());
        assert!(str_to_number("nan").is_nan());
        assert!(str_to_number("1e").is_nan());
        assert!(str_to_number("abc").is_nan());
        assert_eq!(to_number(&json!([" 7"])), 7.0);
        assert!(to_number(&json!([1, 2])).is_nan());
    }

    #[test]
    fn string_conversion_is_compared_without_allocating() {
        assert!(string_eq(&json!(null), "null", false));
        assert!(string_eq(&json!([1, null, "a"]), "1,,a", false));
        assert!(string_eq(&json!(1.0), "1", false));
        assert!(string_eq(&json!({"a": 1}), "[object Object]", false));
        assert!(string_eq(&json!("ÄBC"), "äbc", true));
        assert!(!string_eq(&json!("abc"), "ab", false));
        assert!(!string_eq(&json!("ab"), "abc", true));
    }

    #[test]
    fn json_equality_follows_javascript_key_order() {
        assert!(json_eq(&json!({"b": 1, "1": 2}), &json!({"1": 2, "b": 1})));
        assert!(!json_eq(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
        assert!(json_eq(&json!([1.0, "x"]), &json!([1, "x"])));
    }
}
