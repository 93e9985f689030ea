//! The per-visitor half of an event request (`POST /__edgeseg/event`), after
//! the body has been validated ([`crate::events::parse_events`]): the
//! visitor's rate limit, each admitted event recorded into their state, and
//! the counters those events move. Decided here, next to the page pipeline,
//! so the Worker's event endpoint only reads the request and applies it.

use crate::classify;
use crate::counters::names as counter_names;
use crate::events::{admit, PageEvent, RateLimit};
use crate::rules::CompiledRules;
use crate::server_events::Pending;
use crate::state::{Timestamp, VisitorState};

use super::Visitor;

/// Records the events a visitor sent, as far as consent and their rate limit
/// allow, and returns the counter increments (name, amount). `on_recorded`
/// sees each event right after it is recorded, with the state as it is then
/// (the export's record of that event). A visitor who is not tracked gets
/// nothing recorded and counts nothing; one who is tracked but not measured
/// (consent to store and personalize, not to measure) has the events recorded
/// into their state, so segments built on them work, and nothing counted,
/// converted or exported.
pub fn record_events(
    rules: &CompiledRules,
    visitor: &mut Visitor,
    events: &[PageEvent],
    now: Timestamp,
    on_recorded: impl FnMut(&PageEvent, &VisitorState),
) -> Vec<(String, u64)> {
    record_events_at(rules, visitor, events, |_| now, now, on_recorded)
}

/// Records the events the site's server sent for this visitor, each at the
/// time it happened (never later than `now`), through the same code as the
/// page's events: the same rate limit, conversions and counters. Nothing is
/// exported for them (the export's records are of requests; README).
pub(crate) fn record_server_events(
    rules: &CompiledRules,
    visitor: &mut Visitor,
    pending: &[Pending],
    now: Timestamp,
) -> Vec<(String, u64)> {
    let events: Vec<PageEvent> = pending.iter().map(Pending::event).collect();
    record_events_at(
        rules,
        visitor,
        &events,
        |i| pending[i].at.min(now),
        now,
        |_, _| {},
    )
}

/// [`record_events`] with each event's own time (`at(index)`); `now` drives the rate window.
fn record_events_at(
    rules: &CompiledRules,
    visitor: &mut Visitor,
    events: &[PageEvent],
    at: impl Fn(usize) -> Timestamp,
    now: Timestamp,
    mut on_recorded: impl FnMut(&PageEvent, &VisitorState),
) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    if !visitor.tracked {
        return counts;
    }
    let measured = visitor.measured;
    let state = &mut visitor.state;
    let admitted = admit(&mut state.rate, events.len(), now, RateLimit::default());
    for (index, event) in events[..admitted].iter().enumerate() {
        let when = at(index);
        classify::record_event(rules, state, &event.name, &event.path, &event.props, when);
        if !measured {
            continue;
        }
        on_recorded(event, state);
        counts.push((counter_names::events(&event.name), 1));
        for property in refused_values(rules, event) {
            counts.push((counter_names::VALUES_REFUSED.to_string(), 1));
            counts.push((counter_names::value_refused(&event.name, property), 1));
        }
        counts.extend(crate::experiments::exposure::convert(
            rules,
            state,
            &event.name,
            &event.props,
            when,
        ));
        counts.extend(
            rules
                .counters_for_event(&event.name)
                .map(|declared| (declared.to_string(), 1)),
        );
    }
    counts
}

/// The properties of `event` that the rules read as numbers (a `sum`/`max`
/// signal's `property`, a goal's `value`) and that are present but not a
/// finite number: each is ignored where it is read and counted once here.
fn refused_values<'a>(rules: &'a CompiledRules, event: &'a PageEvent) -> Vec<&'a str> {
    let read = rules
        .tracking
        .values
        .iter()
        .filter(|t| t.event == event.name)
        .map(|t| t.property.as_str())
        .chain(
            rules
                .experiments
                .iter()
                .flat_map(|e| &e.goals)
                .filter(|g| g.event == event.name)
                .filter_map(|g| g.value.as_deref()),
        );
    let mut refused: Vec<&str> = Vec::new();
    for property in read {
        let bad = event
            .props
            .get(property)
            .is_some_and(|v| crate::util::number::parse(v).is_err());
        if bad && !refused.contains(&property) {
            refused.push(property);
        }
    }
    refused
}
