//! The origin cache: every decision about keeping the origin's default pages
//! in the edge cache, as pure functions (the Worker's `edge::origin` only does
//! the fetching, the Cache API calls and the KV reads).
//!
//! Why it exists: put in front of a site with `ORIGIN_URL`, edgeseg would fetch
//! the origin for every page view, because Cloudflare does not cache HTML by
//! default and a personalized page must be `private`. The origin's page itself
//! is the *default* content, the same for everyone; only the rewrite is
//! personal. So the origin's page can be shared at the edge and each visitor's
//! copy personalized after the cache, exactly as a fresh one would be.
//!
//! What may be shared is decided conservatively, because a page shared by
//! mistake leaks one visitor's page to others:
//! * requests ([`request_bypass`]): only `GET`, never with `Authorization`,
//!   `Range`, or one of the site's session cookies (logged-in pages);
//! * responses ([`storable`]): only 2xx HTML, never `private`, `no-store`,
//!   `no-cache`, `Set-Cookie`, a `Vary` on anything but `Accept-Encoding`, or
//!   an `Expires` without `max-age` (see [`NotStored`]);
//! * keys ([`cache_key`]): the URL without UTM and the listed query
//!   parameters, never cookies or edgeseg's own state.
//!
//! Time ([`Stored::freshness`]): fresh for the TTL (the origin's `s-maxage`,
//! else its `max-age`, else the setting, capped by `max_ttl`); then served
//! stale while one refetch runs after the response, for at most
//! `stale_while_revalidate`; an origin that fails may be answered from the
//! stale copy for at most `stale_if_error` past the TTL.
//!
//! Purges ([`PurgeLog`]): a generation number that is part of every key
//! ("everything") and purge times per path, kept in KV so every location sees
//! them.

mod cache_control;
mod key;
mod policy;
mod purge;

pub use cache_control::CacheControl;
pub use key::{cache_key, path_of, CACHE_PARAM};
pub use policy::{
    request_bypass, storable, Bypass, CachePolicy, Freshness, NotStored, RequestView, ResponseView,
    Stored, META_HEADER,
};
pub use purge::{horizon_secs, settings_change_purges, PurgeLog, PURGE_KEY};

/// Hits over hits and misses, `None` before any cacheable request.
pub fn hit_ratio(hits: u64, misses: u64) -> Option<f64> {
    let all = hits + misses;
    (all > 0).then(|| hits as f64 / all as f64)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn hit_ratio() {
        assert_eq!(super::hit_ratio(0, 0), None);
        assert_eq!(super::hit_ratio(99, 1), Some(0.99));
    }
}
