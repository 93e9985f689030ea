//! The per-request cookie cost: verify + decode the incoming cookie, then
//! encode + sign the updated one, for a typical returning visitor (10 trackers
//! of 12 buckets, 6 last events, 5 memberships). Also the worst case, a state
//! that must be trimmed to fit the cap.

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use criterion::{black_box, criterion_group, Criterion};
    use edgeseg::state::cookie::{decode, encode, CookieKey};
    use edgeseg::state::series::{bucket_width_for, buckets_needed};
    use edgeseg::state::{LastEvent, Membership, Series, VisitorState, WindowCount};

    const NOW: u64 = 1_700_000_000;

    fn realistic_state() -> VisitorState {
        let mut s = VisitorState::fresh([0xa5; 16], NOW - 20 * 86_400);
        s.session_start = NOW - 1_800;
        s.last_seen = NOW;
        s.previous_session_end = NOW - 3 * 86_400;
        s.sessions = 7;
        s.session_pages = 12;
        for t in 0..10u32 {
            let window = [600, 3_600, 86_400, 7 * 86_400][t as usize % 4];
            let width = bucket_width_for(window);
            let mut series = Series::new(width);
            for i in 0..12u64 {
                series.add(
                    NOW - i * u64::from(width),
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
                last_held: None,
            });
        }
        s
    }

    fn oversized_state() -> VisitorState {
        let mut s = realistic_state();
        for t in 0..64u32 {
            s.counts.push(WindowCount {
                tracker: t,
                series: Series {
                    width: 1,
                    head: NOW - u64::from(t),
                    counts: (0..512).map(|i| i * 1_000).collect(),
                },
            });
        }
        s
    }

    fn cookie(c: &mut Criterion) {
        let key = CookieKey::new(b"bench secret");
        let state = realistic_state();
        let value = encode(&state, &key);
        println!("realistic cookie value: {} bytes", value.len());

        c.bench_function("cookie/decode+verify+encode (realistic)", |b| {
            b.iter(|| {
                let s = decode(black_box(&value), &key).unwrap();
                black_box(encode(&s, &key))
            })
        });
        c.bench_function("cookie/decode+verify (realistic)", |b| {
            b.iter(|| decode(black_box(&value), &key).unwrap())
        });
        c.bench_function("cookie/encode (realistic)", |b| {
            b.iter(|| encode(black_box(&state), &key))
        });
        let big = oversized_state();
        c.bench_function(
            "cookie/encode with trimming (74 series x 512 buckets)",
            |b| b.iter(|| encode(black_box(&big), &key)),
        );
    }

    criterion_group!(benches, cookie);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(bench::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
