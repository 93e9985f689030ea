//! Tests that need the codec's private parts: signing arbitrary payloads (to
//! check that even a signed payload cannot make decoding panic or allocate
//! past the limits) and the wire primitives. The public-API properties live in
//! `tests/state_props.rs`.

use proptest::prelude::*;

use super::*;
use crate::state::{Series, WindowCount};

fn key() -> CookieKey {
    CookieKey::new(b"test secret")
}

#[test]
fn error_messages_are_one_sentence() {
    let errors = [
        CookieError::Empty,
        CookieError::TooLong { len: 10_000 },
        CookieError::NotBase64,
        CookieError::TooShort,
        CookieError::BadSignature,
        CookieError::UnknownVersion(3),
        CookieError::Malformed("the payload ends early"),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains(". "), "{msg}");
    }
    assert_eq!(
        CookieError::TooLong { len: 10_000 }.to_string(),
        "the cookie value is 10000 bytes long, over the limit of 3800"
    );
}

#[test]
fn key_debug_hides_the_secret() {
    assert_eq!(format!("{:?}", key()), "CookieKey(..)");
}

#[test]
fn rejects_in_order_of_cost() {
    let k = key();
    assert_eq!(decode("", &k), Err(CookieError::Empty));
    let long = "A".repeat(10_000);
    assert_eq!(decode(&long, &k), Err(CookieError::TooLong { len: 10_000 }));
    assert_eq!(decode("not base64!", &k), Err(CookieError::NotBase64));
    assert_eq!(decode("AAAA", &k), Err(CookieError::TooShort));
    let other = encode(&VisitorState::fresh([1; 16], 5), &CookieKey::new(b"other"));
    assert_eq!(decode(&other, &k), Err(CookieError::BadSignature));
}

#[test]
fn dispatches_on_the_version_byte() {
    let k = key();
    let mut payload = trim::payload(&VisitorState::fresh([7; 16], 1_700_000_000));
    for version in [0u8, 6, 255] {
        payload[0] = version;
        let value = seal(payload.clone(), &k);
        assert_eq!(
            decode(&value, &k),
            Err(CookieError::UnknownVersion(version))
        );
    }
    // A tag with no payload at all (not even a version byte).
    assert_eq!(decode(&seal(vec![], &k), &k), Err(CookieError::TooShort));
}

#[test]
fn signed_but_malformed_payloads_are_rejected() {
    let k = key();
    let good = trim::payload(&VisitorState::fresh([7; 16], 1_700_000_000));
    let mut trailing = good.clone();
    // No value series, no affinities, then a stray byte.
    trailing.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        decode(&seal(trailing, &k), &k),
        Err(CookieError::Malformed(
            "unexpected bytes after the last field"
        ))
    );
    let mut too_many = good[..good.len() - 4].to_vec();
    wire::put_varint(&mut too_many, 65);
    assert_eq!(
        decode(&seal(too_many, &k), &k),
        Err(CookieError::Malformed("too many series"))
    );
    // One series claiming a billion buckets: rejected before allocating.
    let mut huge = good[..good.len() - 4].to_vec();
    huge.extend_from_slice(&[1, 0, 0, 0, 0, 1, 0]);
    wire::put_varint(&mut huge, 1_000_000_000 << 1 | 1);
    assert_eq!(
        decode(&seal(huge, &k), &k),
        Err(CookieError::Malformed("too many buckets in a series"))
    );
}

#[test]
fn sparse_and_dense_series_both_round_trip() {
    let k = key();
    let mut state = VisitorState::fresh([3; 16], 1_700_000_000);
    let mut sparse = vec![0; 300];
    sparse[0] = 1;
    sparse[299] = 70_000;
    for (tracker, counts) in [(1, sparse), (2, vec![5; 12]), (3, vec![]), (4, vec![0, 0])] {
        state.counts.push(WindowCount {
            tracker,
            series: Series {
                width: 50,
                head: 1_700_000_000 / 50,
                counts,
            },
        });
    }
    let value = encode(&state, &k);
    assert_eq!(decode(&value, &k), Ok(state));
    // The 300-bucket series is sparse: a few bytes, not 300.
    assert!(value.len() < 150, "{}", value.len());
}

