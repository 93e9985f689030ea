//! A uniform sample of visitors, with all of each sampled visitor's moments,
//! kept in bounded memory while the export streams by.
//!
//! Each visitor gets a pseudo-random priority, a hash of its id. The sample is
//! the visitors of smallest priority whose moments fit under the cap
//! (a bottom-k sample): a new visitor enters while there is room or while its
//! priority is below the largest kept one, which then leaves with all its
//! moments, and the priority it had becomes the threshold above which later
//! records are dropped on sight. So the decision needs no memory of the
//! visitors not kept, a visitor is either wholly in or wholly out (its label,
//! "did it buy later", is never cut off), and every visitor has the same
//! chance to be in, whatever the order of the files.
//!
//! Memory: about [`BYTES_PER_MOMENT`] per kept moment (a compact copy: time,
//! id, event, numeric and text signal values), so the cap bounds it, plus the
//! names of events and signals (at most [`MAX_NAMES`]). Facts the report
//! needs about the whole stream (its time range, the events and numeric
//! signals it holds) are counted as it passes.

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde_json::Value;

use super::record::Record;

/// The default cap on sampled moments (`--sample`).
pub const DEFAULT_CAP: usize = 300_000;
/// A kept moment's memory through the fit, at most (measured with k-means on
/// a million sampled moments: see BENCHMARKS.md "Training in bounded memory").
pub const BYTES_PER_MOMENT: usize = 600;
/// Distinct event and signal names remembered; later new names are ignored.
pub const MAX_NAMES: usize = 4_096;

/// A recorded signal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Number(f64),
    Text(Box<str>),
}

/// One kept moment.
#[derive(Debug, Clone)]
pub struct Moment {
    pub ts: u64,
    pub id: Box<str>,
    /// Index into [`Sample::visitors`].
    pub visitor: u32,
    /// Index into [`Sample::names`].
    pub event: u32,
    /// (name index, value), as recorded.
    pub values: Box<[(u32, Val)]>,
}

/// What the stream held, counted over every record (sampled or not).
#[derive(Debug, Clone, Default)]
pub struct StreamFacts {
    pub records: usize,
    pub first_ts: u64,
    pub last_ts: u64,
    /// Records per event name.
    pub events: BTreeMap<String, u64>,
    /// Numeric signals: how many records carried each, and whether every
    /// value lay in [0, 1] with at least one not a whole number (the shape of
    /// a model's chance).
    pub numeric: BTreeMap<String, NumericFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericFacts {
    pub count: u64,
    pub within_unit: bool,
    pub fractional: bool,
}

impl NumericFacts {
    /// Every value a chance, some not 0 or 1: what a logistic or trees
    /// signal records.
    pub fn looks_like_chance(&self) -> bool {
        self.within_unit && self.fractional
    }
}

/// Names of events and signals, interned.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> Option<u32> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        if self.list.len() >= MAX_NAMES {
            return None;
        }
        let i = self.list.len() as u32;
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), i);
        Some(i)
    }
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
}

struct Kept {
    priority: u64,
    moments: Vec<Moment>,
}

/// Takes records one by one; [`Sampler::finish`] gives the sample.
pub struct Sampler {
    cap: usize,
    /// Visitors of this priority or above are out.
    threshold: u64,
    kept: HashMap<Box<str>, Kept>,
    /// Kept visitors, highest priority on top.
    heap: BinaryHeap<(u64, Box<str>)>,
    moments: usize,
    names: Names,
    facts: StreamFacts,
}

