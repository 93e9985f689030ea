//! Properties of the visitor state: the cookie codec (round trips, tamper
//! rejection, never panicking, trimming under the cap) and the windowed
//! counts of `Series` against an exact model.
#![cfg(not(target_arch = "wasm32"))]

use edgeseg::state::cookie::{decode, encode, CookieError, CookieKey, MAX_COOKIE_VALUE_LEN};
use edgeseg::state::series::{bucket_width_for, buckets_needed};
use edgeseg::state::{
    Affinity, CategoryWeight, Covariate, ExperimentEntry, GoalEntry, LastEvent, Membership,
    RateWindow, Series, UtmValue, ValueBucket, ValueSeries, VisitorState, WindowCount,
};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;

fn key() -> CookieKey {
    CookieKey::new(b"a test secret, not the real one")
}

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => NOW - 100_000..NOW + 100_000,
        1 => Just(0u64),
        1 => any::<u64>(),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 3 => 1..100u32, 1 => any::<u32>()]
}

fn series(max_buckets: usize) -> impl Strategy<Value = Series> {
    (
        prop_oneof![3 => 1..10_000u32, 1 => any::<u32>()],
        prop_oneof![3 => NOW / 600 - 100..NOW / 600 + 100, 1 => any::<u64>()],
        proptest::collection::vec(count(), 0..max_buckets),
    )
        .prop_map(|(width, head, counts)| Series {
            width,
            head,
            counts,
        })
}

fn membership() -> impl Strategy<Value = Membership> {
    (
        any::<u32>(),
        time(),
        any::<bool>(),
        proptest::option::of(time()),
    )
        .prop_map(|(segment, since, member, last_held)| Membership {
            segment,
            since,
            member,
            last_held,
        })
}

/// States of any shape, with up to `n` items of each kind and `buckets` buckets per series.
fn experiment() -> impl Strategy<Value = ExperimentEntry> {
    (
        any::<u32>(),
        any::<u8>(),
        proptest::option::of(time()),
        proptest::collection::vec(
            (any::<u32>(), any::<u64>()).prop_map(|(goal, value)| GoalEntry { goal, value }),
            0..4,
        ),
        // CUPED covariates (cookie format 4); mostly none, as for visitors
        // without history.
        prop_oneof![
            2 => Just(Vec::new()),
            1 => proptest::collection::vec(
                (any::<u32>(), any::<u64>()).prop_map(|(goal, x)| Covariate { goal, x }),
                1..4,
            ),
        ],
    )
        .prop_map(
            |(experiment, variant, exposed, goals, covariates)| ExperimentEntry {
                experiment,
                variant,
                exposed,
                goals,
                covariates,
            },
        )
}

fn value_series(max_buckets: usize) -> impl Strategy<Value = ValueSeries> {
    let bucket = prop_oneof![
        2 => Just(ValueBucket::default()),
        3 => (1..5u32, -100_000..1_000_000i64, -10_000..500_000i64)
            .prop_map(|(events, sum, max)| ValueBucket { events, sum, max }),
    ];
    (
        any::<u32>(),
        prop_oneof![3 => 1..700_000u32, 1 => any::<u32>()],
        prop_oneof![3 => NOW / 600 - 100..NOW / 600 + 100, 1 => any::<u64>()],
        proptest::collection::vec(bucket, 0..max_buckets),
    )
        .prop_map(|(tracker, width, head, buckets)| ValueSeries {
            tracker,
            width,
            head,
            buckets,
        })
}

/// An affinity with up to `n` categories, strongest first (as kept).
fn affinity(n: usize) -> impl Strategy<Value = Affinity> {
    (
        any::<u32>(),
        time(),
        proptest::collection::vec(("[a-z-]{1,32}|.{0,8}", 5..1_000_000u32), 0..n),
    )
        .prop_map(|(tracker, updated, mut weights)| {
            weights.sort_by_key(|w| std::cmp::Reverse(w.1));
            Affinity {
                tracker,
                updated,
                weights: weights
                    .into_iter()
                    .filter(|(name, _)| name.len() <= 32)
                    .map(|(name, weight)| CategoryWeight { name, weight })
                    .collect(),
            }
        })
}

