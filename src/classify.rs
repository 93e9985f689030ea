//! Classification: request facts + visitor state + rules + now → segments and a rewrite plan.
