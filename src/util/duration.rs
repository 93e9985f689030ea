//! Durations as marketers write them: `"30s"`, `"10m"`, `"24h"`, `"7d"`.
//!
//! Parsed strictly (no spaces, no decimals, no mixed units, no bare numbers) so
//! that a typo is an error with a path rather than a silently different window.

/// Seconds in a parsed duration.
pub type Seconds = u64;

/// Longest duration accepted anywhere in the rules: 400 days. Longer windows
/// would outlive the cookie and make no sense for real-time segments.
pub const MAX_DURATION: Seconds = 400 * 86_400;

/// A unix time in UTC as `(year, month, day, hour, minute, second)`
/// (proleptic Gregorian; Howard Hinnant's days-to-civil algorithm): the
/// export's hour partitions and the CLI's reports.
pub fn utc_parts(ts: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, sec) = (secs / 3_600, secs / 60 % 60, secs % 60);
    (year, month, day, h as u32, m as u32, sec as u32)
}

/// Parses a duration like `"10m"`. Returns `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Seconds> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3_600,
        'd' => n * 86_400,
        _ => return None,
    };
    (secs <= MAX_DURATION).then_some(secs)
}

/// Formats seconds back into the largest exact unit: 600 → `"10m"`.
pub fn format_duration(secs: Seconds) -> String {
    if secs != 0 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs != 0 && secs.is_multiple_of(3_600) {
        format!("{}h", secs / 3_600)
    } else if secs != 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("10m"), Some(600));
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("0s"), Some(0));
    }

    #[test]
    fn rejects_anything_loose() {
        for bad in [
            "",
            "10",
            "m",
            "10 m",
            " 10m",
            "10M",
            "1.5h",
            "-5m",
            "10mm",
            "1h30m",
            "010m",
            "10min",
            "401d",
            "9999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["30s", "10m", "36h", "7d", "90s", "0s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