/// Cookies written before experiments (format 1) still read after the
/// deploy that writes format 2, with no experiments.
#[test]
fn version_one_cookies_still_read() {
    let k = key();
    let mut state = VisitorState::fresh([4; 16], 1_700_000_000);
    state.memberships.push(crate::state::Membership {
        segment: 9,
        since: 1_699_999_000,
        member: true,
        last_held: Some(1_700_000_000),
    });
    let mut payload = Vec::new();
    v1::write(&state, &mut payload);
    assert_eq!(payload[0], 1);
    assert_eq!(decode(&seal(payload, &k), &k), Ok(state.clone()));
    // And what is written now is format 3, carrying experiments.
    state.experiments.push(crate::state::ExperimentEntry {
        experiment: 77,
        variant: 1,
        exposed: Some(1_700_000_000),
        goals: vec![crate::state::GoalEntry {
            goal: 5,
            value: 1999,
        }],
        covariates: vec![],
    });
    let value = encode(&state, &k);
    let bytes = URL_SAFE_NO_PAD.decode(&value).unwrap();
    assert_eq!(bytes[0], 3);
    assert_eq!(decode(&value, &k), Ok(state));
}

/// Covariates (CUPED) make the cookie format 4, which keeps them with their
/// experiment; without any the cookie stays format 3, byte for byte, and a
/// format 3 cookie still reads. A covariate naming no experiment is refused.
#[test]
fn covariates_write_format_four_and_format_three_still_reads() {
    let k = key();
    let mut state = VisitorState::fresh([6; 16], 1_700_000_000);
    for (i, exposed) in [
        (1u32, Some(1_700_000_000)),
        (2, None),
        (3, Some(1_699_999_000)),
    ] {
        state.experiments.push(crate::state::ExperimentEntry {
            experiment: i,
            variant: 1,
            exposed,
            goals: vec![],
            covariates: vec![],
        });
    }
    let three = encode(&state, &k);
    assert_eq!(URL_SAFE_NO_PAD.decode(&three).unwrap()[0], 3);
    let mut payload = Vec::new();
    v3::write(&state, &mut payload);
    assert_eq!(decode(&seal(payload, &k), &k), Ok(state.clone()));
    state.experiments[2].covariates = vec![
        crate::state::Covariate { goal: 9, x: 2 },
        crate::state::Covariate { goal: 10, x: 4_250 },
    ];
    let four = encode(&state, &k);
    let bytes = URL_SAFE_NO_PAD.decode(&four).unwrap();
    assert_eq!(bytes[0], 4);
    // Two covariates: 16 bytes (the v3 lists' two empty counts, the
    // section's count, the experiment's index and its count of covariates,
    // each goal's hash and x).
    let three_bytes = URL_SAFE_NO_PAD.decode(&three).unwrap().len();
    assert_eq!(bytes.len() - three_bytes, 16);
    assert_eq!(decode(&four, &k), Ok(state.clone()));
    // An index past the experiments: malformed, so a fresh visitor.
    let mut payload = Vec::new();
    v4::write(&state, &mut payload);
    let at = payload.len() - 13;
    assert_eq!(payload[at], 2, "the experiment index");
    payload[at] = 3;
    assert!(matches!(
        decode(&seal(payload, &k), &k),
        Err(CookieError::Malformed(_))
    ));
}

