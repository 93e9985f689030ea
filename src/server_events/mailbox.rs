//! Where a visitor's server events wait until their next page: one small
//! mailbox per visitor, bounded and expiring. Pure: the Worker keeps one in
//! a Durable Object per visitor (`src/edge/inbox.rs`), stored as this JSON.
//!
//! * At most [`MAX_PENDING`] events wait; a delivery that would pass that is
//!   refused whole (429), so the backend knows, rather than an older
//!   purchase silently dropped.
//! * An event waits at most [`KEEP_SECS`] (7 days) after it happened; a
//!   visitor who does not come back by then never gets it.
//! * Every event id taken is remembered for [`KEEP_SECS`] (at most
//!   [`MAX_SEEN`] ids, oldest first out), so a retried delivery is
//!   acknowledged and not recorded twice, even after the event reached the
//!   visitor.
//! * The page reads what is waiting ([`Mailbox::waiting`]) and, once the
//!   page with the new cookie has gone out, acknowledges the ids it applied
//!   ([`Mailbox::ack`]); an event whose page never went out (an error page,
//!   a preview) stays for the next one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::events::PageEvent;
use crate::state::Timestamp;

/// Most events waiting for one visitor.
pub const MAX_PENDING: usize = 20;
/// How long an event waits, and how long its id is remembered, in seconds.
pub const KEEP_SECS: u64 = 7 * 86_400;
/// Most ids remembered per visitor.
pub const MAX_SEEN: usize = 200;
/// Format of the stored JSON.
pub const FORMAT: u32 = 1;
/// How long events handed to a page are held back from other pages while
/// that page goes out and acknowledges them: the visitor's next request
/// often comes before the acknowledgement, and must not record them again.
/// Unacknowledged (the page failed), they are handed out again after it.
pub const LEASE_SECS: u64 = 30;

/// One event waiting for its visitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
    pub path: String,
    /// When it happened (the delivery's signing time).
    pub at: Timestamp,
}

impl Pending {
    /// As the per-visitor event code takes it (the same as the page's events).
    pub fn event(&self) -> PageEvent {
        PageEvent {
            name: self.name.clone(),
            props: self.props.clone(),
            path: self.path.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    id: String,
    until: Timestamp,
}

/// A visitor's waiting events and the ids already taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    v: u32,
    #[serde(default)]
    pending: Vec<Pending>,
    #[serde(default)]
    seen: Vec<Seen>,
    /// Events handed to a page and not yet acknowledged: (id, until). In
    /// memory only (a restarted object hands them out again).
    #[serde(skip)]
    leases: Vec<(String, Timestamp)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            v: FORMAT,
            pending: Vec::new(),
            seen: Vec::new(),
            leases: Vec::new(),
        }
    }
}

/// What [`Mailbox::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// New events now waiting.
    pub stored: usize,
    /// Events whose id was taken before (a retry): acknowledged, not stored again.
    pub duplicates: usize,
    /// Events waiting in all.
    pub waiting: usize,
}

/// A delivery that would pass [`MAX_PENDING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{waiting} events already wait for this visitor's next page and {adding} more would pass the limit of {limit}; nothing was recorded (they are applied when the visitor is next seen, or dropped after 7 days)")]
pub struct Full {
    pub waiting: usize,
    pub adding: usize,
    pub limit: usize,
}

impl Mailbox {
    /// Reads a stored mailbox; an unreadable one is empty (it held only
    /// copies of events whose senders were told they were stored).
    pub fn from_json(text: &str) -> Mailbox {
        serde_json::from_str::<Mailbox>(text)
            .ok()
            .filter(|m| m.v == FORMAT)
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Stores a delivery's events, all or none (see the module doc).
    pub fn put(&mut self, events: Vec<Pending>, now: Timestamp) -> Result<Stored, Full> {
        self.prune(now);
        let (dups, fresh): (Vec<Pending>, Vec<Pending>) = events
            .into_iter()
            .partition(|e| self.seen.iter().any(|s| s.id == e.id));
        if self.pending.len() + fresh.len() > MAX_PENDING {
            return Err(Full {
                waiting: self.pending.len(),
                adding: fresh.len(),
                limit: MAX_PENDING,
            });
        }
        let stored = fresh.len();
        for e in fresh {
            self.seen.push(Seen {
                id: e.id.clone(),
                until: now.max(e.at) + KEEP_SECS,
            });
            self.pending.push(e);
        }
        if self.seen.len() > MAX_SEEN {
            let over = self.seen.len() - MAX_SEEN;
            self.seen.drain(..over);
        }
        Ok(Stored {
            stored,
            duplicates: dups.len(),
            waiting: self.pending.len(),
        })
    }

    /// The events waiting now, oldest first, leased to the asking page for
    /// [`LEASE_SECS`]: another page asking meanwhile does not get them.
    pub fn waiting(&mut self, now: Timestamp) -> Vec<Pending> {
        self.prune(now);
        self.leases.retain(|(_, until)| *until > now);
        let free: Vec<Pending> = self
            .pending
            .iter()
            .filter(|e| !self.leases.iter().any(|(id, _)| *id == e.id))
            .cloned()
            .collect();
        self.leases
            .extend(free.iter().map(|e| (e.id.clone(), now + LEASE_SECS)));
        free
    }

    /// Removes the events the visitor's page applied; returns how many.
    pub fn ack(&mut self, ids: &[String], now: Timestamp) -> usize {
        let before = self.pending.len();
        self.pending.retain(|e| !ids.contains(&e.id));
        self.leases.retain(|(id, _)| !ids.contains(id));
        self.prune(now);
        before - self.pending.len()
    }

    /// Whether nothing is kept (the Durable Object may then delete its storage).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.seen.is_empty()
    }

