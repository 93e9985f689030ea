//! Reading the totals: the stats endpoint, and `counters` for conditions.
//!
//! Both read the shards' published day keys from KV ([`day_keys`]), sum them
//! over shards ([`sum_days`]) and hand the hourly totals here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::batch::Counts;
use super::shard::{day_key, PublishedDay};
use super::{day_of_hour, hour_of, CounterBatch};
use crate::state::Timestamp;

/// The KV keys holding hours `from_hour..=to_hour`: each UTC day of the range,
/// for each shard `0..shards`.
pub fn day_keys(from_hour: u64, to_hour: u64, shards: u32) -> Vec<String> {
    if to_hour < from_hour {
        return Vec::new();
    }
    (day_of_hour(from_hour)..=day_of_hour(to_hour))
        .flat_map(|day| (0..shards.max(1)).map(move |s| day_key(day, s)))
        .collect()
}

/// Adds into `into` the counters named `prefix…` of the hours `from..=to`.
/// [`sum_days`] answers whole days, so a caller that asked for hours must
/// keep only those: the experiment crons fold settled hours into a base once
/// and read the rest each run, and a whole day would count its folded hours
/// again (the bandit's weights did).
pub fn add_hours(into: &mut Counts, hours: &[(u64, Counts)], from: u64, to: u64, prefix: &str) {
    for (_, counts) in hours.iter().filter(|(h, _)| (from..=to).contains(h)) {
        for (name, n) in counts.iter().filter(|(k, _)| k.starts_with(prefix)) {
            let c = into.entry(name.clone()).or_insert(0);
            *c = c.saturating_add(*n);
        }
    }
}

/// Hourly totals summed over the shards' published days (one entry per hour,
/// ascending). A shard's day appearing twice (it should not) counts once.
pub fn sum_days(days: &[PublishedDay]) -> Vec<(u64, Counts)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: BTreeMap<u64, Counts> = BTreeMap::new();
    for d in days {
        if !seen.insert((d.day, d.shard)) {
            continue;
        }
        for (hour, counts) in &d.hours {
            let sum = out.entry(*hour).or_default();
            for (name, n) in counts {
                let c = sum.entry(name.clone()).or_insert(0);
                *c = c.saturating_add(*n);
            }
        }
    }
    out.into_iter().collect()
}

/// Per counter, per hour, the total, for hours `from_hour..=to_hour`.
/// Hours without totals are simply absent.
pub fn totals_between(
    totals: &[(u64, Counts)],
    from_hour: u64,
    to_hour: u64,
) -> BTreeMap<String, BTreeMap<u64, u64>> {
    let mut out: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for (hour, counts) in totals {
        if *hour < from_hour || *hour > to_hour {
            continue;
        }
        for (name, n) in counts {
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
pub fn stats_json(totals: &[(u64, Counts)], from_hour: u64, to_hour: u64) -> Value {
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

/// The UTC hours of the day of `now`, from midnight to the current hour.
pub fn today_hours(now: Timestamp) -> std::ops::RangeInclusive<u64> {
    let hour = hour_of(now);
    (hour - hour % 24)..=hour
}

/// `counters` as conditions see it: per counter, the sum over today's UTC
/// hours (see [`today_hours`]) of the published totals, plus what this isolate
/// holds unacknowledged if `unflushed` is given. Approximate by design; see
/// the module doc for how stale it can be.
pub fn counters_today(
    now: Timestamp,
    totals: &[(u64, Counts)],
    unflushed: Option<&CounterBatch>,
) -> Map<String, Value> {
    let hours = today_hours(now);
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |name: &String, n: u64| {
        let c = sums.entry(name.clone()).or_insert(0);
        *c = c.saturating_add(n);
    };
    for (hour, counts) in totals {
        if hours.contains(hour) {
            counts.iter().for_each(|(name, n)| add(name, *n));
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
    use crate::counters::keys::IsolateId;
    use crate::counters::CounterSettings;

    fn hour(h: u64, pairs: &[(&str, u64)]) -> (u64, Counts) {
        (h, pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn add_hours_keeps_the_hours_asked_for_and_the_prefix() {
        let day = [
            hour(10, &[("exp:a:x:exposures", 1), ("exp:b:x:exposures", 7)]),
            hour(11, &[("exp:a:x:exposures", 2)]),
            hour(12, &[("exp:a:x:exposures", 4), ("page_views", 9)]),
        ];
        let mut into = Counts::new();
        add_hours(&mut into, &day, 11, 12, "exp:a:");
        assert_eq!(
            into,
            [("exp:a:x:exposures".to_string(), 6)].into_iter().collect()
        );
        add_hours(&mut into, &day, 10, 10, "exp:a:");
        assert_eq!(into["exp:a:x:exposures"], 7);
    }

    #[test]
    fn between_filters_hours() {
        let t = [
            hour(10, &[("a", 1)]),
            hour(11, &[("a", 2), ("b", 3)]),
            hour(12, &[("a", 4)]),
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
    fn day_keys_cover_every_day_and_shard() {
        assert_eq!(day_keys(24, 47, 2), vec!["s:1:0", "s:1:1"]);
        assert_eq!(day_keys(23, 24, 1), vec!["s:0:0", "s:1:0"]);
        assert!(day_keys(7, 5, 3).is_empty());
    }

    #[test]
    fn shards_are_summed() {
        let day = |shard: u32, n: u64| PublishedDay {
            v: 1,
            shard,
            day: 0,
            version: 1,
            hours: [(3, [("x".to_string(), n)].into())].into(),
        };
        let sum = sum_days(&[day(0, 2), day(1, 5), day(1, 5)]);
        assert_eq!(sum, vec![hour(3, &[("x", 7)])]);
    }

    #[test]
    fn today_sums_todays_hours_and_the_unflushed_batch() {
        let day_start = 20_000 * 24;
        let now = (day_start + 5) * 3600 + 10;
        assert_eq!(today_hours(now), day_start..=day_start + 5);
        let t = [
            hour(day_start - 1, &[("page_views", 100)]), // yesterday
            hour(day_start, &[("page_views", 1)]),
            hour(day_start + 5, &[("page_views", 2), ("events:purchase", 1)]),
        ];
        let mut b = CounterBatch::new(IsolateId::from_bytes([2; 8]), CounterSettings::default());
        b.record("page_views", now, 4);
        let c = counters_today(now, &t, None);
        assert_eq!(c["page_views"], 3);
        assert_eq!(c["events:purchase"], 1);
        assert_eq!(counters_today(now, &t, Some(&b))["page_views"], 7);
    }
}
