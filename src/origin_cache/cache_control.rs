//! The `Cache-Control` directives a shared cache acts on (RFC 9111 §5.2.2).

/// The directives of one `Cache-Control` header that matter to the origin cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    pub public: bool,
    /// `private`, also with a field list (`private="set-cookie"`): we never
    /// share such a response, even in part.
    pub private: bool,
    pub no_store: bool,
    /// `no-cache` (also with a field list): every use must be revalidated with
    /// the origin, which the origin cache does not do, so it is not stored.
    pub no_cache: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses a header value. Unknown directives are ignored; a known one
    /// with a malformed number counts as `0` (the safe reading: RFC 9111 says
    /// an invalid `max-age` means stale).
    pub fn parse(header: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        for part in split_directives(header) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (part.trim(), None),
            };
            let seconds = || value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            match name.to_ascii_lowercase().as_str() {
                "public" => cc.public = true,
                "private" => cc.private = true,
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = true,
                "max-age" => cc.max_age = Some(seconds()),
                "s-maxage" => cc.s_maxage = Some(seconds()),
                "stale-while-revalidate" => cc.stale_while_revalidate = Some(seconds()),
                "stale-if-error" => cc.stale_if_error = Some(seconds()),
                _ => {}
            }
        }
        cc
    }

    /// The freshness lifetime the origin gives shared caches: `s-maxage`, else `max-age`.
    pub fn shared_max_age(&self) -> Option<u64> {
        self.s_maxage.or(self.max_age)
    }
}

/// Splits on commas outside quoted strings (`private="a, b", max-age=5`).
fn split_directives(header: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in header.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn reads_the_directives_a_shared_cache_needs() {
        let cc = CacheControl::parse("public, max-age=60, s-maxage=300, stale-while-revalidate=30");
        assert!(cc.public && !cc.private && !cc.no_store);
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.shared_max_age(), Some(300));
        assert_eq!(cc.stale_while_revalidate, Some(30));
        assert_eq!(cc.stale_if_error, None);
    }

    #[test]
    fn names_are_case_insensitive_and_field_lists_still_count() {
        let cc = CacheControl::parse(r#"Private="set-cookie, x-a", MAX-AGE=10"#);
        assert!(cc.private);
        assert_eq!(cc.max_age, Some(10));
        assert!(CacheControl::parse("no-cache=\"set-cookie\"").no_cache);
        assert!(CacheControl::parse("NO-STORE").no_store);
    }

    #[test]
    fn a_malformed_number_is_zero_and_unknown_directives_are_ignored() {
        let cc = CacheControl::parse("max-age=soon, immutable, ,, must-revalidate");
        assert_eq!(cc.max_age, Some(0));
        assert_eq!(cc.shared_max_age(), Some(0));
        assert_eq!(CacheControl::parse(""), CacheControl::default());
        assert_eq!(CacheControl::parse("max-age=\"20\"").max_age, Some(20));
    }
}