/// A visit's campaign as kept: up to five parameters in order, values up to 128 bytes.
fn campaign() -> impl Strategy<Value = Vec<UtmValue>> {
    proptest::collection::btree_map(0..5u8, "[a-z_0-9]{0,128}|.{0,16}", 0..=5).prop_map(|m| {
        m.into_iter()
            .filter(|(_, v)| v.len() <= 128)
            .map(|(param, value)| UtmValue { param, value })
            .collect()
    })
}

fn state(n: usize, buckets: usize) -> impl Strategy<Value = VisitorState> {
    let times = (time(), time(), time(), prop_oneof![Just(0u64), time()]);
    let rate = prop_oneof![
        Just(RateWindow::default()),
        (time(), any::<u32>(), any::<u32>()).prop_map(|(window_start, count, dropped)| {
            RateWindow {
                window_start,
                count,
                dropped,
            }
        })
    ];
    (
        any::<[u8; 16]>(),
        times,
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(
            (any::<u32>(), series(buckets))
                .prop_map(|(tracker, series)| WindowCount { tracker, series }),
            0..n,
        ),
        proptest::collection::vec(
            (any::<u32>(), time()).prop_map(|(event, at)| LastEvent { event, at }),
            0..n,
        ),
        proptest::collection::vec(membership(), 0..n),
        rate,
        proptest::collection::vec(experiment(), 0..n.min(6)),
        proptest::collection::vec(value_series(buckets), 0..n.min(32)),
        proptest::collection::vec(affinity(16), 0..n.min(16)),
        campaign(),
    )
        .prop_map(
            |(
                visitor_id,
                (first, start, last, prev),
                sessions,
                pages,
                counts,
                last_events,
                memberships,
                rate,
                experiments,
                values,
                affinities,
                campaign,
            )| {
                VisitorState {
                    visitor_id,
                    first_seen: first,
                    session_start: start,
                    last_seen: last,
                    previous_session_end: prev,
                    sessions,
                    session_pages: pages,
                    counts,
                    last_events,
                    memberships,
                    rate,
                    experiments,
                    values,
                    affinities,
                    campaign,
                }
            },
        )
}

/// A returning visitor as the rules typically see one: 10 trackers with 12
/// buckets each, 6 last events, 5 memberships.
fn realistic_state() -> VisitorState {
    let mut s = VisitorState::fresh([0xa5; 16], NOW - 20 * 86_400);
    s.session_start = NOW - 1_800;
    s.last_seen = NOW;
    s.previous_session_end = NOW - 3 * 86_400;
    s.sessions = 7;
    s.session_pages = 12;
    s.rate = RateWindow {
        window_start: NOW - 30,
        count: 4,
        dropped: 0,
    };
    for t in 0..10u32 {
        let window = [600, 3_600, 86_400, 7 * 86_400][t as usize % 4];
        let width = bucket_width_for(window);
        let mut series = Series::new(width);
        for i in 0..12u64 {
            let at = NOW - i * u64::from(width);
            series.add(
                at,
                1 + (t * 7 + i as u32 * 3) % 40,
                buckets_needed(window, width),
            );
        }
        s.counts.push(WindowCount {
            tracker: 0x9e37_79b9u32.wrapping_mul(t + 1),
            series,
        });
    }
    for e in 0..6u32 {
        s.last_events.push(LastEvent {
            event: 0x85eb_ca6bu32.wrapping_mul(e + 1),
            at: NOW - u64::from(e) * 5_000,
        });
    }
    for m in 0..5u32 {
        s.memberships.push(Membership {
            segment: 0xc2b2_ae35u32.wrapping_mul(m + 1),
            since: NOW - u64::from(m) * 40_000,
            member: m != 4,
            last_held: (m == 2).then_some(NOW - 600),
        });
    }
    s
}

#[test]
fn a_realistic_state_encodes_under_1_kb() {
    let s = realistic_state();
    let value = encode(&s, &key());
    println!("realistic state: cookie value of {} bytes", value.len());
    assert!(value.len() < 1024, "{} bytes", value.len());
    assert!(
        value.len() < 500,
        "the module doc promises under 500: {}",
        value.len()
    );
    assert_eq!(decode(&value, &key()), Ok(s));
}

#[test]
fn a_fresh_state_is_tiny() {
    let value = encode(&VisitorState::fresh([1; 16], NOW), &key());
    println!("fresh state: cookie value of {} bytes", value.len());
    assert!(value.len() < 64, "{}", value.len());
}

