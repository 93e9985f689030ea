//! The one reader of numbers in event properties: `sum`/`max` signals and
//! experiment goals' `value` (revenue) read a property through [`parse`], so
//! a value counts the same everywhere.
//!
//! Pages send what the DOM or a data layer gives them, often text: the demo
//! store's checkout sends `value: "129.00"`. The rules:
//! * a JSON number counts as itself;
//! * a string counts when, with surrounding whitespace removed, it is a
//!   decimal number: an optional sign, digits with an optional decimal point
//!   (`"129"`, `"129.00"`, `"-20.5"`, `".5"`), an optional exponent (`"1e3"`);
//! * anything else is refused: text with a currency or a thousands separator
//!   (`"12 EUR"`, `"1,299.00"`: a comma is a decimal point in half of Europe,
//!   so guessing would be wrong half the time), `"inf"`, `"NaN"`, numbers too
//!   large to be finite, booleans, `null`, arrays and objects.
//!
//! A property that is missing is not refused: the event simply carries no
//! value. A refused one adds nothing and is counted (`values_refused`, see
//! `page::record_events`) so a broken data layer shows up in the
//! counters rather than as revenue that quietly reads 0.

use serde_json::Value;

/// A property value that is not a finite number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumber;

/// The finite number a property value carries, by the rules above.
pub fn parse(value: &Value) -> Result<f64, NotANumber> {
    let n = match value {
        Value::Number(n) => n.as_f64().ok_or(NotANumber)?,
        Value::String(s) => parse_text(s).ok_or(NotANumber)?,
        _ => return Err(NotANumber),
    };
    if n.is_finite() {
        Ok(n)
    } else {
        Err(NotANumber)
    }
}

/// A decimal number in text (see the module's rules); `None` otherwise.
fn parse_text(text: &str) -> Option<f64> {
    let t = text.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac;
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_decimal_strings_count() {
        assert_eq!(parse(&json!(49.9)), Ok(49.9));
        assert_eq!(parse(&json!(-20)), Ok(-20.0));
        assert_eq!(parse(&json!("129.00")), Ok(129.0));
        assert_eq!(parse(&json!(" 129.00\n")), Ok(129.0));
        assert_eq!(parse(&json!("+5")), Ok(5.0));
        assert_eq!(parse(&json!("-20.5")), Ok(-20.5));
        assert_eq!(parse(&json!(".5")), Ok(0.5));
        assert_eq!(parse(&json!("5.")), Ok(5.0));
        assert_eq!(parse(&json!("1e3")), Ok(1000.0));
        assert_eq!(parse(&json!("2.5E-1")), Ok(0.25));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            json!("12 EUR"),
            json!("€12"),
            json!("1,299.00"),
            json!("12,50"),
            json!("inf"),
            json!("-Infinity"),
            json!("NaN"),
            json!("1e999"),
            json!("0x10"),
            json!(""),
            json!("."),
            json!("-"),
            json!("1e"),
            json!("1 2"),
            json!(true),
            json!(null),
            json!([1]),
            json!({"amount": 1}),
        ] {
            assert_eq!(parse(&bad), Err(NotANumber), "{bad} should be refused");
        }
    }
}