/// The visit's campaign writes format 5; a state without one writes what it
/// wrote before (so old Workers read it during a deploy), and format 4 still reads.
#[test]
fn a_campaign_writes_format_five_and_older_formats_still_read() {
    use crate::state::UtmValue;
    let k = key();
    let mut state = VisitorState::fresh([5; 16], 1_700_000_000);
    let before = encode(&state, &k);
    assert_eq!(URL_SAFE_NO_PAD.decode(&before).unwrap()[0], 3);
    state.campaign = vec![
        UtmValue {
            param: 0,
            value: "newsletter".into(),
        },
        UtmValue {
            param: 2,
            value: "spring_newsletter_2026_week14_variantB".into(),
        },
    ];
    let five = encode(&state, &k);
    let bytes = URL_SAFE_NO_PAD.decode(&five).unwrap();
    assert_eq!(bytes[0], 5);
    assert_eq!(decode(&five, &k), Ok(state.clone()));
    // The v3 lists' two counts, the covariates' count, the campaign's count,
    // then (param, length, bytes) twice.
    let before_len = URL_SAFE_NO_PAD.decode(&before).unwrap().len();
    assert_eq!(bytes.len() - before_len, 4 + 2 + 10 + 2 + 38);
    // With covariates too.
    state.experiments.push(crate::state::ExperimentEntry {
        experiment: 1,
        variant: 0,
        exposed: Some(1_700_000_000),
        goals: vec![],
        covariates: vec![crate::state::Covariate { goal: 3, x: 7 }],
    });
    assert_eq!(decode(&encode(&state, &k), &k), Ok(state.clone()));
    let mut four = Vec::new();
    v4::write(&state, &mut four);
    let mut expect = state.clone();
    expect.campaign.clear();
    assert_eq!(decode(&seal(four, &k), &k), Ok(expect));
    // Out of order, unknown, too long: malformed.
    let mut payload = Vec::new();
    v5::write(&state, &mut payload);
    let at = payload.len() - (1 + 1 + 38) - (1 + 1 + 10);
    assert_eq!(payload[at], 0, "the first parameter");
    for bad in [2u8, 7] {
        let mut p = payload.clone();
        p[at] = bad;
        assert!(matches!(
            decode(&seal(p, &k), &k),
            Err(CookieError::Malformed(_))
        ));
    }
    // Values over the limit are dropped by encode, never written.
    state.campaign.push(UtmValue {
        param: 4,
        value: "x".repeat(129),
    });
    let written = decode(&encode(&state, &k), &k).unwrap();
    assert_eq!(written.campaign.len(), 2);
}

/// Cookies written before values and affinities (format 2) still read after
/// the deploy that writes format 3, with those parts empty.
#[test]
fn version_two_cookies_still_read() {
    let k = key();
    let mut state = VisitorState::fresh([5; 16], 1_700_000_000);
    state.experiments.push(crate::state::ExperimentEntry {
        experiment: 7,
        variant: 1,
        exposed: None,
        goals: vec![],
        covariates: vec![],
    });
    let mut payload = Vec::new();
    v2::write(&state, &mut payload);
    assert_eq!(payload[0], 2);
    assert_eq!(decode(&seal(payload, &k), &k), Ok(state));
}

/// Value series (refunds included) and affinities round-trip exactly.
#[test]
fn values_and_affinities_round_trip() {
    use crate::state::{Affinity, CategoryWeight, ValueBucket, ValueSeries};
    let k = key();
    let now = 1_700_000_000;
    let mut state = VisitorState::fresh([6; 16], now);
    state.values.push(ValueSeries {
        tracker: 11,
        width: 648_000,
        head: now / 648_000,
        buckets: vec![
            ValueBucket {
                events: 2,
                sum: 12_999,
                max: 9_999,
            },
            ValueBucket::default(),
            ValueBucket {
                events: 1,
                sum: -4_000,
                max: -4_000,
            },
        ],
    });
    state.affinities.push(Affinity {
        tracker: 12,
        updated: now - 60,
        weights: vec![
            CategoryWeight {
                name: "footwear".into(),
                weight: 350,
            },
            CategoryWeight {
                name: "café".into(),
                weight: 100,
            },
        ],
    });
    let value = encode(&state, &k);
    assert_eq!(decode(&value, &k), Ok(state));
}

#[test]
fn bad_category_names_are_rejected() {
    let k = key();
    // A fresh state's payload ends after the v2 part; add no value series
    // and one affinity.
    let payload = trim::payload(&VisitorState::fresh([7; 16], 1_700_000_000));
    let with_name = |name: &[u8]| {
        let mut p = payload.clone();
        p.push(0);
        p.push(1);
        p.extend_from_slice(&[1, 0, 0, 0, 0, 1]);
        wire::put_varint(&mut p, name.len() as u64);
        p.extend_from_slice(name);
        p.push(100);
        decode(&seal(p, &k), &k)
    };
    assert!(with_name(b"boots").is_ok());
    assert_eq!(
        with_name(&[0xff, 0xfe]),
        Err(CookieError::Malformed("a category name is not UTF-8"))
    );
    assert_eq!(
        with_name(&[b'a'; 33]),
        Err(CookieError::Malformed("a category name is too long"))
    );
}

