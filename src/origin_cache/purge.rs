//! Purges that every location sees: a generation number in every cache key
//! (purge everything) and purge times per path (purge one path, all its
//! query variants), kept in one KV value.
//!
//! Why not only `cache.delete`: the Workers Cache API is per data center, so a
//! delete reaches the location that ran it and no other. The log in KV reaches
//! them all (within KV's propagation and the Worker's refresh interval); the
//! Worker also deletes the entry locally so the purging location sees it at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CachePolicy;

/// KV key of the purge log.
pub const PURGE_KEY: &str = "origin_cache:purges";

/// Paths kept before a purge of one more path becomes a purge of everything
/// (the log is read by every isolate, so it stays small).
const MAX_PATHS: usize = 500;

/// The purge log (JSON in KV under [`PURGE_KEY`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeLog {
    /// Part of every cache key: raising it leaves every stored copy unreachable.
    pub generation: u64,
    /// Path → when it was purged (Unix ms): copies of that path stored at or
    /// before that time are not served.
    #[serde(default)]
    pub paths: BTreeMap<String, u64>,
}

impl PurgeLog {
    pub fn from_json(text: &str) -> Result<PurgeLog, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable purge log: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether a copy of `path` stored at `stored_at_ms` was purged since.
    pub fn is_purged(&self, path: &str, stored_at_ms: u64) -> bool {
        self.paths.get(path).is_some_and(|at| stored_at_ms <= *at)
    }

    /// Everything: a new generation, and the per-path times are moot.
    pub fn purge_all(&mut self) {
        self.generation += 1;
        self.paths.clear();
    }

    /// One path, at `now_ms`. Times older than `horizon_secs` (the longest a
    /// copy can live) are dropped, since no copy they could hide is left; past
    /// [`MAX_PATHS`] paths the purge becomes a purge of everything.
    pub fn purge_path(&mut self, path: &str, now_ms: u64, horizon_secs: u64) {
        let oldest = now_ms.saturating_sub(horizon_secs.saturating_mul(1_000));
        self.paths.retain(|_, at| *at >= oldest);
        self.paths.insert(path.to_string(), now_ms);
        if self.paths.len() > MAX_PATHS {
            self.purge_all();
        }
    }
}

/// The longest a stored copy can live under a policy: the `max_ttl` plus the
/// longer stale bound.
pub fn horizon_secs(policy: &CachePolicy) -> u64 {
    policy.max_ttl.max(policy.ttl) + policy.stale_while_revalidate.max(policy.stale_if_error)
}

/// Whether saving new rules must purge the cache. The cached copies are the
/// origin's default pages, before any personalization, so segments, blocks,
/// content, signals and experiments never make them wrong: the rewrite runs
/// after the cache. Only a change to `settings.origin_cache` itself does: a
/// session cookie newly listed means copies may have been stored from
/// logged-in requests; a parameter no longer ignored means a copy under the
/// shorter key may be that parameter's page; shorter lifetimes must not be
/// outlived by copies stored under the longer ones; and a cache turned back
/// on must not serve what it kept while it was off.
pub fn settings_change_purges(old: &CachePolicy, new: &CachePolicy) -> bool {
    old != new
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn a_path_purge_hides_older_copies_of_that_path_only() {
        let mut log = PurgeLog::default();
        log.purge_path("/a", 10_000, 3_600);
        assert!(log.is_purged("/a", 9_000));
        assert!(log.is_purged("/a", 10_000), "stored in the same ms: purged");
        assert!(!log.is_purged("/a", 10_001), "stored after the purge");
        assert!(!log.is_purged("/b", 9_000));
        assert_eq!(log.generation, 0);
    }

    #[test]
    fn purge_times_past_the_horizon_are_dropped() {
        let mut log = PurgeLog::default();
        log.purge_path("/old", 1_000, 60);
        log.purge_path("/new", 1_000 + 61_000, 60);
        assert_eq!(log.paths.keys().collect::<Vec<_>>(), ["/new"]);
    }

    #[test]
    fn too_many_paths_become_a_purge_of_everything() {
        let mut log = PurgeLog::default();
        for i in 0..=MAX_PATHS {
            log.purge_path(&format!("/p{i}"), 5_000, 3_600);
        }
        assert_eq!(log.generation, 1);
        assert!(log.paths.is_empty());
    }

    #[test]
    fn purge_all_bumps_the_generation_and_round_trips() {
        let mut log = PurgeLog::default();
        log.purge_path("/a", 1, 10);
        log.purge_all();
        assert_eq!(
            log,
            PurgeLog {
                generation: 1,
                paths: BTreeMap::new()
            }
        );
        log.purge_path("/x", 7, 10);
        assert_eq!(PurgeLog::from_json(&log.to_json()), Ok(log));
        assert_eq!(
            PurgeLog::from_json(r#"{"generation": 4}"#)
                .unwrap()
                .generation,
            4
        );
        assert!(PurgeLog::from_json("[]").is_err());
    }

    #[test]
    fn only_a_change_of_the_cache_settings_purges_on_save() {
        let a = CachePolicy {
            enabled: true,
            ..CachePolicy::default()
        };
        assert!(!settings_change_purges(&a, &a.clone()));
        let b = CachePolicy {
            session_cookies: vec!["sid".into()],
            ..a.clone()
        };
        assert!(settings_change_purges(&a, &b));
        let off = CachePolicy::default();
        assert!(settings_change_purges(&off, &a), "turned on");
        assert_eq!(horizon_secs(&a), 86_400 + 600);
    }
}
