//! Reading the totals: the stats endpoint, and `counters` for conditions.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::keys::totals_key;
use super::totals::TotalsDoc;
use super::{hour_of, CounterBatch};
use crate::state::Timestamp;

/// Per counter, per hour, the folded count, for hours `from_hour..=to_hour`.
/// Hours without totals are simply absent.
pub fn totals_between(
    totals: &[(u64, TotalsDoc)],
    from_hour: u64,
    to_hour: u64,
) -> BTreeMap<String, BTreeMap<u64, u64>> {
    let mut out: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for (hour, doc) in totals {
        if *hour < from_hour || *hour > to_hour {
            continue;
        }
        for (name, n) in &doc.counts {
            let c = out
                .entry(name.clone())
                .or_default()
                .entry(*hour)
                .or_insert(0);
            *c = c.saturating_add(*n);
        }
    }
    out
}

/// The stats endpoint's JSON: `{"from_hour": F, "to_hour": T, "counters":
/// {"page_views": {"480000": 12, ...}, ...}}` (hours are UTC `unix_secs / 3600`).
pub fn stats_json(totals: &[(u64, TotalsDoc)], from_hour: u64, to_hour: u64) -> Value {
    let counters: Map<String, Value> = totals_between(totals, from_hour, to_hour)
        .into_iter()
        .map(|(name, hours)| {
            let hours: Map<String, Value> = hours
                .into_iter()
                .map(|(h, n)| (h.to_string(), Value::from(n)))
                .collect();
            (name, Value::Object(hours))
        })
        .collect();
    serde_json::json!({"from_hour": from_hour, "to_hour": to_hour, "counters": counters})
}

/// The KV keys holding hours `from_hour..=to_hour`, for the Worker to read
/// (at most `max_hours` of them, the latest ones, to bound a request's reads).
pub fn totals_keys(from_hour: u64, to_hour: u64, max_hours: u64) -> Vec<(u64, String)> {
    if to_hour < from_hour {
        return Vec::new();
    }
    let from = from_hour.max(to_hour.saturating_sub(max_hours.saturating_sub(1)));
    (from..=to_hour).map(|h| (h, totals_key(h))).collect()
}

/// The UTC hours of the day of `now`, from midnight to the current hour.
pub fn today_hours(now: Timestamp) -> std::ops::RangeInclusive<u64> {
    let hour = hour_of(now);
    (hour - hour % 24)..=hour
}

/// `counters` as conditions see it: per counter, the sum over today's UTC
/// hours (see [`today_hours`]) of the folded totals, plus what this isolate
/// holds unflushed if `unflushed` is given. Approximate by design; see the
/// module doc for how stale it can be.
pub fn counters_today(
    now: Timestamp,
    totals: &[(u64, TotalsDoc)],
    unflushed: Option<&CounterBatch>,
) -> Map<String, Value> {
    let hours = today_hours(now);
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |name: &String, n: u64| {
        let c = sums.entry(name.clone()).or_insert(0);
        *c = c.saturating_add(n);
    };
    for (hour, doc) in totals {
        if hours.contains(hour) {
            doc.counts.iter().for_each(|(name, n)| add(name, *n));
        }
    }
    if let Some(batch) = unflushed {
        for hour in hours {
            batch
                .unflushed(hour)
                .iter()
                .for_each(|(name, n)| add(name, *n));
        }
    }
    sums.into_iter().map(|(k, v)| (k, Value::from(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::keys::{DeltaKey, IsolateId};
    use crate::counters::CounterSettings;

    fn doc(hour: u64, pairs: &[(&str, u64)]) -> (u64, TotalsDoc) {
        let mut d = TotalsDoc::new();
        let counts = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let key = DeltaKey {
            hour,
            isolate: IsolateId::from_bytes([1; 8]),
            seq: 0,
        };
        d.fold(&key, &counts, 0);
        (hour, d)
    }

    #[test]
    fn between_filters_hours() {
        let t = [
            doc(10, &[("a", 1)]),
            doc(11, &[("a", 2), ("b", 3)]),
            doc(12, &[("a", 4)]),
        ];
        let r = totals_between(&t, 10, 11);
        assert_eq!(r["a"], [(10, 1), (11, 2)].into());
        assert_eq!(r["b"], [(11, 3)].into());
        assert_eq!(
            stats_json(&t, 12, 12),
            serde_json::json!({"from_hour": 12, "to_hour": 12, "counters": {"a": {"12": 4}}})
        );
    }

    #[test]
    fn keys_are_bounded() {
        assert_eq!(totals_keys(5, 7, 100).len(), 3);
        assert_eq!(totals_keys(0, 100, 24).first().map(|(h, _)| *h), Some(77));
        assert!(totals_keys(7, 5, 10).is_empty());
        assert_eq!(totals_keys(5, 5, 1), vec![(5, "t:5".to_string())]);
    }

    #[test]
    fn today_sums_todays_hours_and_the_unflushed_batch() {
        let day_start = 20_000 * 24;
        let now = (day_start + 5) * 3600 + 10;
        assert_eq!(today_hours(now), day_start..=day_start + 5);
        let t = [
            doc(day_start - 1, &[("page_views", 100)]), // yesterday
            doc(day_start, &[("page_views", 1)]),
            doc(day_start + 5, &[("page_views", 2), ("events:purchase", 1)]),
        ];
        let mut b = CounterBatch::new(IsolateId::from_bytes([2; 8]), CounterSettings::default());
        b.record("page_views", now, 4);
        let c = counters_today(now, &t, None);
        assert_eq!(c["page_views"], 3);
        assert_eq!(c["events:purchase"], 1);
        assert_eq!(counters_today(now, &t, Some(&b))["page_views"], 7);
    }
}