/// Many experiments (past the decode limit, each with goals) still make a
/// cookie under the cap, keeping the exposed ones and the newest exposures.
#[test]
fn many_experiments_stay_under_the_cap() {
    let k = key();
    let mut state = VisitorState::fresh([4; 16], 1_700_000_000);
    for i in 0..200u32 {
        state.experiments.push(crate::state::ExperimentEntry {
            experiment: i,
            variant: (i % 3) as u8,
            exposed: (i % 2 == 0).then_some(1_600_000_000 + u64::from(i)),
            goals: (0..20)
                .map(|g| crate::state::GoalEntry {
                    goal: g,
                    value: 123_456,
                })
                .collect(),
            covariates: (0..20)
                .map(|g| crate::state::Covariate { goal: g, x: 4_250 })
                .collect(),
        });
    }
    let value = encode(&state, &k);
    assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
    let back = decode(&value, &k).unwrap();
    assert!(!back.experiments.is_empty());
    assert!(back.experiments.len() <= MAX_EXPERIMENTS);
    assert!(back.experiments.iter().all(|e| e.exposed.is_some()));
    // The newest exposure survives.
    assert!(back.experiments.iter().any(|e| e.experiment == 198));
}

#[test]
fn find_cookie_handles_real_headers() {
    let h = "a=1; edgeseg=abc_-; edgeseg2=no;\tquoted=\"q v\" ;empty=; flag; x=y=z";
    assert_eq!(find_cookie(h, "edgeseg"), Some("abc_-"));
    assert_eq!(find_cookie(h, "edgeseg2"), Some("no"));
    assert_eq!(find_cookie(h, "edge"), None);
    assert_eq!(find_cookie(h, "seg"), None);
    assert_eq!(find_cookie(h, "a"), Some("1"));
    assert_eq!(find_cookie(h, "quoted"), Some("q v"));
    assert_eq!(find_cookie(h, "empty"), Some(""));
    assert_eq!(find_cookie(h, "flag"), None);
    assert_eq!(find_cookie(h, "x"), Some("y=z"));
    assert_eq!(find_cookie("", "a"), None);
    assert_eq!(find_cookie("a=\"", "a"), Some("\""));
    assert_eq!(find_cookie("a=1; a=2", "a"), Some("1"));
    assert_eq!(find_cookie("xa=1;a=2", "a"), Some("2"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Even a correctly signed payload (a buggy writer, a leaked secret)
    /// never panics the decoder, and whatever it accepts is within limits.
    #[test]
    fn signed_arbitrary_payloads_never_panic(
        mut payload in proptest::collection::vec(any::<u8>(), 0..600),
        version in 0u8..3,
    ) {
        if version > 0 && !payload.is_empty() {
            payload[0] = version;
        }
        let k = key();
        if let Ok(state) = decode(&seal(payload, &k), &k) {
            prop_assert!(trim::within_limits(&state));
        }
    }

    /// Valid payloads with random bytes spliced in: deep parsing paths.
    #[test]
    fn signed_corrupted_payloads_never_panic(
        at in 0usize..200,
        junk in proptest::collection::vec(any::<u8>(), 1..8),
        buckets in proptest::collection::vec(0u32..3, 0..30),
    ) {
        let k = key();
        let mut state = VisitorState::fresh([9; 16], 1_700_000_000);
        state.counts.push(WindowCount { tracker: 1, series: Series { width: 10, head: 170_000_000, counts: buckets } });
        state.memberships.push(crate::state::Membership { segment: 1, since: 1, member: true, last_held: Some(2) });
        let mut payload = trim::payload(&state);
        let at = at.min(payload.len());
        payload.splice(at..at, junk);
        let _ = decode(&seal(payload, &k), &k);
    }
}
