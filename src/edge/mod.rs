//! The Cloudflare Worker adapter: the only module that knows the `worker` crate.
