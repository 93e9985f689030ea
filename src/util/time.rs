//! Points in time as rules write them (RFC 3339, e.g. `"2026-12-24T18:00:00Z"`)
//! and schedules built from them (`start_at`/`end_at` of experiments and of
//! block content).
//!
//! Honoured per request against the request's own time (the page pipeline's
//! `now`), so a schedule needs no cron and every isolate switches within the
//! same second.

/// Seconds since the Unix epoch, UTC.
pub type Unix = u64;

/// Parses an RFC 3339 date-time (`2026-12-24T18:00:00Z`, `…T19:00:00+01:00`,
/// fractional seconds allowed and dropped; `t` and `z` in either case) into
/// UTC seconds. `None` for anything else, including dates before 1970 and
/// impossible ones (`2026-02-30`).
pub fn parse_rfc3339(text: &str) -> Option<Unix> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = b.get(from..from + len)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(at(4, b'-') && at(7, b'-') && matches!(b.get(10), Some(b'T' | b't'))) {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(at(13, b':') && at(16, b':')) {
        return None;
    }
    let mut i = 19;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3_600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (60) is read as the next second.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let t =
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    u64::try_from(t).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm, the inverse of [`super::duration::utc_parts`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-24T18:00:00Z`: how schedules are shown (debug header, simulate).
pub fn format_rfc3339(t: Unix) -> String {
    let (y, mo, d, h, mi, s) = super::duration::utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// When something is served: from `start` (inclusive) until `end`
/// (exclusive); either open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    pub start: Option<Unix>,
    pub end: Option<Unix>,
}

/// Where a moment falls in a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before `start_at` (the time it starts).
    NotStarted(Unix),
    Live,
    /// At or after `end_at` (the time it ended).
    Ended(Unix),
}

impl Schedule {
    pub fn is_open(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    pub fn phase(&self, now: Unix) -> Phase {
        match (self.start, self.end) {
            (Some(s), _) if now < s => Phase::NotStarted(s),
            (_, Some(e)) if now >= e => Phase::Ended(e),
            _ => Phase::Live,
        }
    }

    pub fn is_live(&self, now: Unix) -> bool {
        self.phase(now) == Phase::Live
    }
}

impl Phase {
    /// `not started until 2026-12-24T18:00:00Z`, `ended at …`, `live`.
    pub fn describe(&self) -> String {
        match self {
            Phase::NotStarted(t) => format!("not started until {}", format_rfc3339(*t)),
            Phase::Ended(t) => format!("ended at {}", format_rfc3339(*t)),
            Phase::Live => "live".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-01T00:00:00Z"), Some(1_793_491_200));
        assert_eq!(
            parse_rfc3339("2026-11-01t00:00:00.999z"),
            Some(1_793_491_200)
        );
        assert_eq!(
            parse_rfc3339("2026-11-01T01:30:00+01:30"),
            Some(1_793_491_200)
        );
        assert_eq!(
            parse_rfc3339("2026-10-31T20:00:00-04:00"),
            Some(1_793_491_200)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T01:01:00Z"),
            Some(951_782_400 + 3_660)
        );
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "2026-11-01",
            "2026-11-01 00:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T00:00:00.Z",
            "2026-11-01T00:00:00+0100",
            "2026-11-01T00:00:00Z ",
            "1969-12-31T23:59:59Z",
            "tomorrow",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?} should be refused");
        }
    }

    #[test]
    fn formats_round_trip() {
        for t in [0, 951_782_400 + 3_661, 1_793_491_200, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(format_rfc3339(1_793_491_200), "2026-11-01T00:00:00Z");
    }

    #[test]
    fn schedule_phases() {
        let s = Schedule {
            start: Some(100),
            end: Some(200),
        };
        assert_eq!(s.phase(99), Phase::NotStarted(100));
        assert_eq!(s.phase(100), Phase::Live);
        assert_eq!(s.phase(199), Phase::Live);
        assert_eq!(s.phase(200), Phase::Ended(200));
        assert!(Schedule::default().is_live(0));
    }
}
