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
use super::{utc_parts, LearnError};

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

/// Generates the synthetic records.
pub fn generate(config: &Config) -> Synthetic {
    let mut rng = Rng::new(config.seed);
    let end = START + config.days * 86_400;
    let mut records = Vec::new();
    let mut groups = BTreeMap::new();
    for _ in 0..config.visitors {
        let visitor = rng.hex(16);
        let group = rng.below(3) as usize;
        groups.insert(visitor.clone(), group);
        let (_, means) = GROUPS[group];
        let mut t = START + rng.below(config.days * 86_400 * 3 / 4);
        let moments = 4 + rng.below(10);
        for _ in 0..moments {
            if t >= end {
                break;
            }
            let views = rng.poisson(means[0]) as f64;
            let carts = rng.poisson(means[1]) as f64;
            let searches = rng.poisson(means[2]) as f64;
            let mut signals = Map::new();
            signals.insert("views_7d".into(), json!(views));
            signals.insert("carts_7d".into(), json!(carts));
            signals.insert("searches_7d".into(), json!(searches));
            let category = ["shoes", "bags", "coats"][rng.below(3) as usize];
            signals.insert("top_category".into(), json!(category));
            // What the visitor did at this moment, by its group's habits.
            let roll = rng.unit() * (means[0] + means[1] + means[2]);
            let (kind, event, path) = if roll < means[0] {
                ("page_view", "page_view", format!("/products/{category}"))
            } else if roll < means[0] + means[1] {
                ("event", "add_to_cart", format!("/products/{category}"))
            } else {
                ("event", "search", "/search".to_string())
            };
            records.push(record(&mut rng, t, &visitor, kind, event, &path, &signals));
            if rng.unit() < true_propensity(views, carts, searches) {
                let at = t + 600 + rng.below(20 * 3_600);
                if at < end {
                    records.push(record(
                        &mut rng,
                        at,
                        &visitor,
                        "event",
                        "purchase",
                        "/checkout",
                        &signals,
                    ));
                }
            }
            t += 3_600 + rng.below(48 * 3_600);
        }
    }
    records.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
    let duplicates = records
        .iter()
        .filter(|_| rng.unit() < 0.02)
        .cloned()
        .collect();
    Synthetic {
        records,
        duplicates,
        groups,
    }
}

fn record(
    rng: &mut Rng,
    ts: u64,
    visitor: &str,
    kind: &str,
    event: &str,
    path: &str,
    signals: &Map<String, Value>,
) -> Record {
    Record {
        v: 1,
        id: rng.hex(16),
        ts,
        kind: kind.into(),
        visitor: visitor.into(),
        event: event.into(),
        path: path.into(),
        props: Map::new(),
        utm: Map::new(),
        signals: signals.clone(),
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
        let (y, mo, d, h, _) = utc_parts(batch[0].ts);
        let folder = dir.join(format!("events/{y:04}/{mo:02}/{d:02}/{h:02}"));
        std::fs::create_dir_all(&folder).map_err(|e| io_err(&folder, e))?;
        let file = folder.join(format!("{}.ndjson.gz", rng.hex(16)));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        for r in batch {
            let line = serde_json::to_string(r).expect("records serialize");
            gz.write_all(line.as_bytes())
                .and_then(|()| gz.write_all(b"\n"))
                .map_err(|e| io_err(&file, e))?;
        }
        let bytes = gz.finish().map_err(|e| io_err(&file, e))?;
        std::fs::write(&file, bytes).map_err(|e| io_err(&file, e))?;
    }
    Ok(batches.len())
}

fn io_err(path: &Path, e: std::io::Error) -> LearnError {
    LearnError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
