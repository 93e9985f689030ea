//! The signed cookie codec for [`super::VisitorState`].
//!
//! OWNER: state helper.
