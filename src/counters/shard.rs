//! A counter shard: applies isolates' batches exactly once, keeps hourly
//! totals, and plans what to publish to KV. Pure: the Worker's Durable Object
//! (`src/edge/shard.rs`) stores what [`ShardCore::take_commit`] returns in its
//! SQLite storage, loads it back with [`ShardCore::load`], and writes what
//! [`ShardCore::plan_publish`] returns to KV; the model test drives the same
//! type with a simulated network, storage and KV.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::batch::{Batch, Counts};
use super::keys::IsolateId;
use super::{day_of_hour, hour_of, CounterSettings};
use crate::state::Timestamp;
use crate::util::hash::fnv1a64;

/// Prefix of the published day keys: `s:{day}:{shard}`.
pub const PUBLISHED_PREFIX: &str = "s:";

/// Format version of [`PublishedDay`] and of the shard's stored meta.
pub const SHARD_FORMAT: u32 = 1;

/// KV key of one shard's totals for one UTC day (`day = unix_secs / 86400`).
pub fn day_key(day: u64, shard: u32) -> String {
    format!("{PUBLISHED_PREFIX}{day}:{shard}")
}

/// The shard an isolate sends to: a hash of its id, so it is always the same
/// shard (which holds that isolate's last applied `seq`), and isolates spread
/// evenly: with `I` busy isolates each shard sees about `I / shards` batches
/// per send interval.
pub fn shard_for(isolate: &IsolateId, shards: u32) -> u32 {
    (fnv1a64(isolate.as_str().as_bytes()) % u64::from(shards.max(1))) as u32
}

/// The value of `s:{day}:{shard}`: one shard's totals for every hour of a day.
///
/// ```json
/// {"v":1,"shard":0,"day":20000,"version":42,"hours":{"480000":{"page_views":12}}}
/// ```
/// A snapshot: each publish replaces the whole day, so a write that failed,
/// landed twice or arrived late is corrected by the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedDay {
    pub v: u32,
    pub shard: u32,
    pub day: u64,
    pub version: u64,
    pub hours: BTreeMap<u64, Counts>,
}

impl PublishedDay {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("published day serializes")
    }

    pub fn from_json(text: &str) -> Result<PublishedDay, String> {
        let d: PublishedDay = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if d.v != SHARD_FORMAT {
            return Err(format!("unknown version {}", d.v));
        }
        Ok(d)
    }
}

/// What [`ShardCore::freshness`] answers. (No serde derives: two numbers in
/// JSON by hand cost the Worker bundle less.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// What this shard published holds every batch it had applied by then
    /// (0: it has never published and has counts waiting).
    pub as_of: Timestamp,
    /// When it publishes next (`None`: nothing waits).
    pub next_publish: Option<Timestamp>,
}

impl Freshness {
    /// `{"as_of": T, "next_publish": T|null}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"as_of": self.as_of, "next_publish": self.next_publish})
    }

    /// The reverse of [`Freshness::to_json`]; `None` for anything else.
    pub fn from_json(v: &serde_json::Value) -> Option<Freshness> {
        Some(Freshness {
            as_of: v.get("as_of")?.as_u64()?,
            next_publish: v.get("next_publish").and_then(serde_json::Value::as_u64),
        })
    }

    /// Every shard's totals together are as fresh as the stalest of them;
    /// the next change comes with the soonest round. `None` for no shards.
    pub fn of_all(shards: &[Freshness]) -> Option<Freshness> {
        let as_of = shards.iter().map(|f| f.as_of).min()?;
        let next_publish = shards.iter().filter_map(|f| f.next_publish).min();
        Some(Freshness {
            as_of,
            next_publish,
        })
    }
}

/// What [`ShardCore::apply`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Counted now.
    Applied,
    /// Already counted (a retry or a duplicate delivery): acknowledged, not counted again.
    Duplicate,
}

/// Counters of the shard itself, for logs and the publish reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    pub applied: u64,
    pub duplicates: u64,
    pub publishes: u64,
    pub publish_failures: u64,
}