    /// When the next thing kept expires: the time of the object's next clean-up.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.pending
            .iter()
            .map(|e| e.at + KEEP_SECS)
            .chain(self.seen.iter().map(|s| s.until))
            .min()
    }

    fn prune(&mut self, now: Timestamp) {
        self.pending.retain(|e| e.at + KEEP_SECS > now);
        self.seen.retain(|s| s.until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, at: Timestamp) -> Pending {
        Pending {
            id: id.into(),
            name: "purchase".into(),
            props: Map::new(),
            path: "/".into(),
            at,
        }
    }

    #[test]
    fn a_retried_delivery_counts_once_even_after_it_was_taken() {
        let mut m = Mailbox::default();
        let put = m.put(vec![ev("o-1", 100)], 100).unwrap();
        assert_eq!(
            put,
            Stored {
                stored: 1,
                duplicates: 0,
                waiting: 1
            }
        );
        let again = m.put(vec![ev("o-1", 150), ev("o-2", 150)], 150).unwrap();
        assert_eq!(
            again,
            Stored {
                stored: 1,
                duplicates: 1,
                waiting: 2
            }
        );
        let waiting = m.waiting(200);
        assert_eq!(
            waiting.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["o-1", "o-2"]
        );
        assert_eq!(m.ack(&["o-1".into(), "o-2".into()], 200), 2);
        assert!(m.waiting(200).is_empty());
        // Delivered and acknowledged, then retried: still a duplicate.
        assert_eq!(m.put(vec![ev("o-1", 300)], 300).unwrap().duplicates, 1);
        assert!(m.waiting(300).is_empty());
    }

    /// The visitor's next page often arrives before the first page's
    /// acknowledgement: it must not get (and record) the same events again.
    #[test]
    fn a_page_leases_what_it_got_until_it_acknowledges() {
        let mut m = Mailbox::default();
        m.put(vec![ev("o-1", 100)], 100).unwrap();
        assert_eq!(m.waiting(100).len(), 1);
        assert!(m.waiting(101).is_empty(), "leased to the first page");
        // Never acknowledged (that page failed): handed out again.
        assert_eq!(m.waiting(100 + LEASE_SECS).len(), 1);
        m.ack(&["o-1".into()], 131);
        assert!(m.waiting(200).is_empty());
        // The lease is not stored.
        m.put(vec![ev("o-2", 300)], 300).unwrap();
        assert_eq!(m.waiting(300).len(), 1);
        assert_eq!(Mailbox::from_json(&m.to_json()).waiting(301).len(), 1);
    }

    #[test]
    fn bounded_all_or_nothing() {
        let mut m = Mailbox::default();
        let many: Vec<Pending> = (0..MAX_PENDING).map(|i| ev(&format!("e{i}"), 10)).collect();
        assert_eq!(m.put(many, 10).unwrap().waiting, MAX_PENDING);
        let full = m.put(vec![ev("x", 11)], 11).unwrap_err();
        assert_eq!(
            full,
            Full {
                waiting: MAX_PENDING,
                adding: 1,
                limit: MAX_PENDING
            }
        );
        assert_eq!(m.waiting(11).len(), MAX_PENDING);
        // A pure retry of what is waiting is fine even when full.
        assert_eq!(m.put(vec![ev("e0", 12)], 12).unwrap().duplicates, 1);
    }

    #[test]
    fn events_and_ids_expire() {
        let mut m = Mailbox::default();
        m.put(vec![ev("o-1", 1_000)], 1_000).unwrap();
        assert_eq!(m.next_expiry(), Some(1_000 + KEEP_SECS));
        assert_eq!(m.waiting(1_000 + KEEP_SECS - 1).len(), 1);
        assert!(m.waiting(1_000 + KEEP_SECS).is_empty());
        assert!(m.is_empty());
        // Forgotten: a delivery a week later is new.
        assert_eq!(
            m.put(vec![ev("o-1", 1_000 + KEEP_SECS)], 1_000 + KEEP_SECS)
                .unwrap()
                .stored,
            1
        );
    }

    #[test]
    fn remembered_ids_are_bounded() {
        let mut m = Mailbox::default();
        for i in 0..(MAX_SEEN + 5) {
            m.put(vec![ev(&format!("e{i}"), 10)], 10).unwrap();
            m.ack(&[format!("e{i}")], 10);
        }
        assert_eq!(m.seen.len(), MAX_SEEN);
        assert_eq!(m.seen[0].id, "e5");
    }

    #[test]
    fn stored_json_round_trips_and_bad_json_is_empty() {
        let mut m = Mailbox::default();
        let mut e = ev("o-1", 5);
        e.props.insert("value".into(), 129.into());
        m.put(vec![e], 5).unwrap();
        let back = Mailbox::from_json(&m.to_json());
        assert_eq!(back, m);
        assert_eq!(back.clone().waiting(6)[0].event().props["value"], 129);
        assert!(Mailbox::from_json("nope").is_empty());
        assert!(Mailbox::from_json(r#"{"v": 9, "pending": []}"#).is_empty());
    }
}
