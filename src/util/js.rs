//! JavaScript's view of JSON values: which are truthy, and the text
//! `String(v)` gives.
//!
//! GrowthBook's SDKs are written in JS, and their bucketing hashes an
//! attribute by concatenating it into a string (`seed + value`), after a
//! truthiness check (`if (attributes[key])`). To put a visitor in the same
//! variation as GrowthBook does, edgeseg must skip and print values exactly as
//! JS does: `0`, `false`, `""` and `null` are skipped; `1.0` prints `1`,
//! `1e21` prints `1e+21`, an array prints its elements joined by commas.

use serde_json::{Number, Value};

/// JS truthiness of a JSON value: `false` for `null`, `false`, `""`, `0` and
/// `-0`; `true` for everything else, empty arrays and objects included.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => number(n) != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// What JS's `String(value)` gives for a JSON value as `JSON.parse` would
/// have read it: numbers as JS prints doubles, arrays joined by `,` (with
/// `null` as the empty string), objects as `[object Object]`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_to_string(number(n))),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Array.prototype.join prints null (and undefined) as nothing.
                if !item.is_null() {
                    write_value(item, out);
                }
            }
        }
        Value::Object(_) => out.push_str("[object Object]"),
    }
}

/// The double JS's `JSON.parse` reads: integers beyond 2^53 round to the
/// nearest double, as they do in JS.
fn number(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// JS's `Number.prototype.toString()` (ECMAScript `Number::toString`, radix
/// 10): the shortest digits that read back as the same double, in plain
/// notation for exponents from -7 to 20 and in `1.5e+21` form beyond.
pub fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // Rust's `{:e}` prints the shortest round-trip digits, like JS: d.ddde±x.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    // x = 0.digits × 10^n
    let n = exponent.parse::<i32>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{sign}{}", (n - 1).abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_in_js() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e-6, "0.000001"),
            (1.25e-7, "1.25e-7"),
            (1e-7, "1e-7"),
            (-0.0, "0"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (9007199254740993.0, "9007199254740992"),
        ];
        for (x, expected) in cases {
            assert_eq!(number_to_string(x), expected, "{x:e}");
        }
    }

    #[test]
    fn strings_and_truthiness_as_in_js() {
        let v: Value = serde_json::from_str("1.0").unwrap();
        assert_eq!(to_string(&v), "1");
        assert_eq!(
            to_string(&json!([1, null, [2, "a"], {"b": 1}])),
            "1,,2,a,[object Object]"
        );
        assert_eq!(to_string(&json!(true)), "true");
        assert_eq!(to_string(&json!([])), "");
        for falsy in [json!(0), json!(-0.0), json!(false), json!(""), json!(null)] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for t in [json!(1), json!("0"), json!(true), json!([]), json!({})] {
            assert!(truthy(&t), "{t}");
        }
    }
}