/// The shard's small state besides the hourly totals, stored as one row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    v: u32,
    shard: u32,
    /// Per isolate: the last applied `seq` and when it was applied.
    seen: BTreeMap<IsolateId, (u64, Timestamp)>,
    /// Per UTC day: bumped by every applied batch that touched the day.
    versions: BTreeMap<u64, u64>,
    /// Per UTC day: the version last written to KV.
    published: BTreeMap<u64, u64>,
    last_publish: Option<Timestamp>,
    stats: ShardStats,
}

/// What to write to storage, all in one transaction, before acknowledging
/// the batches applied since the last commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCommit {
    /// `(hour, counts JSON)` rows to insert or replace.
    pub upserts: Vec<(u64, String)>,
    /// Hours past retention to delete.
    pub deletes: Vec<u64>,
    /// The meta row (JSON).
    pub meta: String,
}

/// One KV write of a publishing round: `put(key, value, {expirationTtl})`,
/// then [`ShardCore::published`] with `day` and `version` if it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishWrite {
    pub day: u64,
    pub version: u64,
    pub key: String,
    pub value: String,
    pub ttl_secs: u64,
}

/// Stored shard state that cannot be read. The shard refuses batches until it
/// is fixed (nothing is counted into a state it cannot trust); isolates keep
/// their counts and retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    #[error("counter shard storage: hour {hour} holds unreadable counts ({message})")]
    BadHour { hour: u64, message: String },
    #[error("counter shard storage: the meta row is unreadable ({0})")]
    BadMeta(String),
}

/// One shard's state: hourly totals and what it needs to apply each batch
/// once and publish only what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCore {
    meta: Meta,
    hours: BTreeMap<u64, Counts>,
    dirty_hours: BTreeSet<u64>,
    deleted_hours: BTreeSet<u64>,
    meta_dirty: bool,
}

impl ShardCore {
    /// A shard with nothing stored yet.
    pub fn new(shard: u32) -> Self {
        ShardCore {
            meta: Meta {
                v: SHARD_FORMAT,
                shard,
                ..Meta::default()
            },
            hours: BTreeMap::new(),
            dirty_hours: BTreeSet::new(),
            deleted_hours: BTreeSet::new(),
            meta_dirty: false,
        }
    }

    /// The state as stored by earlier commits: every `(hour, counts JSON)` row
    /// and the meta row (`None`: a new shard, numbered `shard`).
    pub fn load(
        shard: u32,
        hours: impl IntoIterator<Item = (u64, String)>,
        meta: Option<&str>,
    ) -> Result<Self, ShardError> {
        let mut core = ShardCore::new(shard);
        if let Some(text) = meta {
            let m: Meta =
                serde_json::from_str(text).map_err(|e| ShardError::BadMeta(e.to_string()))?;
            if m.v != SHARD_FORMAT {
                return Err(ShardError::BadMeta(format!("unknown version {}", m.v)));
            }
            core.meta = m;
        }
        for (hour, text) in hours {
            let counts: Counts = serde_json::from_str(&text).map_err(|e| ShardError::BadHour {
                hour,
                message: e.to_string(),
            })?;
            core.hours.insert(hour, counts);
        }
        Ok(core)
    }

    pub fn shard(&self) -> u32 {
        self.meta.shard
    }

    pub fn stats(&self) -> &ShardStats {
        &self.meta.stats
    }

    /// The last `seq` applied for an isolate (while the shard remembers it).
    pub fn last_seq(&self, isolate: &IsolateId) -> Option<u64> {
        self.meta.seen.get(isolate).map(|&(seq, _)| seq)
    }

    /// Hourly totals as this shard holds them (committed or not).
    pub fn totals(&self) -> &BTreeMap<u64, Counts> {
        &self.hours
    }

    /// Applies a batch unless it was applied before. A batch is new iff its
    /// `seq` is above the last applied one of its isolate: isolates number
    /// batches upwards and seal the next only after this one was
    /// acknowledged, so any `seq` at or below the last applied one has been
    /// applied already.
    pub fn apply(&mut self, batch: &Batch, now: Timestamp) -> ApplyOutcome {
        if self
            .meta
            .seen
            .get(&batch.isolate)
            .is_some_and(|&(last, _)| batch.seq <= last)
        {
            self.meta.stats.duplicates += 1;
            return ApplyOutcome::Duplicate;
        }
        for (&hour, counts) in &batch.hours {
            if counts.values().all(|&n| n == 0) {
                continue;
            }
            let totals = self.hours.entry(hour).or_default();
            for (name, &n) in counts {
                match totals.get_mut(name) {
                    Some(c) => *c = c.saturating_add(n),
                    None => {
                        totals.insert(name.clone(), n);
                    }
                }
            }
            self.dirty_hours.insert(hour);
            self.deleted_hours.remove(&hour);
            *self.meta.versions.entry(day_of_hour(hour)).or_insert(0) += 1;
        }
        self.meta
            .seen
            .insert(batch.isolate.clone(), (batch.seq, now));
        self.meta.stats.applied += 1;
        self.meta_dirty = true;
        ApplyOutcome::Applied
    }

