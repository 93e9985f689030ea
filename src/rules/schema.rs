//! The JSON Schema of the rules document, generated from [`super::document`].
//!
//! OWNER: validation helper.
