//! Which activations fire on a request: the segments a visitor entered or
//! left, comparing the memberships stored before classification with those
//! after it (classification is where stickiness, `enter_after` and
//! `hold_for` decide membership, src/classify.rs).
//!
//! Pending memberships (waiting out `enter_after`) are not members, so an
//! entry fires when membership starts, and an exit when `hold_for` has run
//! out at a request. A visitor who stays away is noticed leaving on their
//! next page view, not before: edgeseg sees visitors only when they ask.

use crate::document::ActivationOn;
use crate::rules::CompiledRules;
use crate::state::Membership;

use super::settings::CompiledActivation;
use super::webhook::Transition;

/// The segment keys the visitor is a member of (to keep before classifying).
pub fn member_keys(memberships: &[Membership]) -> Vec<u32> {
    memberships
        .iter()
        .filter(|m| m.member)
        .map(|m| m.segment)
        .collect()
}

/// The activations fired by going from `before` (see [`member_keys`]) to `after`.
pub fn fired<'r>(
    rules: &'r CompiledRules,
    before: &[u32],
    after: &[Membership],
) -> Vec<(&'r CompiledActivation, Transition)> {
    rules
        .activations
        .iter()
        .filter_map(|a| {
            let was = before.contains(&a.segment_key);
            let is = after.iter().any(|m| m.member && m.segment == a.segment_key);
            match (a.on, was, is) {
                (ActivationOn::Enter, false, true) => Some((a, Transition::Entered)),
                (ActivationOn::Exit, true, false) => Some((a, Transition::Exited)),
                _ => None,
            }
        })
        .collect()
}
