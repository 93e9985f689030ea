//! Training in bounded memory: the streamed read with its sample gives the
//! same examples as reading everything when the sample holds every visitor;
//! under a cap it keeps whole visitors, a uniform share of them, whatever
//! the order of the files; `train generate` streams the same files as the
//! in-memory generator; bad files and lines are counted by kind.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use edgeseg::learn::examples;
use edgeseg::learn::read;
use edgeseg::learn::sample::{self, Sampler};
use edgeseg::learn::synth;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeseg-stream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[path = "support/learn.rs"]
mod learn_support;
use learn_support::{features, label};

fn sample_of(dir: &Path, cap: usize) -> (read::Counts, sample::Sample) {
    let mut sampler = Sampler::new(cap);
    let counts = read::stream(dir, &mut |r| sampler.add(r), &mut |_| {}).unwrap();
    (counts, sampler.finish())
}

/// Every file under `dir`, relative path and bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn streamed_generation_writes_the_same_files_as_the_in_memory_one() {
    let config = synth::Config {
        seed: 4,
        visitors: 300,
        days: 10,
    };
    let (a, b) = (temp("gen-a"), temp("gen-b"));
    let s = synth::generate(&config);
    let files = synth::write(&s, &a, config.seed).unwrap();
    let w = synth::generate_to(&config, &b).unwrap();
    assert_eq!(w.records, s.records.len());
    assert_eq!(w.duplicates, s.duplicates.len());
    assert_eq!(w.files, files);
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.len(), files);
    assert!(ta == tb, "the two exports differ");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn with_room_for_everyone_the_stream_gives_the_same_examples_as_reading_all() {
    let dir = temp("same");
    let config = synth::Config::default();
    let s = synth::generate(&config);
    synth::write(&s, &dir, config.seed).unwrap();
    let all = read::read_dir(&dir).unwrap();
    let (counts, sample) = sample_of(&dir, sample::DEFAULT_CAP);
    assert!(!sample.sampled);
    assert_eq!(counts.records, s.records.len() + s.duplicates.len());
    assert_eq!(sample.duplicates, s.duplicates.len());
    assert_eq!(sample.moments.len(), all.records.len());
    assert_eq!(sample.visitors.len(), s.groups.len());
    for with_label in [false, true] {
        let l = label();
        let l = with_label.then_some(&l);
        let a = examples::build(&all.records, &features(), l).unwrap();
        let b = examples::build_sampled(&sample, &features(), l).unwrap();
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        assert_eq!(a.open_window, b.open_window);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn under_a_cap_the_sample_keeps_whole_visitors_and_a_fair_share_of_each_group() {
    let dir = temp("cap");
    let config = synth::Config {
        seed: 8,
        visitors: 3_000,
        days: 28,
    };
    let s = synth::generate(&config);
    synth::write(&s, &dir, config.seed).unwrap();
    let cap = 6_000;
    let (counts, sample) = sample_of(&dir, cap);
    assert!(sample.sampled);
    assert!(sample.moments.len() <= cap);
    assert!(
        sample.moments.len() > cap * 9 / 10,
        "{}",
        sample.moments.len()
    );
    assert_eq!(counts.records, s.records.len() + s.duplicates.len());
    // The stream's own facts cover every record, not only the sample.
    assert_eq!(sample.facts.records, counts.records);
    assert_eq!(
        sample.facts.last_ts,
        s.records.iter().map(|r| r.ts).max().unwrap()
    );
    // Whole visitors: each sampled visitor has every one of its records.
    let mut per_visitor: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &s.records {
        *per_visitor.entry(r.visitor.as_str()).or_default() += 1;
    }
    let mut kept: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..sample.moments.len() {
        *kept.entry(sample.visitor(i)).or_default() += 1;
    }
    for (v, n) in &kept {
        assert_eq!(per_visitor[v], *n, "visitor {v} was cut");
    }
    // A fair share of each behaviour group (a third each in the export).
    let mut groups = [0usize; 3];
    for v in kept.keys() {
        groups[s.groups[*v]] += 1;
    }
    let n = kept.len() as f64;
    for g in groups {
        let share = g as f64 / n;
        assert!((0.25..0.42).contains(&share), "{groups:?}");
    }
    // The same sample whatever the order records arrive in: the kept
    // visitors are those of lowest priority whose moments fit under the cap.
    let mut sampler = Sampler::new(cap);
    for r in s.records.iter().chain(&s.duplicates).rev() {
        sampler.add(r.clone());
    }
    let reversed = sampler.finish();
    let a: BTreeSet<&str> = sample.visitors.iter().map(|v| &**v).collect();
    let b: BTreeSet<&str> = reversed.visitors.iter().map(|v| &**v).collect();
    assert!(a == b, "{} visitors, reversed {}", a.len(), b.len());
    // And it trains: the examples build, the label windows end at the
    // stream's last record.
    let d = examples::build_sampled(&sample, &features(), Some(&label())).unwrap();
    assert_eq!(d.last_ts, sample.facts.last_ts);
    let _ = std::fs::remove_dir_all(&dir);
}

fn gz(lines: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(lines.as_bytes()).unwrap();
    e.finish().unwrap()
}

const GOOD: &str = r#"{"v":1,"id":"a1","ts":1793491200,"kind":"page_view","visitor":"v1","event":"page_view","signals":{"views_7d":1}}"#;

#[test]
fn corrupt_files_cut_lines_and_other_versions_are_counted_by_kind() {
    let dir = temp("bad");
    let hour = dir.join("events/2026/11/01/00");
    std::fs::create_dir_all(&hour).unwrap();
    // Not gzip at all.
    std::fs::write(hour.join("a.ndjson.gz"), b"this is not gzip\n").unwrap();
    // A gzip file cut in half: its first record survives only if whole.
    let mut whole = String::new();
    for i in 0..200 {
        whole.push_str(&GOOD.replace("\"a1\"", &format!("\"b{i}\"")));
        whole.push('\n');
    }
    let bytes = gz(&whole);
    std::fs::write(hour.join("b.ndjson.gz"), &bytes[..bytes.len() / 2]).unwrap();
    // A good file, a bad line, a line cut off at the end, another version.
    let v2 = GOOD.replace("\"v\":1", "\"v\":2").replace("a1", "c2");
    let cut = &GOOD.replace("a1", "c3")[..40];
    let text = format!("{}\nnot json\n{v2}\n{cut}", GOOD.replace("a1", "c1"));
    std::fs::write(hour.join("c.ndjson.gz"), gz(&text)).unwrap();
    let (counts, sample) = sample_of(&dir, 100);
    assert_eq!(counts.files, 3);
    assert_eq!(counts.unreadable_files, 2, "{counts:?}");
    assert_eq!(counts.bad_lines, 2, "{counts:?}");
    assert_eq!(counts.other_version, 1, "{counts:?}");
    assert!(counts
        .first_unreadable
        .as_deref()
        .unwrap()
        .contains("a.ndjson.gz"));
    assert!(counts
        .first_bad_line
        .as_deref()
        .unwrap()
        .contains("c.ndjson.gz:2"));
    // Whatever the cut-off gzip file gave before the damage is kept.
    assert!(sample.moments.len() > 1 && sample.moments.len() < 200);
    let text = counts.skipped_text();
    assert!(text.starts_with("2 unreadable files"), "{text}");
    assert!(text.contains("2 lines not a record"), "{text}");
    assert!(
        text.contains("1 record of another schema version"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
