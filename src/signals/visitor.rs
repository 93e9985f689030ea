//! `visitor`: session and lifetime metrics kept for every visitor.

use crate::document::VisitorMetric;
use crate::state::{Timestamp, VisitorState};

pub(super) fn value(
    state: &VisitorState,
    metric: VisitorMetric,
    unit: f64,
    now: Timestamp,
) -> Option<f64> {
    match metric {
        VisitorMetric::Sessions => Some(f64::from(state.sessions)),
        VisitorMetric::SessionPages => Some(f64::from(state.session_pages)),
        VisitorMetric::SessionDuration => {
            Some(now.saturating_sub(state.session_start) as f64 / unit)
        }
        VisitorMetric::SinceFirstVisit => Some(now.saturating_sub(state.first_seen) as f64 / unit),
        VisitorMetric::SincePreviousVisit => (state.previous_session_end > 0).then(|| {
            state
                .session_start
                .saturating_sub(state.previous_session_end) as f64
                / unit
        }),
    }
}
