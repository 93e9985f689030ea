//! Small pieces the whole core shares: hashing, identifiers, did-you-mean
//! suggestions, durations, times and schedules, numbers in event properties
//! and JavaScript's view of JSON values.
//!
//! This is the bottom layer: it imports nothing else from the crate, so any
//! module may use it without creating an import circle (`make lint` checks).

pub mod duration;
pub mod hash;
pub mod ident;
pub mod js;
pub mod number;
pub mod suggest;
pub mod time;