#[test]
fn a_cookie_signed_with_another_secret_is_rejected() {
    let value = encode(&realistic_state(), &CookieKey::new(b"old secret"));
    assert_eq!(decode(&value, &key()), Err(CookieError::BadSignature));
}

/// `subsequence(sub, of)`: the indices of `of` that a greedy match of `sub` uses, or None.
fn subsequence<T: PartialEq>(sub: &[T], of: &[T]) -> Option<Vec<bool>> {
    let mut kept = vec![false; of.len()];
    let mut j = 0;
    for x in sub {
        while j < of.len() && of[j] != *x {
            j += 1;
        }
        if j == of.len() {
            return None;
        }
        kept[j] = true;
        j += 1;
    }
    Some(kept)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failing seeds go to tests/state_props.regressions, replayed first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn states_that_fit_round_trip(s in state(8, 20)) {
        let k = key();
        let value = encode(&s, &k);
        prop_assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
        prop_assert_eq!(decode(&value, &k), Ok(s));
    }

    #[test]
    fn any_character_change_is_rejected(
        s in state(4, 14),
        at in any::<prop::sample::Index>(),
        c in prop_oneof![
            4 => prop::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().collect::<Vec<_>>()),
            1 => any::<char>(),
        ],
    ) {
        let k = key();
        let value = encode(&s, &k);
        let i = at.index(value.len());
        let original = value.as_bytes()[i] as char;
        prop_assume!(c != original);
        let mutated = format!("{}{}{}", &value[..i], c, &value[i + 1..]);
        prop_assert!(decode(&mutated, &k).is_err(), "{} decoded", mutated);
    }

    #[test]
    fn any_byte_change_under_the_base64_is_rejected(
        s in state(4, 14),
        at in any::<prop::sample::Index>(),
        flip in 1..=255u8,
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let k = key();
        let mut bytes = b64.decode(encode(&s, &k)).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert_eq!(decode(&b64.encode(&bytes), &k), Err(CookieError::BadSignature));
    }

    #[test]
    fn truncations_and_extensions_are_rejected(
        s in state(4, 14),
        cut in any::<prop::sample::Index>(),
        tail in "[A-Za-z0-9_-]{1,8}|.{1,8}",
    ) {
        let k = key();
        let value = encode(&s, &k);
        let n = cut.index(value.len());
        prop_assert!(decode(&value[..n], &k).is_err());
        let appended = value.clone() + &tail;
        let prepended = tail.clone() + &value;
        prop_assert!(decode(&appended, &k).is_err());
        prop_assert!(decode(&prepended, &k).is_err());
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}|[A-Za-z0-9_-]{0,600}") {
        let _ = decode(&s, &key());
    }

}

