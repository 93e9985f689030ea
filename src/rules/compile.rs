//! Compiling a validated document into the form evaluated per request.

/// Rules ready to evaluate.
#[derive(Debug)]
pub struct CompiledRules {}
