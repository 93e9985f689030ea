//! A seeded synthetic export with known structure, for tests and for trying
//! `edgeseg train` without a live site (`edgeseg train generate DIR`).
//!
//! Visitors fall into three behaviour groups ([`GROUPS`]) that differ in their
//! recorded signals `views_7d`, `carts_7d` and `searches_7d` (and a text signal
//! `top_category`, which training must ignore). After each moment a visitor
//! buys (`purchase`) within a day with probability
//! `sigmoid(-3 + 0.9 carts_7d - 0.08 views_7d + 0.12 searches_7d)`: carts and
//! searches raise the chance, views alone lower it. About 2% of records are
//! written twice, in a second batch, as a retried export batch would be.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};

use super::record::Record;
use super::LearnError;

/// The groups, and their mean views, carts and searches per 7 days.
pub const GROUPS: [(&str, [f64; 3]); 3] = [
    ("browsers", [12.0, 0.3, 1.0]),
    ("searchers", [4.0, 0.5, 7.0]),
    ("cart_fillers", [6.0, 3.5, 1.0]),
];

/// The known effects on the log-odds of a purchase within a day.
pub const BIAS: f64 = -3.0;
pub const EFFECTS: [(&str, f64); 3] = [
    ("views_7d", -0.08),
    ("carts_7d", 0.9),
    ("searches_7d", 0.12),
];

/// 2026-11-01 00:00 UTC.
pub const START: u64 = 1_793_491_200;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub visitors: usize,
    pub days: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 13,
            visitors: 900,
            days: 28,
        }
    }
}

/// The synthetic export: records in time order (duplicates included, as
/// written) and each visitor's group index.
pub struct Synthetic {
    pub records: Vec<Record>,
    pub duplicates: Vec<Record>,
    pub groups: BTreeMap<String, usize>,
}

/// A small, seeded generator (splitmix64): reproducible on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Poisson by Knuth's product method (fine for the small means used here).
    pub fn poisson(&mut self, mean: f64) -> u64 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
    pub fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        while s.len() < bytes * 2 {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(bytes * 2);
        s
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The true chance of a purchase within a day, given the three signals.
pub fn true_propensity(views: f64, carts: f64, searches: f64) -> f64 {
    sigmoid(BIAS + EFFECTS[0].1 * views + EFFECTS[1].1 * carts + EFFECTS[2].1 * searches)
}

/// One generated record, compact (about 60 bytes), so that generation can
/// hold a day's records rather than a month's `Record`s.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    ts: u64,
    id: u128,
    visitor: u128,
    /// 0 page view, 1 add_to_cart, 2 search, 3 purchase.
    what: u8,
    category: u8,
    counts: [u16; 3],
}

const CATEGORIES: [&str; 3] = ["shoes", "bags", "coats"];

/// 32 hex digits, as `Rng::hex(16)` writes two draws.
fn hex128(rng: &mut Rng) -> u128 {
    let a = rng.next_u64();
    let b = rng.next_u64();
    (u128::from(a) << 64) | u128::from(b)
}