    /// Whether applied batches (or other changes) wait to be committed.
    pub fn has_uncommitted(&self) -> bool {
        self.meta_dirty || !self.dirty_hours.is_empty() || !self.deleted_hours.is_empty()
    }

    /// What to store now (`None`: nothing changed): the changed hours, the
    /// hours past retention to delete, and the meta row. Also forgets hours
    /// past `totals_ttl_secs` and isolates not heard from for `seen_ttl_secs`.
    pub fn take_commit(
        &mut self,
        now: Timestamp,
        settings: &CounterSettings,
    ) -> Option<ShardCommit> {
        self.prune(now, settings);
        if !self.has_uncommitted() {
            return None;
        }
        let upserts = std::mem::take(&mut self.dirty_hours)
            .into_iter()
            .filter_map(|h| {
                let counts = self.hours.get(&h)?;
                Some((h, serde_json::to_string(counts).expect("counts serialize")))
            })
            .collect();
        let deletes = std::mem::take(&mut self.deleted_hours)
            .into_iter()
            .collect();
        self.meta_dirty = false;
        Some(ShardCommit {
            upserts,
            deletes,
            meta: serde_json::to_string(&self.meta).expect("meta serializes"),
        })
    }

    fn prune(&mut self, now: Timestamp, settings: &CounterSettings) {
        let oldest_hour = hour_of(now).saturating_sub(settings.totals_ttl_secs / 3600);
        let old: Vec<u64> = self.hours.range(..oldest_hour).map(|(h, _)| *h).collect();
        for h in old {
            self.hours.remove(&h);
            self.dirty_hours.remove(&h);
            self.deleted_hours.insert(h);
        }
        let oldest_day = day_of_hour(oldest_hour);
        let before = (
            self.meta.versions.len(),
            self.meta.published.len(),
            self.meta.seen.len(),
        );
        self.meta.versions.retain(|d, _| *d >= oldest_day);
        self.meta.published.retain(|d, _| *d >= oldest_day);
        let ttl = settings.seen_ttl_secs;
        self.meta
            .seen
            .retain(|_, &mut (_, at)| now < at || now - at < ttl);
        let after = (
            self.meta.versions.len(),
            self.meta.published.len(),
            self.meta.seen.len(),
        );
        if before != after {
            self.meta_dirty = true;
        }
    }

    /// Days whose totals changed since they were last written to KV.
    pub fn unpublished_days(&self) -> Vec<u64> {
        self.meta
            .versions
            .iter()
            .filter(|(d, v)| self.meta.published.get(d).is_none_or(|p| p < v))
            .map(|(d, _)| *d)
            .collect()
    }

    /// When the next publishing round may run (`None`: nothing to publish).
    pub fn next_publish_at(&self, now: Timestamp, settings: &CounterSettings) -> Option<Timestamp> {
        if self.unpublished_days().is_empty() {
            return None;
        }
        let earliest = self
            .meta
            .last_publish
            .map_or(now, |t| t + settings.publish_interval_secs());
        Some(earliest.max(now))
    }

    /// How fresh this shard's published totals are, for the stats (issue 23:
    /// "1 in all" after 50 page views, with nothing saying why): with nothing
    /// unpublished, KV has everything it applied, as of `now`; otherwise as of
    /// its last round, and the next round is due at `next_publish`.
    pub fn freshness(&self, now: Timestamp, settings: &CounterSettings) -> Freshness {
        match self.next_publish_at(now, settings) {
            None => Freshness {
                as_of: now,
                next_publish: None,
            },
            Some(next) => Freshness {
                as_of: self.meta.last_publish.unwrap_or(0),
                next_publish: Some(next),
            },
        }
    }

