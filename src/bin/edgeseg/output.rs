//! Everything the CLI prints: error reports with carets, the simulate report
//! (human and JSON). Pure functions from values to text.

use std::fmt::Write as _;

use edgeseg::classify::{Classification, Standing};
use edgeseg::duration::format_duration;
use edgeseg::rules::CompiledRules;
use edgeseg::signals::SignalValue;
use edgeseg::{RuleError, RuleErrorKind, RuleErrors};
use serde_json::{json, Map, Value};

use edgeseg::rules::locate::{locate, Place};

/// `NAME: valid (version "...", N segments, M blocks)`.
pub fn valid(name: &str, rules: &CompiledRules) -> String {
    format!(
        "{name}: valid (version {:?}, {} segments, {} blocks)",
        rules.version(),
        rules.segments.len(),
        rules.blocks.len()
    )
}

/// Every error of a rules document, each pointing into `text` where it can.
pub fn rule_errors(name: &str, text: &str, errors: &RuleErrors) -> String {
    let mut out = String::new();
    for e in &errors.0 {
        out.push_str(&rule_error("ERROR", name, text, e));
    }
    out
}

/// What a save would warn about (rules::review), printed as errors are.
pub fn rule_warnings(name: &str, text: &str, warnings: &[RuleError]) -> String {
    warnings
        .iter()
        .map(|w| rule_error("WARNING", name, text, w))
        .collect()
}

fn rule_error(label: &str, name: &str, text: &str, e: &RuleError) -> String {
    if let RuleErrorKind::Syntax {
        message,
        line,
        column,
    } = &e.kind
    {
        return syntax_error(name, text, message, *line, *column);
    }
    let mut out = format!("{label}: {name}: {e}\n");
    // An unknown name used as a key inside the value (a condition's attribute):
    // point at that key.
    let inner = match &e.kind {
        RuleErrorKind::UnknownReference { name, .. } => {
            locate(text, &edgeseg::error::path_key(&e.path, name)).and_then(|f| f.key)
        }
        _ => None,
    };
    let found = locate(text, &e.path);
    let spot = inner.or_else(|| {
        found.map(|found| match found.key {
            Some(key) if about_the_key(e) => key,
            _ => found.value,
        })
    });
    if let Some(spot) = spot {
        let _ = writeln!(out, "  at {name}:{}:{}", spot.line, spot.column);
        out.push_str(&caret(text, spot));
    }
    out
}

/// Whether the error is about the name of the last key in its path rather than
/// its value (an unknown field, a content key naming an unknown segment).
fn about_the_key(e: &RuleError) -> bool {
    let name = match &e.kind {
        RuleErrorKind::UnknownField { .. } => return true,
        RuleErrorKind::UnknownReference { name, .. } | RuleErrorKind::Duplicate { name, .. } => {
            name
        }
        _ => return false,
    };
    e.path == edgeseg::error::path_key("", name)
        || e.path.ends_with(&edgeseg::error::path_key("x", name)[1..])
}

/// cel-rust style: `ERROR: NAME:LINE:COL: message`, the line, a caret.
/// `column` may count bytes (as serde_json does); the caret is placed by bytes.
pub fn syntax_error(name: &str, text: &str, message: &str, line: usize, column: usize) -> String {
    let column = column.max(1);
    let mut out = format!("ERROR: {name}:{line}:{column}: {message}\n");
    if let Some(src) = text.lines().nth(line.saturating_sub(1)) {
        let mut cut = column.saturating_sub(1).min(src.len());
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        let chars = src[..cut].chars().count() + 1;
        out.push_str(&caret(
            text,
            Place {
                line,
                column: chars,
            },
        ));
    } else if line > 0 && text.lines().count() > 0 {
        // The text ended early: point just past its last line.
        let last = text.lines().last().unwrap_or("");
        out.push_str(&caret(
            text,
            Place {
                line: text.lines().count(),
                column: last.chars().count() + 1,
            },
        ));
    }
    out
}

/// The source line and a `^` under the column (tabs kept so the caret lines up).
fn caret(text: &str, place: Place) -> String {
    let Some(src) = text.lines().nth(place.line - 1) else {
        return String::new();
    };
    let pad: String = src
        .chars()
        .take(place.column - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(" | {src}\n | {pad}^\n")
}

/// The simulate report, for people.
pub fn simulate_human(rules: &CompiledRules, c: &Classification, now: u64, url: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "rules     {}", rules.version());
    let _ = writeln!(out, "request   {url}");
    let _ = writeln!(out, "now       {now} ({})", utc(now));

    out.push_str("\nsignals\n");
    let width = c.signals.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, value) in &c.signals {
        let shown = match value {
            None => "—".to_string(),
            Some(SignalValue::Number(n)) => number(*n),
            Some(SignalValue::Text(t)) => format!("{t:?}"),
        };
        let _ = writeln!(out, "  {name:<width$}  {shown}");
    }
    if c.signals.is_empty() {
        out.push_str("  (none)\n");
    }

    let width = c
        .outcomes
        .iter()
        .map(|o| o.id.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "\nsegments\n  {:<width$}  priority  condition  standing",
        "segment"
    );
    for o in &c.outcomes {
        let held = if o.condition { "holds" } else { "-" };
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:<9}  {}",
            o.id,
            o.priority,
            held,
            standing(o.standing, now)
        );
    }

    out.push_str("\nvisitor's segments, best first\n");
    if c.segments.is_empty() {
        out.push_str("  (none)\n");
    }
    for (i, s) in c.segments.iter().enumerate() {
        let _ = writeln!(out, "  {}. {s}", i + 1);
    }

    out.push_str("\nblocks\n");
    let width = rules.blocks.iter().map(|b| b.id.len()).max().unwrap_or(0);
    for (id, source) in block_sources(rules, c) {
        let shown = source.unwrap_or("default");
        let _ = writeln!(out, "  {id:<width$}  {shown}");
    }
    for (block, segment, phase) in &c.scheduled {
        let _ = writeln!(out, "  ({block}: {segment}'s content {})", phase.describe());
    }
    if !c.experiments.is_empty() {
        out.push_str("\nexperiments\n");
        let width = c.experiments.iter().map(|o| o.key.len()).max().unwrap_or(0);
        for o in &c.experiments {
            let variant = o.variant_id.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "  {:<width$}  {variant}  ({})",
                o.key,
                o.why.describe()
            );
        }
    }
    out
}

