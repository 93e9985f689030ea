//! Experiments and holdouts inside segments.
//!
//! * [`assignment`]: GrowthBook's `run` (which variant a visitor gets, and why not).
//! * [`compile`]: an experiment of the rules document, checked and ready per request.
//! * [`exposure`]: per request, who is in which variant (sticky in the cookie),
//!   what goes into the rewrite plan, exposures and conversions to count.
//! * [`stats`]: rates, uplift, chance to beat control, sequential p-values, SRM.
//! * [`cuped`]: CUPED from the cookie (pre-exposure covariates, adjusted uplift).
//! * [`bandit`]: Thompson-sampling weights from folded counts.
//! * [`results`]: folded counters → per-variant results (admin API and page).
//! * [`guardrail`]: guardrail goals' one-sided sequential test, and the stop
//!   of a variant that hurts one.
//!
//! Pure like the rest of the core: no I/O, no clock, no randomness of its own.

pub mod assignment;
pub mod bandit;
pub mod compile;
pub mod cuped;
pub mod exposure;
pub mod guardrail;
pub mod results;
pub mod stats;
