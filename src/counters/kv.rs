//! The KV operations the counters need, behind a small trait, and an
//! in-memory KV ([`MemoryKv`]) that can behave like the real one at its worst:
//! stale reads and lists, writes that fail (having happened or not), deletes
//! that fail.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::state::Timestamp;

/// One page of a `list` by prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    pub keys: Vec<String>,
    /// Pass back to get the next page; `None` on the last page.
    pub cursor: Option<String>,
}

/// The KV operations of the counters. The Worker implements it over a
/// `worker::kv::KvStore`; tests use [`MemoryKv`].
///
/// The futures need not be `Send`: a Worker isolate is single-threaded.
#[allow(async_fn_in_trait)]
pub trait Kv {
    type Error: fmt::Display;
    async fn get(&self, key: &str) -> Result<Option<String>, Self::Error>;
    /// `ttl_secs` is KV's `expirationTtl` (at least 60; 0: the key never expires).
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), Self::Error>;
    async fn delete(&self, key: &str) -> Result<(), Self::Error>;
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, Self::Error>;
}

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
    /// Deletes that report failure (half of them took effect anyway).
    pub delete_fail: u32,
    /// Reads and lists may return any version written within this many
    /// seconds before now, or the one before them (KV's ~60 s).
    pub stale_secs: u64,
    /// Keys per list page (0: 1000, like KV).
    pub page_size: usize,
}

#[derive(Debug, Clone)]
struct Version {
    at: Timestamp,
    /// `None`: deleted.
    value: Option<String>,
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
        v.value.clone().filter(|_| v.expires_at > now)
    }

    fn write(&mut self, key: &str, value: Option<String>, expires_at: Timestamp) {
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

/// An in-memory KV with a clock the caller sets, for tests and the CLI.
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
        v.value.clone().filter(|_| v.expires_at > inner.now)
    }

    /// Keys under `prefix` whose newest version exists.
    pub fn latest_keys(&self, prefix: &str) -> Vec<String> {
        self.inner
            .borrow()
            .keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .filter(|k| self.latest(k).is_some())
            .collect()
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
                inner.write(key, Some(value.to_string()), expires_at);
            }
            return Err(KvError(format!("put {key}: simulated failure")));
        }
        inner.write(key, Some(value.to_string()), expires_at);
        Ok(())
    }

    pub fn delete_now(&self, key: &str) -> Result<(), KvError> {
        let mut inner = self.inner.borrow_mut();
        let delete_fail = inner.faults.delete_fail;
        if inner.roll(delete_fail) {
            if inner.roll(500) {
                inner.write(key, None, Timestamp::MAX);
            }
            return Err(KvError(format!("delete {key}: simulated failure")));
        }
        inner.write(key, None, Timestamp::MAX);
        Ok(())
    }

    pub fn list_now(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError> {
        let mut inner = self.inner.borrow_mut();
        let page_size = match inner.faults.page_size {
            0 => 1000,
            n => n,
        };
        let start = cursor.unwrap_or(prefix).to_string();
        let candidates: Vec<String> = inner
            .keys
            .range(start..)
            .map(|(k, _)| k.clone())
            .filter(|k| Some(k.as_str()) != cursor)
            .take_while(|k| k.starts_with(prefix))
            .collect();
        let mut keys = Vec::new();
        let mut last = None;
        for k in candidates {
            if keys.len() == page_size {
                break;
            }
            last = Some(k.clone());
            if inner.visible(&k).is_some() {
                keys.push(k);
            }
        }
        let more = last.as_ref().is_some_and(|l| {
            inner
                .keys
                .range(l.clone()..)
                .nth(1)
                .is_some_and(|(k, _)| k.starts_with(prefix))
        });
        Ok(ListPage {
            keys,
            cursor: if more { last } else { None },
        })
    }
}

impl Kv for MemoryKv {
    type Error = KvError;
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.get_now(key)
    }
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), KvError> {
        self.put_now(key, value, ttl_secs)
    }
    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.delete_now(key)
    }
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError> {
        self.list_now(prefix, cursor)
    }
}

/// Runs a future whose I/O completes at once (one over [`MemoryKv`]) to its
/// end. Panics if it waits on anything: it is for tests and the native CLI,
/// not for real I/O.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("block_on: the future waited on real I/O"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_memory_kv_is_a_map_with_ttls() {
        let kv = MemoryKv::new();
        kv.set_now(1000);
        block_on(kv.put("a", "1", 60)).unwrap();
        assert_eq!(block_on(kv.get("a")).unwrap().as_deref(), Some("1"));
        assert!(block_on(kv.put("a", "1", 59)).is_err());
        kv.set_now(1060);
        assert_eq!(block_on(kv.get("a")).unwrap(), None, "expired");
        block_on(kv.put("b", "2", 600)).unwrap();
        block_on(kv.delete("b")).unwrap();
        assert_eq!(kv.latest("b"), None);
    }

    #[test]
    fn lists_page_through_a_prefix() {
        let kv = MemoryKv::with_faults(
            Faults {
                page_size: 2,
                ..Faults::default()
            },
            1,
        );
        for k in ["c:1", "c:2", "c:3", "d:1", "b:1"] {
            kv.put_now(k, "x", 60).unwrap();
        }
        let p1 = kv.list_now("c:", None).unwrap();
        assert_eq!(p1.keys, ["c:1", "c:2"]);
        let p2 = kv.list_now("c:", p1.cursor.as_deref()).unwrap();
        assert_eq!(p2.keys, ["c:3"]);
        assert_eq!(p2.cursor, None);
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