/// The simulate report as one JSON object (fields documented in `simulate --help`).
pub fn simulate_json(rules: &CompiledRules, c: &Classification, now: u64, url: &str) -> Value {
    let signals: Map<String, Value> = c
        .signals
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_ref()
                    .map_or(Value::Null, edgeseg::signals::SignalValue::to_json),
            )
        })
        .collect();
    let segments: Vec<Value> = c
        .outcomes
        .iter()
        .map(|o| {
            let mut seg = json!({
                "id": o.id,
                "priority": o.priority,
                "condition": o.condition,
                "member": o.standing.is_member(),
            });
            let name = o.standing.name();
            let fields = match o.standing {
                Standing::Pending { since, enters_at } => {
                    json!({"standing": name, "since": since, "enters_at": enters_at})
                }
                Standing::Entered => json!({"standing": name, "since": now}),
                Standing::Member { since } => json!({"standing": name, "since": since}),
                Standing::Holding { until } => json!({"standing": name, "until": until}),
                Standing::Out | Standing::Forced => json!({"standing": name}),
            };
            if let (Value::Object(seg), Value::Object(fields)) = (&mut seg, fields) {
                seg.extend(fields);
            }
            seg
        })
        .collect();
    let blocks: Map<String, Value> = block_sources(rules, c)
        .into_iter()
        .map(|(id, s)| (id.to_string(), s.map_or(Value::Null, Value::from)))
        .collect();
    json!({
        "rules_version": rules.version(),
        "now": now,
        "url": url,
        "signals": signals,
        "segments": segments,
        "visitor_segments": c.segments,
        "entered": c.entered,
        "blocks": blocks,
        "experiments": experiments_json(c),
        "scheduled": scheduled_json(c),
    })
}

/// Segment content passed over for its schedule, for `simulate --json`.
pub fn scheduled_json(c: &Classification) -> Value {
    c.scheduled
        .iter()
        .map(|(block, segment, phase)| {
            json!({"block": block, "segment": segment, "why": phase.describe()})
        })
        .collect()
}

/// Each experiment's variant (null: none) and why, for `simulate --json`.
pub fn experiments_json(c: &Classification) -> Value {
    c.experiments
        .iter()
        .map(|o| {
            json!({
                "experiment": o.key,
                "variant": o.variant_id,
                "why": o.why.describe(),
                "blocks": o.blocks,
            })
        })
        .collect()
}

/// Each block of the rules, with the segment (or `experiment:KEY:VARIANT`)
/// whose content it gets (None: default).
pub fn block_sources<'a>(
    rules: &'a CompiledRules,
    c: &'a Classification,
) -> Vec<(&'a str, Option<&'a str>)> {
    rules
        .blocks
        .iter()
        .map(|b| {
            let source = c
                .plan
                .blocks
                .iter()
                .find(|r| r.block_id == b.id)
                .map(|r| r.source.as_str());
            (b.id.as_str(), source)
        })
        .collect()
}

fn standing(s: Standing, now: u64) -> String {
    match s {
        Standing::Out => "out".into(),
        Standing::Entered => "entered (this request)".into(),
        Standing::Member { since } => format!("member since {}", ago(since, now)),
        Standing::Pending { enters_at, .. } => format!("pending until {}", ago(enters_at, now)),
        Standing::Holding { until } => format!("holding until {}", ago(until, now)),
        Standing::Forced => "forced".into(),
    }
}

/// `5m ago`, `in 1m`, `now`, relative to `now`.
fn ago(t: u64, now: u64) -> String {
    match t.cmp(&now) {
        std::cmp::Ordering::Less => format!("{} ago", short(now - t)),
        std::cmp::Ordering::Equal => "now".into(),
        std::cmp::Ordering::Greater => format!("{} from now", short(t - now)),
    }
}

/// A duration in its largest exact unit, or minutes and seconds.
fn short(secs: u64) -> String {
    let exact = format_duration(secs);
    if exact.ends_with('s') && secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        exact
    }
}

/// A signal value: whole numbers as such, fractions to 4 decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(t: u64) -> String {
    let (y, m, d, h, mi, sec) = edgeseg::duration::utc_parts(t);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{sec:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(short(300), "5m");
        assert_eq!(short(90), "1m30s");
        assert_eq!(ago(100, 400), "5m ago");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.123456), "0.1235");
    }

    #[test]
    fn syntax_errors_put_a_caret_under_the_column() {
        let text = "{\n  \"a\": 1\n  \"b\": 2\n}";
        let out = syntax_error("r.json", text, "expected `,` or `}`", 3, 3);
        assert_eq!(
            out,
            "ERROR: r.json:3:3: expected `,` or `}`\n |   \"b\": 2\n |   ^\n"
        );
    }
}