proptest! {
    // Big states are slow to generate in a debug build; fewer cases.
    #![proptest_config(config(40))]

    /// Many experiments (with goals and values) on top of a typical state:
    /// the cookie stays under its cap, and the assignments kept are exactly
    /// the ones written (never a changed variant), exposed ones first.
    #[test]
    fn many_experiments_stay_under_the_cap(
        mut s in state(8, 20),
        experiments in proptest::collection::vec(experiment(), 0..300),
    ) {
        s.experiments = experiments;
        let k = key();
        let value = encode(&s, &k);
        prop_assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
        let d = decode(&value, &k).unwrap();
        for e in &d.experiments {
            prop_assert!(s.experiments.iter().any(|x| x.experiment == e.experiment && x.variant == e.variant && x.exposed == e.exposed));
            // CUPED covariates go with their experiment, never without it.
            prop_assert!(s.experiments.iter().any(|x| x.experiment == e.experiment && x.covariates == e.covariates));
        }
        let dropped_exposed = s.experiments.iter().filter(|x| x.exposed.is_some()).count()
            - d.experiments.iter().filter(|x| x.exposed.is_some()).count();
        if dropped_exposed > 0 {
            prop_assert!(d.experiments.iter().all(|x| x.exposed.is_some()), "an unexposed one outlived an exposed one");
        }
    }

    #[test]
    fn oversized_states_are_trimmed_under_the_cap_oldest_first(s in state(150, 700)) {
        let k = key();
        let value = encode(&s, &k);
        prop_assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
        let d = decode(&value, &k).unwrap();

        // Identity and visit times are never dropped.
        prop_assert_eq!(d.visitor_id, s.visitor_id);
        prop_assert_eq!(
            (d.first_seen, d.session_start, d.last_seen, d.previous_session_end, d.sessions, d.session_pages, d.rate),
            (s.first_seen, s.session_start, s.last_seen, s.previous_session_end, s.sessions, s.session_pages, s.rate)
        );

        // Series: kept in order, each a prefix (newest buckets) of the original.
        let trackers: Vec<u32> = d.counts.iter().map(|w| w.tracker).collect();
        let all: Vec<u32> = s.counts.iter().map(|w| w.tracker).collect();
        let kept = subsequence(&trackers, &all);
        prop_assert!(kept.is_some(), "series out of order or invented");
        let mut originals = s.counts.iter().zip(kept.unwrap()).filter(|(_, k)| *k).map(|(w, _)| w);
        for w in &d.counts {
            let o = originals.next().unwrap();
            prop_assert_eq!((w.series.width, w.series.head), (o.series.width, o.series.head));
            prop_assert!(o.series.counts.starts_with(&w.series.counts));
        }

        // Last events: the dropped ones are no newer than the kept ones.
        let kept = subsequence(&d.last_events, &s.last_events);
        prop_assert!(kept.is_some());
        let kept = kept.unwrap();
        let newest_dropped = s.last_events.iter().zip(&kept).filter(|(_, k)| !**k).map(|(e, _)| e.at).max();
        let oldest_kept = d.last_events.iter().map(|e| e.at).min();
        if let (Some(dropped), Some(kept)) = (newest_dropped, oldest_kept) {
            prop_assert!(dropped <= kept);
        }

        // Memberships: pending before members, oldest first.
        let kept = subsequence(&d.memberships, &s.memberships);
        prop_assert!(kept.is_some());
        let kept = kept.unwrap();
        let last_dropped = s.memberships.iter().zip(&kept).filter(|(_, k)| !**k).map(|(m, _)| (m.member, m.since)).max();
        let first_kept = d.memberships.iter().map(|m| (m.member, m.since)).min();
        if let (Some(dropped), Some(kept)) = (last_dropped, first_kept) {
            prop_assert!(dropped <= kept);
        }

        check_values_and_affinities(&s, &d)?;
    }

    /// A heavy visitor, built by the operations the Worker applies: half a
    /// year of daily engagement reports (engaged seconds and deepest scroll
    /// on several path globs), purchases and refunds, and page views across
    /// many categories for several affinities. The cookie stays under the
    /// cap; what goes is the oldest buckets and the weakest categories.
    #[test]
    fn heavy_visitors_stay_under_the_cap(
        days in proptest::collection::vec(
            (1..40u32, 0..=100u32, proptest::option::of(-5_000..90_000i64), proptest::collection::vec(0..40usize, 0..12)),
            60..180,
        ),
    ) {
        let k = key();
        let start = NOW - days.len() as u64 * 86_400;
        let mut s = VisitorState::fresh([9; 16], start);
        let windows = [7 * 86_400u64, 30 * 86_400, 90 * 86_400];
        for (t, &window) in windows.iter().cycle().take(12).enumerate() {
            s.counts.push(WindowCount { tracker: t as u32, series: Series::new(bucket_width_for(window)) });
        }
        for t in 0..6u32 {
            let window = windows[t as usize % 3];
            s.values.push(ValueSeries::new(100 + t, bucket_width_for(window)));
        }
        for t in 0..8u32 {
            s.affinities.push(Affinity::new(200 + t));
        }
        for (day, (seconds, scroll, value, categories)) in days.iter().enumerate() {
            let at = start + day as u64 * 86_400;
            for (t, wc) in s.counts.iter_mut().enumerate() {
                let window = windows[t % 3];
                let needed = buckets_needed(window, wc.series.width);
                if t % 2 == 0 {
                    wc.series.add(at, *seconds, needed);
                } else {
                    wc.series.raise(at, *scroll, needed);
                }
            }
            if let Some(v) = value {
                for (t, vs) in s.values.iter_mut().enumerate() {
                    let window = windows[t % 3];
                    vs.add(at, *v, buckets_needed(window, vs.width));
                }
            }
            for a in &mut s.affinities {
                for &c in categories {
                    a.add(&format!("category-number-{c:02}-with-a-long-name"), 1.0 + c as f64 / 10.0, at, 30 * 86_400, 16);
                }
            }
            s.last_seen = at;
        }
        let value = encode(&s, &k);
        prop_assert!(value.len() <= MAX_COOKIE_VALUE_LEN, "{} bytes", value.len());
        let d = decode(&value, &k).unwrap();
        check_values_and_affinities(&s, &d)?;
        // Something of every kind survives a heavy but ordinary visitor.
        prop_assert!(!d.counts.is_empty() || s.counts.iter().all(|c| c.series.is_empty()));
    }
}