/// A visitor's priority: FNV-1a of its id, mixed (splitmix64's finalizer) so
/// that ids sharing a prefix spread over the whole range.
pub fn priority(visitor: &str) -> u64 {
    let mut z = crate::util::hash::fnv1a64(visitor.as_bytes());
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Sampler {
    /// `cap`: the most moments kept (at least 1).
    pub fn new(cap: usize) -> Sampler {
        Sampler {
            cap: cap.max(1),
            threshold: u64::MAX,
            kept: HashMap::new(),
            heap: BinaryHeap::new(),
            moments: 0,
            names: Names::default(),
            facts: StreamFacts::default(),
        }
    }

    /// Moments held now.
    pub fn moments(&self) -> usize {
        self.moments
    }

    pub fn add(&mut self, r: Record) {
        let f = &mut self.facts;
        f.first_ts = if f.records == 0 {
            r.ts
        } else {
            f.first_ts.min(r.ts)
        };
        f.last_ts = f.last_ts.max(r.ts);
        f.records += 1;
        if let Some(n) = f.events.get_mut(&r.event) {
            *n += 1;
        } else if f.events.len() < MAX_NAMES {
            f.events.insert(r.event.clone(), 1);
        }
        for (name, v) in &r.signals {
            let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
                continue;
            };
            let unit = (0.0..=1.0).contains(&x);
            let frac = x.fract() != 0.0;
            let room = f.numeric.len() < MAX_NAMES;
            match f.numeric.get_mut(name) {
                Some(n) => {
                    n.count += 1;
                    n.within_unit &= unit;
                    n.fractional |= frac;
                }
                None if room => {
                    f.numeric.insert(
                        name.clone(),
                        NumericFacts {
                            count: 1,
                            within_unit: unit,
                            fractional: frac,
                        },
                    );
                }
                None => {}
            }
        }
        let p = priority(&r.visitor);
        if p >= self.threshold {
            return;
        }
        let Some(event) = self.names.intern(&r.event) else {
            return;
        };
        let mut values = Vec::with_capacity(r.signals.len());
        for (name, v) in &r.signals {
            let value = match v {
                Value::String(s) => Val::Text(s.as_str().into()),
                v => match v.as_f64() {
                    Some(x) => Val::Number(x),
                    None => continue,
                },
            };
            if let Some(i) = self.names.intern(name) {
                values.push((i, value));
            }
        }
        let moment = Moment {
            ts: r.ts,
            id: r.id.into_boxed_str(),
            visitor: 0,
            event,
            values: values.into_boxed_slice(),
        };
        match self.kept.get_mut(r.visitor.as_str()) {
            Some(k) => k.moments.push(moment),
            None => {
                let key: Box<str> = r.visitor.into_boxed_str();
                self.heap.push((p, key.clone()));
                self.kept.insert(
                    key,
                    Kept {
                        priority: p,
                        moments: vec![moment],
                    },
                );
            }
        }
        self.moments += 1;
        while self.moments > self.cap {
            let Some((p, visitor)) = self.heap.pop() else {
                break;
            };
            if let Some(k) = self.kept.remove(&visitor) {
                debug_assert_eq!(k.priority, p);
                self.moments -= k.moments.len();
            }
            self.threshold = p;
        }
    }

    /// The sample: moments in time order (then id), duplicates of an id dropped.
    pub fn finish(self) -> Sample {
        let sampled = self.threshold != u64::MAX;
        let mut visitors: Vec<(Box<str>, Kept)> = self.kept.into_iter().collect();
        visitors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut moments = Vec::with_capacity(self.moments);
        let mut names = Vec::with_capacity(visitors.len());
        for (i, (visitor, kept)) in visitors.into_iter().enumerate() {
            names.push(visitor);
            moments.extend(kept.moments.into_iter().map(|mut m| {
                m.visitor = i as u32;
                m
            }));
        }
        moments.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        let before = moments.len();
        moments.dedup_by(|a, b| a.id == b.id);
        Sample {
            duplicates: before - moments.len(),
            moments,
            visitors: names,
            names: self.names,
            facts: self.facts,
            sampled,
            cap: self.cap,
        }
    }
}

/// The sampled moments and what the stream held.
#[derive(Debug, Clone)]
pub struct Sample {
    pub moments: Vec<Moment>,
    pub visitors: Vec<Box<str>>,
    pub names: Names,
    pub facts: StreamFacts,
    /// Duplicate records dropped (among the sampled visitors).
    pub duplicates: usize,
    /// Whether visitors were left out (the cap was reached).
    pub sampled: bool,
    pub cap: usize,
}

impl Sample {
    /// A moment's recorded value of a signal.
    pub fn value(&self, moment: usize, signal: &str) -> Option<&Val> {
        let i = self.names.get(signal)?;
        self.moments[moment]
            .values
            .iter()
            .find(|(n, _)| *n == i)
            .map(|(_, v)| v)
    }

    pub fn visitor(&self, moment: usize) -> &str {
        &self.visitors[self.moments[moment].visitor as usize]
    }

    pub fn event(&self, moment: usize) -> &str {
        &self.names.list[self.moments[moment].event as usize]
    }
}