    /// The KV writes of a publishing round: each changed day whole, if a round
    /// is due (`publish_interval_secs` since the last round) or `force`d.
    /// Call it right after a commit, so only stored totals go out.
    pub fn plan_publish(
        &mut self,
        now: Timestamp,
        settings: &CounterSettings,
        force: bool,
    ) -> Vec<PublishWrite> {
        let due = self.next_publish_at(now, settings);
        if due.is_none() || (!force && due.is_some_and(|t| t > now)) {
            return Vec::new();
        }
        self.meta.last_publish = Some(now);
        self.meta_dirty = true;
        self.unpublished_days()
            .into_iter()
            .map(|day| {
                let version = self.meta.versions[&day];
                let first = day * 24;
                let hours = self
                    .hours
                    .range(first..first + 24)
                    .map(|(h, c)| (*h, c.clone()))
                    .collect();
                let doc = PublishedDay {
                    v: SHARD_FORMAT,
                    shard: self.meta.shard,
                    day,
                    version,
                    hours,
                };
                PublishWrite {
                    day,
                    version,
                    key: day_key(day, self.meta.shard),
                    value: doc.to_json(),
                    ttl_secs: settings.totals_ttl_secs.max(60),
                }
            })
            .collect()
    }

    /// The write of `day` at `version` succeeded.
    pub fn published(&mut self, day: u64, version: u64) {
        let p = self.meta.published.entry(day).or_insert(0);
        *p = (*p).max(version);
        self.meta.stats.publishes += 1;
        self.meta_dirty = true;
    }

