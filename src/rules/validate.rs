//! Structural validation of a rules document with every error and its JSON path.
//!
//! OWNER: validation helper.
