//! The visitor's state: what edgeseg remembers about one browser, carried in a
//! signed cookie (see [`cookie`]) rather than in any server-side store.
//!
//! It holds no personal data: a random id, times, and counts. Times are Unix
//! seconds. Everything is keyed by small hashes of rule definitions
//! ([`crate::rules`] computes them), so a rules change that drops a signal
//! simply leaves its data to be pruned, and a new signal starts empty.

pub mod affinity;
pub mod campaign;
pub mod cookie;
pub mod series;
pub mod values;

pub use affinity::{Affinity, CategoryWeight};
pub use campaign::UtmValue;
pub use series::Series;
pub use values::{ValueBucket, ValueSeries};

/// Unix time in seconds.
pub type Timestamp = u64;

/// Everything the cookie carries for one visitor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VisitorState {
    /// Random, opaque; used for experiment bucketing and nothing else.
    pub visitor_id: [u8; 16],
    pub first_seen: Timestamp,
    /// Start of the current session (a session ends after the rules'
    /// `settings.session_timeout` without a request).
    pub session_start: Timestamp,
    pub last_seen: Timestamp,
    /// `last_seen` of the previous session, 0 if there was none. Lets rules
    /// see how long a returning visitor stayed away.
    pub previous_session_end: Timestamp,
    /// Sessions so far, counting the current one.
    pub sessions: u32,
    /// Page views in the current session.
    pub session_pages: u32,
    /// Windowed event counts, one per distinct tracker the rules declare.
    pub counts: Vec<WindowCount>,
    /// When each event (by name hash) last happened.
    pub last_events: Vec<LastEvent>,
    /// Segment memberships, including segments whose condition holds but whose
    /// `enter_after` debounce has not elapsed yet.
    pub memberships: Vec<Membership>,
    /// Per-visitor event rate limit.
    pub rate: RateWindow,
    /// Experiment assignments (sticky while the experiment's seed is
    /// unchanged), exposures and conversions; cookie format 2 and later.
    pub experiments: Vec<ExperimentEntry>,
    /// Sums and maxima of a numeric event property in time buckets, one per
    /// distinct value tracker the rules declare; cookie format 3 and later.
    pub values: Vec<ValueSeries>,
    /// Interest weights per category, one per distinct affinity the rules
    /// declare; cookie format 3 and later.
    pub affinities: Vec<Affinity>,
    /// The `utm_*` parameters this visit arrived with, for its later pages
    /// (see [`campaign`]); cookie format 5 and later.
    pub campaign: Vec<UtmValue>,
}

/// One experiment a visitor was assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentEntry {
    /// Hash of the experiment key and seed (see [`crate::experiments::compile`]).
    pub experiment: u32,
    /// Index of the variant, kept even when the weights change later.
    pub variant: u8,
    /// When the visitor was first counted as exposed.
    pub exposed: Option<Timestamp>,
    /// Goals converted (each once), with the value summed so far.
    pub goals: Vec<GoalEntry>,
    /// CUPED: each goal's pre-exposure covariate, taken from the cookie on
    /// the page that exposed the visitor and kept until the goal converts
    /// (only non-zero ones; cookie format 4, see
    /// [`crate::experiments::cuped`]).
    pub covariates: Vec<Covariate>,
}

/// A goal's pre-exposure covariate (see [`crate::experiments::cuped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covariate {
    /// Hash of the goal name (as in [`GoalEntry`]).
    pub goal: u32,
    /// The goal event's count, or its value in hundredths, over the 14 days
    /// before exposure.
    pub x: u64,
}

/// A converted goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoalEntry {
    /// Hash of the goal name.
    pub goal: u32,
    /// The goal's value summed over its events in the window, in hundredths.
    pub value: u64,
}

/// Counts of one tracked event (with its filters and window) in time buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCount {
    /// Hash of the tracker definition (event, filters, window).
    pub tracker: u32,
    pub series: Series,
}

/// The last time an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastEvent {
    /// Hash of the event name.
    pub event: u32,
    pub at: Timestamp,
}

/// Where a visitor stands with one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// Hash of the segment id.
    pub segment: u32,
    /// While pending: when the condition was first seen to hold.
    /// While a member: when membership started.
    pub since: Timestamp,
    /// `false` while waiting out `enter_after`.
    pub member: bool,
    /// For a member: the last request at which its condition held.
    /// Membership lasts `hold_for` past this, so a visitor who comes back long
    /// after the condition stopped holding is out at once.
    pub last_held: Option<Timestamp>,
}

/// A fixed window rate limit on events sent by the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateWindow {
    pub window_start: Timestamp,
    pub count: u32,
    /// Events dropped because the limit was exceeded (reported, never stored).
    pub dropped: u32,
}

impl VisitorState {
    /// A visitor never seen before (or whose cookie could not be trusted).
    pub fn fresh(visitor_id: [u8; 16], now: Timestamp) -> Self {
        VisitorState {
            visitor_id,
            first_seen: now,
            session_start: now,
            last_seen: now,
            previous_session_end: 0,
            sessions: 1,
            session_pages: 0,
            counts: Vec::new(),
            last_events: Vec::new(),
            memberships: Vec::new(),
            rate: RateWindow::default(),
            experiments: Vec::new(),
            values: Vec::new(),
            affinities: Vec::new(),
            campaign: Vec::new(),
        }
    }

    /// The visitor id as 32 lowercase hex digits (the bucketing hash input).
    pub fn visitor_id_hex(&self) -> String {
        hex(&self.visitor_id)
    }
}

/// Lowercase hex of bytes (visitor ids, export record and batch ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// 32 hex digits of SHA-256 over `text`: the idempotency key of a webhook
/// delivery, from the newline-joined parts that make it one delivery (so a
/// retry, or two crons that saw the same thing, carry the same key).
pub fn digest_key(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(text.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_ids_print_as_32_lowercase_hex_digits() {
        let mut id = [0u8; 16];
        id[0] = 0xab;
        id[15] = 0x0f;
        let hex = VisitorState::fresh(id, 0).visitor_id_hex();
        assert_eq!(hex, "ab00000000000000000000000000000f");
    }
}
