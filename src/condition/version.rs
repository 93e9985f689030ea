//! Version strings for `$veq $vne $vgt $vgte $vlt $vlte`, compared the way
//! GrowthBook's `paddedVersionString` makes them comparable.
//!
//! GrowthBook does not parse SemVer; it rewrites a version into a string whose
//! plain string order is version order, and every SDK compares those strings:
//! - a leading `v` and any `+build` suffix are dropped;
//! - the rest is split on `.` and `-` (so `1-2-3` equals `1.2.3`, and `1.2.3.4`
//!   equals `1.2.3-4`);
//! - a version of exactly three parts gets a `~` part, the largest printable
//!   ASCII character, so `1.0.0` sorts after its pre-releases (`1.0.0-beta`);
//! - all-digit parts are left-padded with spaces to width 5, so `" 9"` sorts
//!   before `"10"` (parts of 5 digits or more are not padded);
//! - parts are joined with `-`.
//!
//! A number is first written as JS would (`2` → `"2"`); anything else that is
//! not a non-empty string counts as `"0"`.

use super::js::{write_number, StackStr};
use serde_json::Value;
use std::cmp::Ordering;

/// The padded form of a version operand, computed once when a condition is compiled.
pub fn padded(v: &Value) -> String {
    let mut out = Vec::new();
    with_version_str(v, |s| out.extend(padded_bytes(s)));
    // Only whole pieces of the input and ASCII are emitted.
    String::from_utf8(out).unwrap_or_default()
}

/// Compares an attribute's version with an already padded operand, without allocating.
pub fn cmp_padded(actual: &Value, padded_expected: &str) -> Ordering {
    let mut ord = Ordering::Equal;
    with_version_str(actual, |s| {
        ord = padded_bytes(s).cmp(padded_expected.bytes());
    });
    ord
}

fn with_version_str(v: &Value, f: impl FnOnce(&str)) {
    match v {
        Value::String(s) if !s.is_empty() => f(s),
        Value::Number(n) => {
            let mut buf = StackStr::<40>::new();
            if write_number(&mut buf, super::js::num(n)).is_ok() {
                f(buf.as_str());
            } else {
                f("0");
            }
        }
        _ => f("0"),
    }
}

/// Removes what `replace(/(^v|\+.*$)/g, "")` removes: one leading `v`, and the
/// first `+` with everything after it, provided no line break follows (`.`
/// does not match a line break and `$` is the end of the input).
fn strip(s: &str) -> &str {
    let s = s.strip_prefix('v').unwrap_or(s);
    let last_line = s.rfind('\n').map_or(0, |i| i + 1);
    match s[last_line..].find('+') {
        Some(i) => &s[..last_line + i],
        None => s,
    }
}

fn padded_bytes(s: &str) -> impl Iterator<Item = u8> + '_ {
    let s = strip(s);
    let is_sep = |c: char| c == '.' || c == '-';
    let parts = s.split(is_sep).count();
    let tail: &'static [u8] = if parts == 3 { b"-~" } else { b"" };
    s.split(is_sep)
        .enumerate()
        .flat_map(|(i, part)| {
            let numeric = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let pad = if numeric {
                5usize.saturating_sub(part.len())
            } else {
                0
            };
            let sep = if i > 0 { Some(b'-') } else { None };
            sep.into_iter()
                .chain(std::iter::repeat_n(b' ', pad))
                .chain(part.bytes())
        })
        .chain(tail.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_pad_like_growthbook() {
        assert_eq!(padded(&json!("v1.2.3+build")), "    1-    2-    3-~");
        assert_eq!(
            padded(&json!("1.0.0-beta.11")),
            "    1-    0-    0-beta-   11"
        );
        assert_eq!(padded(&json!("1.0.0--")), "    1-    0-    0--");
        assert_eq!(padded(&json!(2)), "    2");
        assert_eq!(padded(&json!(null)), "    0");
        assert_eq!(padded(&json!("")), "    0");
        assert_eq!(padded(&json!("123456")), "123456");
    }

    #[test]
    fn comparison_matches_padded_strings() {
        let e = padded(&json!("1.0.0-beta"));
        assert_eq!(cmp_padded(&json!("1.0.0"), &e), Ordering::Greater);
        assert_eq!(cmp_padded(&json!("1.0.0-alpha"), &e), Ordering::Less);
        assert_eq!(cmp_padded(&json!("v1.0.0-beta+x"), &e), Ordering::Equal);
        let gt = |a: &str, b: &str| cmp_padded(&json!(a), &padded(&json!(b))) == Ordering::Greater;
        assert!(gt("1.2.3-r100", "1.2.3-R2"));
        assert!(gt("1.2.3-r2", "1.2.3-r100"));
        assert!(gt("3.0.0", "2.7.2+asdf"));
        assert!(!gt("1.2.3-a.b.c", "1.2.3-a.b.c.d"));
        assert!(gt("1.2.3", "1.2.3-4-foo"));
        assert_eq!(
            cmp_padded(&json!("1-2-3"), &padded(&json!("1-2.3+build99"))),
            Ordering::Equal
        );
    }
}