/// What trimming keeps of value series and affinities: value series in
/// order, each the newest buckets of its original; every kept affinity keeps
/// its strongest category and a prefix (the strongest) of the others, and no
/// dropped category is stronger than a kept one (other than the strongest).
fn check_values_and_affinities(s: &VisitorState, d: &VisitorState) -> Result<(), TestCaseError> {
    let trackers: Vec<u32> = d.values.iter().map(|v| v.tracker).collect();
    let all: Vec<u32> = s.values.iter().map(|v| v.tracker).collect();
    let kept = subsequence(&trackers, &all);
    prop_assert!(kept.is_some(), "value series out of order or invented");
    let mut originals = s
        .values
        .iter()
        .zip(kept.unwrap())
        .filter(|(_, k)| *k)
        .map(|(v, _)| v);
    for v in &d.values {
        let o = originals.next().unwrap();
        prop_assert_eq!((v.width, v.head), (o.width, o.head));
        prop_assert!(o.buckets.starts_with(&v.buckets));
    }

    let trackers: Vec<u32> = d.affinities.iter().map(|a| a.tracker).collect();
    let all: Vec<u32> = s.affinities.iter().map(|a| a.tracker).collect();
    let kept = subsequence(&trackers, &all);
    prop_assert!(kept.is_some(), "affinities out of order or invented");
    let mut originals = s
        .affinities
        .iter()
        .zip(kept.unwrap())
        .filter(|(_, k)| *k)
        .map(|(a, _)| a);
    let (mut strongest_dropped, mut weakest_kept) = (None::<u32>, None::<u32>);
    for a in &d.affinities {
        let o = originals.next().unwrap();
        prop_assert_eq!(a.updated, o.updated);
        let valid: Vec<&CategoryWeight> = o
            .weights
            .iter()
            .filter(|c| c.name.len() <= 32)
            .take(16)
            .collect();
        prop_assert!(a.weights.len() <= valid.len());
        for (kept, orig) in a.weights.iter().zip(&valid) {
            prop_assert_eq!(kept, *orig);
        }
        if !valid.is_empty() {
            prop_assert!(
                !a.weights.is_empty(),
                "an affinity lost its strongest category"
            );
        }
        for c in a.weights.iter().skip(1) {
            weakest_kept = Some(weakest_kept.map_or(c.weight, |w| w.min(c.weight)));
        }
        for c in valid.iter().skip(a.weights.len().max(1)) {
            strongest_dropped = Some(strongest_dropped.map_or(c.weight, |w| w.max(c.weight)));
        }
    }
    if let (Some(dropped), Some(kept)) = (strongest_dropped, weakest_kept) {
        prop_assert!(
            dropped <= kept,
            "a category of weight {dropped} went before one of {kept}"
        );
    }
    Ok(())
}

/// One step of a visitor's event stream for the series model test.
#[derive(Debug, Clone)]
enum Step {
    /// The clock advances by `.0`, then `.2` events happen `.1` seconds ago.
    Event(u64, u64, u32),
    /// The clock advances by `.0`, then the series is pruned keeping `window + .1`.
    Prune(u64, u64),
}

fn steps(max_advance: u64, max_back: u64) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        8 => (0..=max_advance, prop_oneof![3 => Just(0u64), 2 => 0..=max_back], 1..4u32)
            .prop_map(|(a, b, n)| Step::Event(a, b, n)),
        1 => (0..=max_advance, 0..=max_back).prop_map(|(a, k)| Step::Prune(a, k)),
    ];
    proptest::collection::vec(step, 0..120)
}

fn exact(events: &[(u64, u32)], now: u64, window: u64) -> u64 {
    let from = now.saturating_sub(window);
    events
        .iter()
        .filter(|(t, _)| (from..=now).contains(t))
        .map(|&(_, n)| u64::from(n))
        .sum()
}