/// Replays the generation, handing every record (in visitor order) and each
/// visitor's group to the callbacks; returns the generator, whose state then
/// picks the duplicates.
fn replay(
    config: &Config,
    on_visitor: &mut dyn FnMut(u128, usize),
    on_row: &mut dyn FnMut(Row),
) -> Rng {
    let mut rng = Rng::new(config.seed);
    let end = START + config.days * 86_400;
    for _ in 0..config.visitors {
        let visitor = hex128(&mut rng);
        let group = rng.below(3) as usize;
        on_visitor(visitor, group);
        let (_, means) = GROUPS[group];
        let mut t = START + rng.below(config.days * 86_400 * 3 / 4);
        let moments = 4 + rng.below(10);
        for _ in 0..moments {
            if t >= end {
                break;
            }
            let views = rng.poisson(means[0]);
            let carts = rng.poisson(means[1]);
            let searches = rng.poisson(means[2]);
            let category = rng.below(3) as u8;
            // What the visitor did at this moment, by its group's habits.
            let roll = rng.unit() * (means[0] + means[1] + means[2]);
            let what = if roll < means[0] {
                0
            } else if roll < means[0] + means[1] {
                1
            } else {
                2
            };
            let counts = [views, carts, searches].map(|c| c.min(u64::from(u16::MAX)) as u16);
            let id = hex128(&mut rng);
            on_row(Row {
                ts: t,
                id,
                visitor,
                what,
                category,
                counts,
            });
            if rng.unit() < true_propensity(views as f64, carts as f64, searches as f64) {
                let at = t + 600 + rng.below(20 * 3_600);
                if at < end {
                    let id = hex128(&mut rng);
                    on_row(Row {
                        ts: at,
                        id,
                        visitor,
                        what: 3,
                        category,
                        counts,
                    });
                }
            }
            t += 3_600 + rng.below(48 * 3_600);
        }
    }
    rng
}

impl Row {
    fn record(&self) -> Record {
        let category = CATEGORIES[self.category as usize];
        let mut signals = Map::new();
        signals.insert("views_7d".into(), json!(f64::from(self.counts[0])));
        signals.insert("carts_7d".into(), json!(f64::from(self.counts[1])));
        signals.insert("searches_7d".into(), json!(f64::from(self.counts[2])));
        signals.insert("top_category".into(), json!(category));
        let (kind, event, path) = match self.what {
            0 => ("page_view", "page_view", format!("/products/{category}")),
            1 => ("event", "add_to_cart", format!("/products/{category}")),
            2 => ("event", "search", "/search".to_string()),
            _ => ("event", "purchase", "/checkout".to_string()),
        };
        record(
            format!("{:032x}", self.id),
            self.ts,
            &format!("{:032x}", self.visitor),
            kind,
            event,
            &path,
            signals,
        )
    }
}

fn by_time(a: &Row, b: &Row) -> std::cmp::Ordering {
    a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id))
}

/// Generates the synthetic records, in memory.
pub fn generate(config: &Config) -> Synthetic {
    let mut rows = Vec::new();
    let mut groups = BTreeMap::new();
    let mut rng = replay(
        config,
        &mut |v, g| {
            groups.insert(format!("{v:032x}"), g);
        },
        &mut |r| rows.push(r),
    );
    rows.sort_by(by_time);
    let duplicates = rows
        .iter()
        .filter(|_| rng.unit() < 0.02)
        .map(Row::record)
        .collect();
    Synthetic {
        records: rows.iter().map(Row::record).collect(),
        duplicates,
        groups,
    }
}

/// What [`generate_to`] wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    pub records: usize,
    pub duplicates: usize,
    pub visitors: usize,
    pub files: usize,
}

/// At most this many records are held at once by [`generate_to`] (a day
/// more if one day alone has more).
pub const GENERATE_WINDOW: usize = 500_000;

/// Generates and writes the export of `config` in time windows, holding one
/// window's compact records at a time: the same files, byte for byte, as
/// [`write`] of [`generate`], at any size. The generation is replayed once
/// per window (cheap beside compressing), and the duplicates (2%) are held
/// until the end, where their batches are written.
pub fn generate_to(config: &Config, dir: &Path) -> Result<Written, LearnError> {
    // A first pass counts the records of each day, and leaves the generator
    // in the state that picks the duplicates.
    let days = config.days.max(1) as usize;
    let mut per_day = vec![0usize; days];
    let mut total = 0;
    let mut pick = replay(config, &mut |_, _| {}, &mut |r| {
        per_day[((r.ts - START) / 86_400) as usize] += 1;
        total += 1;
    });
    let mut names = Rng::new(config.seed.wrapping_add(1));
    let mut duplicates = Vec::new();
    let mut files = 0;
    let mut first = 0;
    while first < days {
        let mut last = first + 1;
        let mut held = per_day[first];
        while last < days && held + per_day[last] <= GENERATE_WINDOW {
            held += per_day[last];
            last += 1;
        }
        let (from, to) = (START + first as u64 * 86_400, START + last as u64 * 86_400);
        let mut rows = Vec::with_capacity(held);
        replay(config, &mut |_, _| {}, &mut |r| {
            if (from..to).contains(&r.ts) {
                rows.push(r);
            }
        });
        rows.sort_by(by_time);
        duplicates.extend(rows.iter().filter(|_| pick.unit() < 0.02).copied());
        files += write_rows(&rows, dir, &mut names)?;
        first = last;
    }
    files += write_rows(&duplicates, dir, &mut names)?;
    Ok(Written {
        records: total,
        duplicates: duplicates.len(),
        visitors: config.visitors,
        files,
    })
}

