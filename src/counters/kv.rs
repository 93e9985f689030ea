//! An in-memory KV ([`MemoryKv`]) that can behave like Workers KV at its
//! worst: reads up to a minute stale, writes that fail (having happened or
//! not). The scale model (`tests/counters_model.rs`) publishes the shards'
//! days into it and reads them back the way the Worker does. The Worker
//! itself talks to Workers KV directly (`src/edge/counters.rs`, `src/edge/shard.rs`):
//! the live design needs only a get per day key and a put per publish.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::state::Timestamp;

/// A failed [`MemoryKv`] operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KvError(pub String);

/// How badly [`MemoryKv`] behaves. Rates are per mille.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Puts that report failure.
    pub put_fail: u32,
    /// Of the failed puts, those that took effect anyway.
    pub put_fail_landed: u32,
    /// Reads may return any version written within this many seconds before
    /// now, or the one before them (KV's ~60 s).
    pub stale_secs: u64,
}

#[derive(Debug, Clone)]
struct Version {
    at: Timestamp,
    value: String,
    expires_at: Timestamp,
}

#[derive(Debug, Default)]
struct Inner {
    now: Timestamp,
    faults: Faults,
    rng: u64,
    keys: BTreeMap<String, Vec<Version>>,
}

impl Inner {
    fn roll(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.next() % 1000 < u64::from(per_mille)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic from the caller's seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The value some location might see now: the latest version written
    /// before `now - stale_secs`, or any written since.
    fn visible(&mut self, key: &str) -> Option<String> {
        let now = self.now;
        let horizon = now.saturating_sub(self.faults.stale_secs);
        let versions = self.keys.get(key)?;
        let base = versions.iter().rposition(|v| v.at <= horizon);
        let first = base.unwrap_or(0);
        let candidates = versions.len() - first + usize::from(base.is_none());
        let pick = if self.faults.stale_secs == 0 || candidates <= 1 {
            candidates - 1
        } else {
            (self.next() % candidates as u64) as usize
        };
        let versions = &self.keys[key];
        let v = match base {
            None if pick == 0 => return None, // not yet visible here
            None => &versions[first + pick - 1],
            Some(_) => &versions[first + pick],
        };
        (v.expires_at > now).then(|| v.value.clone())
    }

    fn write(&mut self, key: &str, value: String, expires_at: Timestamp) {
        let now = self.now;
        let horizon = now.saturating_sub(self.faults.stale_secs);
        let versions = self.keys.entry(key.to_string()).or_default();
        // Versions older than the newest one before the horizon can never be seen again.
        if let Some(base) = versions.iter().rposition(|v| v.at <= horizon) {
            versions.drain(..base);
        }
        versions.push(Version {
            at: now,
            value,
            expires_at,
        });
    }
}

/// An in-memory KV with a clock the caller sets, for the model tests.
///
/// With default [`Faults`] it is a plain consistent map. With faults it
/// misbehaves the way the model test needs, deterministically from a seed.
#[derive(Debug, Default)]
pub struct MemoryKv {
    inner: RefCell<Inner>,
}

impl MemoryKv {
    pub fn new() -> Self {
        MemoryKv::default()
    }

    pub fn with_faults(faults: Faults, seed: u64) -> Self {
        MemoryKv {
            inner: RefCell::new(Inner {
                faults,
                rng: seed | 1,
                ..Inner::default()
            }),
        }
    }

    pub fn set_now(&self, now: Timestamp) {
        self.inner.borrow_mut().now = now;
    }

    pub fn now(&self) -> Timestamp {
        self.inner.borrow().now
    }

    pub fn set_faults(&self, faults: Faults) {
        self.inner.borrow_mut().faults = faults;
    }

    /// The newest value of a key, as every location will eventually see it.
    pub fn latest(&self, key: &str) -> Option<String> {
        let inner = self.inner.borrow();
        let v = inner.keys.get(key)?.last()?;
        (v.expires_at > inner.now).then(|| v.value.clone())
    }

    pub fn get_now(&self, key: &str) -> Result<Option<String>, KvError> {
        Ok(self.inner.borrow_mut().visible(key))
    }

    pub fn put_now(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), KvError> {
        if ttl_secs > 0 && ttl_secs < 60 {
            return Err(KvError(format!(
                "expirationTtl {ttl_secs} is under KV's minimum of 60"
            )));
        }
        let mut inner = self.inner.borrow_mut();
        let expires_at = if ttl_secs == 0 {
            Timestamp::MAX
        } else {
            inner.now + ttl_secs
        };
        let put_fail = inner.faults.put_fail;
        if inner.roll(put_fail) {
            let landed = inner.faults.put_fail_landed;
            if inner.roll(landed) {
                inner.write(key, value.to_string(), expires_at);
            }
            return Err(KvError(format!("put {key}: simulated failure")));
        }
        inner.write(key, value.to_string(), expires_at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_memory_kv_is_a_map_with_ttls() {
        let kv = MemoryKv::new();
        kv.set_now(1000);
        kv.put_now("a", "1", 60).unwrap();
        assert_eq!(kv.get_now("a").unwrap().as_deref(), Some("1"));
        assert!(kv.put_now("a", "1", 59).is_err());
        kv.put_now("forever", "f", 0).unwrap();
        kv.set_now(1060);
        assert_eq!(kv.get_now("a").unwrap(), None, "expired");
        assert_eq!(kv.latest("a"), None, "expired");
        assert_eq!(kv.latest("forever").as_deref(), Some("f"));
    }

    #[test]
    fn stale_reads_see_only_recent_history() {
        let kv = MemoryKv::with_faults(
            Faults {
                stale_secs: 60,
                ..Faults::default()
            },
            7,
        );
        kv.set_now(1000);
        kv.put_now("k", "old", 3600).unwrap();
        kv.set_now(1100);
        kv.put_now("k", "new", 3600).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            seen.insert(kv.get_now("k").unwrap());
        }
        assert_eq!(seen, [Some("new".into()), Some("old".into())].into());
        kv.set_now(1161);
        for _ in 0..20 {
            assert_eq!(kv.get_now("k").unwrap().as_deref(), Some("new"));
        }
        // A brand-new key may be invisible for a while.
        kv.put_now("fresh", "v", 3600).unwrap();
        let seen: std::collections::BTreeSet<_> =
            (0..50).map(|_| kv.get_now("fresh").unwrap()).collect();
        assert!(seen.contains(&None));
    }
}