proptest! {
    #![proptest_config(config(1_000))]

    /// exact(window) <= count_within(now, window) <= exact(window + width - 1),
    /// for queries at or after every event, with out-of-order events, prunes,
    /// and either the standard width or an arbitrary one.
    #[test]
    fn series_counts_are_within_one_bucket_of_exact(
        window in prop_oneof![0..50u64, 0..5_000u64, Just(600u64), Just(86_400u64)],
        arbitrary_width in prop_oneof![Just(None), (1..200u32).prop_map(Some)],
        start in prop_oneof![0..1_000u64, Just(NOW), Just(u64::MAX - 10_000_000)],
        steps in steps(300, 6_000),
        later in proptest::collection::vec(0..10_000u64, 1..5),
    ) {
        let width = arbitrary_width.unwrap_or_else(|| bucket_width_for(window));
        let max = buckets_needed(window, width);
        let mut series = Series::new(width);
        let mut events = Vec::new();
        let mut clock = start;
        let check = |series: &Series, events: &[(u64, u32)], now: u64| {
            let got = u64::from(series.count_within(now, window));
            let lo = exact(events, now, window);
            let hi = exact(events, now, window + u64::from(width) - 1);
            prop_assert!(lo <= got && got <= hi, "now {} window {} width {}: {} not in [{}, {}] ({:?})", now, window, width, got, lo, hi, series);
            prop_assert!(series.counts.len() <= max);
            Ok(())
        };
        for step in steps {
            match step {
                Step::Event(advance, back, n) => {
                    clock = clock.saturating_add(advance);
                    let at = clock.saturating_sub(back);
                    series.add(at, n, max);
                    events.push((at, n));
                }
                Step::Prune(advance, extra) => {
                    clock = clock.saturating_add(advance);
                    series.prune(clock, window + extra);
                }
            }
            check(&series, &events, clock)?;
        }
        for d in later {
            check(&series, &events, clock.saturating_add(d))?;
        }
        prop_assert_eq!(series.is_empty(), series.count_within(u64::MAX, u64::MAX) == 0);
    }

    /// Whatever the inputs, nothing panics and the size bound holds.
    #[test]
    fn series_survives_extreme_inputs(
        width in any::<u32>(),
        ops in proptest::collection::vec((any::<u64>(), any::<u32>(), 0..64usize, any::<u64>(), any::<u64>()), 0..40),
    ) {
        let mut series = Series::new(width);
        for (at, n, max, now, window) in ops {
            series.add(at, n, max);
            prop_assert!(series.counts.len() <= max.max(1));
            let _ = series.count_within(now, window);
            series.prune(now, window);
        }
    }
}

/// Every step of the trimming order runs: far-apart times make each item cost
/// its maximum, so even the last step (memberships) must drop some.
#[test]
fn trimming_reaches_memberships_last_and_drops_pending_ones_first() {
    let mut s = VisitorState::fresh([2; 16], 0);
    s.last_seen = u64::MAX / 2;
    for i in 0..100u32 {
        s.counts.push(WindowCount {
            tracker: i,
            series: Series {
                width: 1,
                head: u64::from(i),
                counts: vec![u32::MAX; 600],
            },
        });
        s.last_events.push(LastEvent {
            event: i,
            at: u64::from(i),
        });
    }
    for i in 0..200u32 {
        s.memberships.push(Membership {
            segment: i,
            since: u64::MAX - u64::from(i),
            member: i % 4 != 0, // 50 pending
            last_held: Some(u64::MAX),
        });
    }
    let value = encode(&s, &key());
    assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
    let d = decode(&value, &key()).unwrap();
    assert!(d.counts.is_empty() && d.last_events.is_empty());
    // 128 by the decode limit, then fewer to fit: about 25 bytes each here.
    assert!(!d.memberships.is_empty() && d.memberships.len() < 128);
    assert!(d.memberships.iter().all(|m| m.member));
    // The members kept are the most recent ones (largest `since`).
    let min_kept = d.memberships.iter().map(|m| m.since).min().unwrap();
    let dropped_members = s
        .memberships
        .iter()
        .filter(|m| m.member && !d.memberships.contains(m));
    assert!(dropped_members.map(|m| m.since).all(|t| t <= min_kept));
    println!(
        "worst case: kept {} of 200 memberships in {} bytes",
        d.memberships.len(),
        value.len()
    );
}
