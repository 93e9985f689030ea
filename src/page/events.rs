//! The per-visitor half of an event request (`POST /__edgeseg/event`), after
//! the body has been validated ([`crate::events::parse_events`]): the
//! visitor's rate limit, each admitted event recorded into their state, and
//! the counters those events move. Decided here, next to the page pipeline,
//! so the Worker's event endpoint only reads the request and applies it.

use crate::classify;
use crate::counters::names as counter_names;
use crate::events::{admit, PageEvent, RateLimit};
use crate::rules::CompiledRules;
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
    mut on_recorded: impl FnMut(&PageEvent, &VisitorState),
) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    if !visitor.tracked {
        return counts;
    }
    let measured = visitor.measured;
    let state = &mut visitor.state;
    let admitted = admit(&mut state.rate, events.len(), now, RateLimit::default());
    for event in &events[..admitted] {
        classify::record_event(rules, state, &event.name, &event.path, &event.props, now);
        if !measured {
            continue;
        }
        on_recorded(event, state);
        counts.push((counter_names::events(&event.name), 1));
        counts.extend(crate::experiments::exposure::convert(
            rules,
            state,
            &event.name,
            &event.props,
            now,
        ));
        counts.extend(
            rules
                .counters_for_event(&event.name)
                .map(|declared| (declared.to_string(), 1)),
        );
    }
    counts
}