    /// A publish write failed: the day stays unpublished for the next round.
    pub fn publish_failed(&mut self) {
        self.meta.stats.publish_failures += 1;
        self.meta_dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(iso: u8, seq: u64, hour: u64, n: u64) -> Batch {
        Batch {
            isolate: IsolateId::from_bytes([iso; 8]),
            seq,
            hours: [(hour, [("page_views".to_string(), n)].into())].into(),
        }
    }

    const H: u64 = 480_000;
    const NOW: Timestamp = H * 3600 + 10;

    #[test]
    fn freshness_is_now_with_nothing_waiting_else_the_last_round() {
        let settings = CounterSettings::default();
        let mut s = ShardCore::new(0);
        assert_eq!(
            s.freshness(NOW, &settings),
            Freshness {
                as_of: NOW,
                next_publish: None
            }
        );
        s.apply(&batch(1, 1, H, 3), NOW);
        let waiting = s.freshness(NOW, &settings);
        assert_eq!(
            waiting,
            Freshness {
                as_of: 0,
                next_publish: Some(NOW)
            }
        );
        let writes = s.plan_publish(NOW, &settings, false);
        for w in &writes {
            s.published(w.day, w.version);
        }
        assert_eq!(s.freshness(NOW + 5, &settings).as_of, NOW + 5);
        s.apply(&batch(1, 2, H, 1), NOW + 10);
        let interval = settings.publish_interval_secs();
        assert_eq!(
            s.freshness(NOW + 10, &settings),
            Freshness {
                as_of: NOW,
                next_publish: Some(NOW + interval)
            }
        );
    }

    #[test]
    fn freshness_json_round_trips() {
        for f in [
            Freshness {
                as_of: 5,
                next_publish: None,
            },
            Freshness {
                as_of: 0,
                next_publish: Some(9),
            },
        ] {
            assert_eq!(Freshness::from_json(&f.to_json()), Some(f));
        }
        assert_eq!(Freshness::from_json(&serde_json::Value::Null), None);
    }

    #[test]
    fn all_shards_are_as_fresh_as_the_stalest() {
        let f = |as_of, next_publish| Freshness {
            as_of,
            next_publish,
        };
        assert_eq!(Freshness::of_all(&[]), None);
        assert_eq!(
            Freshness::of_all(&[f(100, None), f(40, Some(220)), f(90, Some(150))]),
            Some(f(40, Some(150)))
        );
    }

    #[test]
    fn applies_each_batch_once() {
        let mut s = ShardCore::new(0);
        assert_eq!(s.apply(&batch(1, 1, H, 3), NOW), ApplyOutcome::Applied);
        assert_eq!(s.apply(&batch(1, 1, H, 3), NOW), ApplyOutcome::Duplicate);
        assert_eq!(s.apply(&batch(2, 1, H, 4), NOW), ApplyOutcome::Applied);
        assert_eq!(s.apply(&batch(1, 2, H, 1), NOW), ApplyOutcome::Applied);
        // A stale retry of an earlier batch, arriving after a later one.
        assert_eq!(s.apply(&batch(1, 1, H, 3), NOW), ApplyOutcome::Duplicate);
        assert_eq!(s.totals()[&H]["page_views"], 8);
        assert_eq!(s.stats().duplicates, 2);
    }

    #[test]
    fn commits_reload_to_the_same_state() {
        let settings = CounterSettings::default();
        let mut s = ShardCore::new(3);
        s.apply(&batch(1, 1, H, 3), NOW);
        s.apply(&batch(1, 2, H + 1, 2), NOW);
        let c = s.take_commit(NOW, &settings).unwrap();
        assert_eq!(c.upserts.len(), 2);
        assert_eq!(s.take_commit(NOW, &settings), None, "nothing new");
        let loaded = ShardCore::load(3, c.upserts.clone(), Some(&c.meta)).unwrap();
        assert_eq!(loaded, s);
        assert_eq!(
            loaded.clone().apply(&batch(1, 2, H, 9), NOW),
            ApplyOutcome::Duplicate
        );
        assert!(matches!(
            ShardCore::load(3, [(H, "x".to_string())], None),
            Err(ShardError::BadHour { hour: H, .. })
        ));
        assert!(ShardCore::load(3, [], Some("{}")).is_err());
    }

    #[test]
    fn publishes_only_changed_days_at_the_budgeted_rate() {
        let settings = CounterSettings::default();
        let interval = settings.publish_interval_secs();
        assert_eq!(interval, 173, "1 shard, 500 writes a day");
        let mut s = ShardCore::new(0);
        assert!(
            s.plan_publish(NOW, &settings, false).is_empty(),
            "nothing yet"
        );
        s.apply(&batch(1, 1, H, 3), NOW);
        s.take_commit(NOW, &settings);
        let w = s.plan_publish(NOW, &settings, false);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].key, day_key(H / 24, 0));
        let doc = PublishedDay::from_json(&w[0].value).unwrap();
        assert_eq!(doc.hours[&H]["page_views"], 3);
        s.published(w[0].day, w[0].version);
        assert!(
            s.plan_publish(NOW + 1, &settings, true).is_empty(),
            "unchanged"
        );
        s.apply(&batch(1, 2, H, 1), NOW + 5);
        assert!(
            s.plan_publish(NOW + 5, &settings, false).is_empty(),
            "not due"
        );
        assert_eq!(s.next_publish_at(NOW + 5, &settings), Some(NOW + interval));
        assert_eq!(s.plan_publish(NOW + 5, &settings, true).len(), 1, "forced");
        s.publish_failed();
        assert_eq!(s.unpublished_days(), vec![H / 24]);
    }

    #[test]
    fn old_hours_and_silent_isolates_are_forgotten() {
        let settings = CounterSettings::default();
        let mut s = ShardCore::new(0);
        s.apply(&batch(1, 1, H, 3), NOW);
        s.take_commit(NOW, &settings);
        let later = NOW + settings.totals_ttl_secs + 7200;
        let c = s.take_commit(later, &settings).unwrap();
        assert_eq!(c.deletes, vec![H]);
        assert!(s.totals().is_empty());
        // The isolate was forgotten too: its next batch (a higher seq) applies.
        assert_eq!(
            s.apply(&batch(1, 2, later / 3600, 1), later),
            ApplyOutcome::Applied
        );
    }

    #[test]
    fn shards_spread_isolates() {
        let mut per = [0u32; 4];
        for i in 0..4000u32 {
            let id = IsolateId::from_bytes((u64::from(i) * 0x9e37_79b9).to_le_bytes());
            per[shard_for(&id, 4) as usize] += 1;
        }
        assert!(per.iter().all(|&n| (850..1150).contains(&n)), "{per:?}");
        assert_eq!(shard_for(&IsolateId::from_bytes([1; 8]), 1), 0);
    }
}