/// Writes rows (in time order) in batches of one hour and at most 250
/// records, each file named by the next draw of `names`.
fn write_rows(rows: &[Row], dir: &Path, names: &mut Rng) -> Result<usize, LearnError> {
    let mut files = 0;
    for batch in rows.chunk_by(|a, b| a.ts / 3_600 == b.ts / 3_600) {
        for part in batch.chunks(250) {
            let records: Vec<Record> = part.iter().map(Row::record).collect();
            write_batch(&records.iter().collect::<Vec<_>>(), dir, names)?;
            files += 1;
        }
    }
    Ok(files)
}

fn record(
    id: String,
    ts: u64,
    visitor: &str,
    kind: &str,
    event: &str,
    path: &str,
    signals: Map<String, Value>,
) -> Record {
    Record {
        v: 1,
        id,
        ts,
        kind: kind.into(),
        visitor: visitor.into(),
        event: event.into(),
        path: path.into(),
        props: Map::new(),
        utm: Map::new(),
        signals,
        segments: Vec::new(),
        experiments: Map::new(),
        rules_version: Some(json!(1)),
    }
}

/// Writes the export as the Worker does: `events/YYYY/MM/DD/HH/<batch>.ndjson.gz`,
/// batches of at most 250 records within one hour; duplicates go to extra
/// batches of their hour (a retried write). Returns the number of files.
pub fn write(synthetic: &Synthetic, dir: &Path, seed: u64) -> Result<usize, LearnError> {
    let mut rng = Rng::new(seed.wrapping_add(1));
    let mut batches: Vec<Vec<&Record>> = Vec::new();
    for list in [&synthetic.records, &synthetic.duplicates] {
        let mut current: Vec<&Record> = Vec::new();
        for r in list {
            if current
                .first()
                .is_some_and(|f| f.ts / 3_600 != r.ts / 3_600 || current.len() >= 250)
            {
                batches.push(std::mem::take(&mut current));
            }
            current.push(r);
        }
        if !current.is_empty() {
            batches.push(current);
        }
    }
    for batch in &batches {
        write_batch(batch, dir, &mut rng)?;
    }
    Ok(batches.len())
}

/// One batch file in its hour's folder, named by the next draw of `names`.
fn write_batch(batch: &[&Record], dir: &Path, names: &mut Rng) -> Result<(), LearnError> {
    // The same hour partitions the Worker's export writes.
    let folder = dir.join(crate::export::batch::hour_prefix(batch[0].ts));
    std::fs::create_dir_all(&folder).map_err(|e| io_err(&folder, e))?;
    let file = folder.join(format!("{}.ndjson.gz", names.hex(16)));
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for r in batch {
        let line = serde_json::to_string(r).expect("records serialize");
        gz.write_all(line.as_bytes())
            .and_then(|()| gz.write_all(b"\n"))
            .map_err(|e| io_err(&file, e))?;
    }
    let bytes = gz.finish().map_err(|e| io_err(&file, e))?;
    std::fs::write(&file, bytes).map_err(|e| io_err(&file, e))
}

fn io_err(path: &Path, e: std::io::Error) -> LearnError {
    LearnError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
