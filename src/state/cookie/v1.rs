//! Format version 1 of the payload (the layout is documented on the parent
//! module). [`read`] is kept when a later version becomes the one written, so
//! that cookies set before a deploy still decode after it.

use super::wire::{put_delta, put_u32, put_varint, varint_len, Reader};
use super::{CookieError, MAX_BUCKETS_PER_SERIES, MAX_LAST_EVENTS, MAX_MEMBERSHIPS, MAX_SERIES};
use crate::state::{LastEvent, Membership, RateWindow, Series, VisitorState, WindowCount};

/// The format version byte.
pub(super) const VERSION: u8 = 1;

const HAS_PREVIOUS_SESSION: u8 = 1 << 0;
const HAS_RATE: u8 = 1 << 1;

const IS_MEMBER: u8 = 1 << 0;
const HAS_FALSE_SINCE: u8 = 1 << 1;

const DENSE: u64 = 1;

/// Appends the v1 payload of `state`, version byte included.
///
/// The caller keeps `state` within the decode limits (see [`super::trim`]);
/// this function writes whatever it is given.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(super) fn write(state: &VisitorState, out: &mut Vec<u8>) {
    out.push(VERSION);
    write_body(state, out);
}

/// The v1 layout without its version byte: version 2 starts with it too.
pub(super) fn write_body(state: &VisitorState, out: &mut Vec<u8>) {
    let base = state.last_seen;
    out.extend_from_slice(&state.visitor_id);
    put_varint(out, base);
    put_delta(out, state.first_seen, base);
    put_delta(out, state.session_start, base);
    let has_rate = state.rate != RateWindow::default();
    let flags = if state.previous_session_end != 0 {
        HAS_PREVIOUS_SESSION
    } else {
        0
    } | if has_rate { HAS_RATE } else { 0 };
    out.push(flags);
    if state.previous_session_end != 0 {
        put_delta(out, state.previous_session_end, base);
    }
    put_varint(out, u64::from(state.sessions));
    put_varint(out, u64::from(state.session_pages));
    if has_rate {
        put_delta(out, state.rate.window_start, base);
        put_varint(out, u64::from(state.rate.count));
        put_varint(out, u64::from(state.rate.dropped));
    }

    put_varint(out, state.counts.len() as u64);
    for wc in &state.counts {
        put_u32(out, wc.tracker);
        write_series(&wc.series, base, out);
    }

    put_varint(out, state.last_events.len() as u64);
    for e in &state.last_events {
        put_u32(out, e.event);
        put_delta(out, e.at, base);
    }

    put_varint(out, state.memberships.len() as u64);
    for m in &state.memberships {
        put_u32(out, m.segment);
        put_delta(out, m.since, base);
        let flags = if m.member { IS_MEMBER } else { 0 }
            | if m.last_held.is_some() {
                HAS_FALSE_SINCE
            } else {
                0
            };
        out.push(flags);
        if let Some(t) = m.last_held {
            put_delta(out, t, base);
        }
    }
}

/// `width`, `head` as a delta from the bucket of `last_seen`, then the counts
/// dense or sparse, whichever is shorter.
fn write_series(series: &Series, last_seen: u64, out: &mut Vec<u8>) {
    put_varint(out, u64::from(series.width));
    put_delta(out, series.head, last_seen / u64::from(series.width.max(1)));
    let len = series.counts.len() as u64;

    let dense_len: usize = series.counts.iter().map(|&c| varint_len(c.into())).sum();
    let mut sparse_len = 0;
    let mut nonzero = 0u64;
    let mut next = 0;
    for (i, &c) in series.counts.iter().enumerate() {
        if c != 0 {
            sparse_len += varint_len((i - next) as u64) + varint_len(c.into());
            nonzero += 1;
            next = i + 1;
        }
    }
    sparse_len += varint_len(nonzero);

    if dense_len <= sparse_len {
        put_varint(out, len << 1 | DENSE);
        for &c in &series.counts {
            put_varint(out, c.into());
        }
    } else {
        put_varint(out, len << 1);
        put_varint(out, nonzero);
        let mut next = 0;
        for (i, &c) in series.counts.iter().enumerate() {
            if c != 0 {
                put_varint(out, (i - next) as u64);
                put_varint(out, c.into());
                next = i + 1;
            }
        }
    }
}

