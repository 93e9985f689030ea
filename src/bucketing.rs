//! GrowthBook's bucketing: the FNV-1a based hash (v1 and v2), bucket ranges,
//! choosing a variation, namespaces and equal weights.
//!
//! OWNER: condition helper.
