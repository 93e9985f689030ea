//! Events from the site's server (README, "Events from the site's server").
//!
//! A browser can send anything, so value (a purchase and its total) must come
//! from the site's backend. The backend signs a delivery for a visitor
//! ([`delivery`]); the Worker checks the signature, the events' sources and
//! bounds ([`policy`], the same check the page's events get), and keeps the
//! events in the visitor's mailbox ([`mailbox`]) until their next page,
//! which records them through the same per-visitor event code as the page's
//! own events ([`crate::page::record_events`]): one path, so the rate limit,
//! conversions and counters are the same.

pub mod delivery;
pub mod mailbox;
pub mod policy;

pub use delivery::{Delivery, DeliveryError, ServerEvent, SignatureError};
pub use mailbox::{Mailbox, Pending};
pub use policy::{accepts_server_events, PolicyError, Sender};