/// Reads a v1 payload, the version byte already consumed.
pub(super) fn read(r: &mut Reader<'_>) -> Result<VisitorState, CookieError> {
    let visitor_id = r.array::<16>()?;
    let last_seen = r.varint()?;
    let base = last_seen;
    let first_seen = r.delta(base)?;
    let session_start = r.delta(base)?;
    let flags = r.byte()?;
    if flags & !(HAS_PREVIOUS_SESSION | HAS_RATE) != 0 {
        return Err(CookieError::Malformed("unknown header flags"));
    }
    let previous_session_end = if flags & HAS_PREVIOUS_SESSION != 0 {
        r.delta(base)?
    } else {
        0
    };
    let sessions = r.varint_u32()?;
    let session_pages = r.varint_u32()?;
    let rate = if flags & HAS_RATE != 0 {
        RateWindow {
            window_start: r.delta(base)?,
            count: r.varint_u32()?,
            dropped: r.varint_u32()?,
        }
    } else {
        RateWindow::default()
    };

    let n = r.count(MAX_SERIES, "too many series")?;
    let mut counts = Vec::with_capacity(n);
    for _ in 0..n {
        let tracker = r.u32_le()?;
        let series = read_series(r, base)?;
        counts.push(WindowCount { tracker, series });
    }

    let n = r.count(MAX_LAST_EVENTS, "too many last events")?;
    let mut last_events = Vec::with_capacity(n);
    for _ in 0..n {
        let event = r.u32_le()?;
        let at = r.delta(base)?;
        last_events.push(LastEvent { event, at });
    }

    let n = r.count(MAX_MEMBERSHIPS, "too many memberships")?;
    let mut memberships = Vec::with_capacity(n);
    for _ in 0..n {
        let segment = r.u32_le()?;
        let since = r.delta(base)?;
        let flags = r.byte()?;
        if flags & !(IS_MEMBER | HAS_FALSE_SINCE) != 0 {
            return Err(CookieError::Malformed("unknown membership flags"));
        }
        let last_held = if flags & HAS_FALSE_SINCE != 0 {
            Some(r.delta(base)?)
        } else {
            None
        };
        memberships.push(Membership {
            segment,
            since,
            member: flags & IS_MEMBER != 0,
            last_held,
        });
    }

    Ok(VisitorState {
        visitor_id,
        first_seen,
        session_start,
        last_seen,
        previous_session_end,
        sessions,
        session_pages,
        counts,
        last_events,
        memberships,
        rate,
        experiments: Vec::new(),
        values: Vec::new(),
        affinities: Vec::new(),
        campaign: Vec::new(),
    })
}

fn read_series(r: &mut Reader<'_>, last_seen: u64) -> Result<Series, CookieError> {
    let width = r.varint_u32()?;
    let head = r.delta(last_seen / u64::from(width.max(1)))?;
    let header = r.varint()?;
    let len = usize::try_from(header >> 1)
        .ok()
        .filter(|&len| len <= MAX_BUCKETS_PER_SERIES)
        .ok_or(CookieError::Malformed("too many buckets in a series"))?;
    let mut counts = vec![0u32; len];
    if header & DENSE != 0 {
        for c in &mut counts {
            *c = r.varint_u32()?;
        }
    } else {
        let nonzero = r.count(len, "more non-zero buckets than buckets")?;
        let mut next = 0usize;
        for _ in 0..nonzero {
            let gap = r.count(len, "a bucket offset is out of range")?;
            let slot = counts
                .get_mut(next + gap)
                .ok_or(CookieError::Malformed("a bucket offset is out of range"))?;
            *slot = r.varint_u32()?;
            if *slot == 0 {
                return Err(CookieError::Malformed("a sparse bucket count is zero"));
            }
            next += gap + 1;
        }
    }
    Ok(Series {
        width,
        head,
        counts,
    })
}
