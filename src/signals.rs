//! Behavioural signals computed from the visitor state.
