//! Request facts and the attribute object that conditions are evaluated over.
