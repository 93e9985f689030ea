//! What may be shared, for how long, and what a stored copy's age allows.

use super::CacheControl;

/// The origin cache's settings, resolved (`settings.origin_cache` in the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    pub enabled: bool,
    /// Seconds a page is fresh when the origin sends no `s-maxage`/`max-age`.
    pub ttl: u64,
    /// The longest the origin's own `s-maxage`/`max-age` is honoured.
    pub max_ttl: u64,
    /// Past its TTL, a page is served stale (while one refetch runs after the
    /// response) for at most this long. An origin's smaller
    /// `stale-while-revalidate` wins.
    pub stale_while_revalidate: u64,
    /// Past its TTL, a page may answer a request the origin fails for at most
    /// this long. An origin's smaller `stale-if-error` wins.
    pub stale_if_error: u64,
    /// Cookie names (a trailing `*` matches a prefix) that mark a logged-in
    /// visitor: such requests bypass the cache entirely.
    pub session_cookies: Vec<String>,
    /// Query parameters left out of the cache key besides `utm_*`.
    pub ignore_params: Vec<String>,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            enabled: false,
            ttl: 60,
            max_ttl: 86_400,
            stale_while_revalidate: 60,
            stale_if_error: 600,
            session_cookies: Vec::new(),
            ignore_params: vec!["gclid".into(), "fbclid".into(), "msclkid".into()],
        }
    }
}

/// The facts of a request the cache decides on.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestView<'a> {
    pub is_get: bool,
    pub authorization: bool,
    pub range: bool,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
}

/// Why a request goes straight to the origin, neither read from nor written
/// to the cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bypass {
    #[error("only GET requests are cached")]
    Method,
    #[error("the request carries Authorization")]
    Authorization,
    #[error("the request asks for a byte range")]
    Range,
    #[error("the request carries the session cookie \"{0}\"")]
    SessionCookie(String),
}

/// Whether a request must bypass the cache, and why.
pub fn request_bypass(policy: &CachePolicy, req: &RequestView) -> Option<Bypass> {
    if !req.is_get {
        return Some(Bypass::Method);
    }
    if req.authorization {
        return Some(Bypass::Authorization);
    }
    if req.range {
        return Some(Bypass::Range);
    }
    let cookies = req.cookie.unwrap_or("");
    cookies.split(';').find_map(|pair| {
        let name = pair
            .split('=')
            .next()
            .unwrap_or("")
            .trim_matches([' ', '\t']);
        let session = !name.is_empty()
            && policy
                .session_cookies
                .iter()
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == p,
                });
        session.then(|| Bypass::SessionCookie(name.to_string()))
    })
}

/// The facts of an origin response the cache decides on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    pub pragma: Option<&'a str>,
    pub vary: Option<&'a str>,
    pub set_cookie: bool,
    pub expires: bool,
}

/// Why an origin response is not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotStored {
    #[error("status {0}: only 2xx pages are cached (origin errors never)")]
    Status(u16),
    #[error("not an HTML page")]
    NotHtml,
    #[error("Cache-Control: private")]
    Private,
    #[error("Cache-Control: no-store")]
    NoStore,
    #[error("Cache-Control: no-cache (or Pragma: no-cache)")]
    NoCache,
    #[error("the response sets a cookie")]
    SetCookie,
    #[error("the response varies on {0}")]
    Vary(String),
    #[error("Expires without max-age: the origin's expiry is not ours to guess")]
    Expires,
    #[error("the origin gives the page no lifetime (max-age=0)")]
    ZeroTtl,
}

/// Whether an origin response may be shared, and if so its lifetimes as
/// stored at `now_ms`.
pub fn storable(
    policy: &CachePolicy,
    resp: &ResponseView,
    now_ms: u64,
) -> Result<Stored, NotStored> {
    let s = resp.status;
    if !(200..300).contains(&s) || matches!(s, 204..=206) {
        return Err(NotStored::Status(s));
    }
    let html = resp
        .content_type
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !html {
        return Err(NotStored::NotHtml);
    }
    let cc = CacheControl::parse(resp.cache_control.unwrap_or(""));
    if cc.private {
        return Err(NotStored::Private);
    }
    if cc.no_store {
        return Err(NotStored::NoStore);
    }
    let pragma_no_cache = resp.cache_control.is_none()
        && resp
            .pragma
            .is_some_and(|p| p.to_ascii_lowercase().contains("no-cache"));
    if cc.no_cache || pragma_no_cache {
        return Err(NotStored::NoCache);
    }
    if resp.set_cookie {
        return Err(NotStored::SetCookie);
    }
    if let Some(vary) = resp.vary {
        if let Some(other) = vary
            .split(',')
            .map(|v| v.trim().to_ascii_lowercase())
            .find(|v| !v.is_empty() && v != "accept-encoding")
        {
            return Err(NotStored::Vary(other));
        }
    }
    let ttl = match cc.shared_max_age() {
        Some(origin) => origin.min(policy.max_ttl),
        None if resp.expires => return Err(NotStored::Expires),
        None => policy.ttl,
    };
    if ttl == 0 {
        return Err(NotStored::ZeroTtl);
    }
    let bound = |origin: Option<u64>, setting: u64| origin.map_or(setting, |o| o.min(setting));
    Ok(Stored {
        stored_at_ms: now_ms,
        ttl,
        stale_while_revalidate: bound(cc.stale_while_revalidate, policy.stale_while_revalidate),
        stale_if_error: bound(cc.stale_if_error, policy.stale_if_error),
    })
}

/// The header on a stored copy that records when it was stored and its
/// lifetimes (removed before the page goes out).
pub const META_HEADER: &str = "x-edgeseg-cache-meta";

/// A stored copy's timing: when it was stored, and its lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub stored_at_ms: u64,
    pub ttl: u64,
    pub stale_while_revalidate: u64,
    pub stale_if_error: u64,
}

/// What a stored copy's age allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within its TTL: serve it.
    Fresh,
    /// Past its TTL, within `stale_while_revalidate`: serve it and refetch
    /// after the response.
    Stale,
    /// Past both: fetch the origin; if the origin fails, the copy may still
    /// answer when `serve_on_error` (within `stale_if_error`).
    Expired { serve_on_error: bool },
}

impl Stored {
    /// The value of [`META_HEADER`].
    pub fn header_value(&self) -> String {
        format!(
            "v1 at={} ttl={} swr={} sie={}",
            self.stored_at_ms, self.ttl, self.stale_while_revalidate, self.stale_if_error
        )
    }

    /// Reads [`META_HEADER`]; `None` for anything else (an entry written by
    /// another version is then treated as a miss, never trusted).
    pub fn parse(value: &str) -> Option<Stored> {
        let mut parts = value.split_ascii_whitespace();
        if parts.next()? != "v1" {
            return None;
        }
        let mut field = |name: &str| -> Option<u64> {
            parts
                .next()?
                .strip_prefix(name)?
                .strip_prefix('=')?
                .parse()
                .ok()
        };
        Some(Stored {
            stored_at_ms: field("at")?,
            ttl: field("ttl")?,
            stale_while_revalidate: field("swr")?,
            stale_if_error: field("sie")?,
        })
    }

    /// How long the Cache API must keep the copy: its TTL plus the longer of
    /// its stale bounds.
    pub fn lifetime(&self) -> u64 {
        self.ttl + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Whole seconds since it was stored (0 if the clock went back).
    pub fn age(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms) / 1_000
    }

    pub fn freshness(&self, now_ms: u64) -> Freshness {
        let age = self.age(now_ms);
        if age < self.ttl {
            Freshness::Fresh
        } else if age < self.ttl + self.stale_while_revalidate {
            Freshness::Stale
        } else {
            Freshness::Expired {
                serve_on_error: age < self.ttl + self.stale_if_error,
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn policy() -> CachePolicy {
        CachePolicy {
            enabled: true,
            session_cookies: vec!["sessionid".into(), "wordpress_logged_in_*".into()],
            ..CachePolicy::default()
        }
    }

    fn html<'a>() -> ResponseView<'a> {
        ResponseView {
            status: 200,
            content_type: Some("text/html; charset=utf-8"),
            ..ResponseView::default()
        }
    }

    fn get(cookie: Option<&str>) -> RequestView<'_> {
        RequestView {
            is_get: true,
            cookie,
            ..RequestView::default()
        }
    }

    #[test]
    fn logged_in_and_authorized_requests_bypass_the_cache() {
        let p = policy();
        assert_eq!(request_bypass(&p, &get(None)), None);
        assert_eq!(request_bypass(&p, &get(Some("edgeseg=abc; _ga=1"))), None);
        assert_eq!(
            request_bypass(&p, &get(Some("a=1; sessionid=xyz"))),
            Some(Bypass::SessionCookie("sessionid".into()))
        );
        assert_eq!(
            request_bypass(&p, &get(Some("wordpress_logged_in_3f2a=me"))),
            Some(Bypass::SessionCookie("wordpress_logged_in_3f2a".into()))
        );
        // A cookie whose name only contains the session cookie's is not it.
        assert_eq!(request_bypass(&p, &get(Some("my_sessionid=1"))), None);
        let auth = RequestView {
            authorization: true,
            ..get(None)
        };
        assert_eq!(request_bypass(&p, &auth), Some(Bypass::Authorization));
        let post = RequestView {
            is_get: false,
            ..get(None)
        };
        assert_eq!(request_bypass(&p, &post), Some(Bypass::Method));
        let range = RequestView {
            range: true,
            ..get(None)
        };
        assert_eq!(request_bypass(&p, &range), Some(Bypass::Range));
    }

    #[test]
    fn only_shareable_html_is_stored() {
        let p = policy();
        let ok = storable(&p, &html(), 1_000).unwrap();
        assert_eq!(ok.ttl, 60);
        let cases: Vec<(ResponseView, NotStored)> = vec![
            (
                ResponseView {
                    status: 500,
                    ..html()
                },
                NotStored::Status(500),
            ),
            (
                ResponseView {
                    status: 404,
                    ..html()
                },
                NotStored::Status(404),
            ),
            (
                ResponseView {
                    status: 206,
                    ..html()
                },
                NotStored::Status(206),
            ),
            (
                ResponseView {
                    status: 304,
                    ..html()
                },
                NotStored::Status(304),
            ),
            (
                ResponseView {
                    content_type: Some("application/json"),
                    ..html()
                },
                NotStored::NotHtml,
            ),
            (
                ResponseView {
                    content_type: None,
                    ..html()
                },
                NotStored::NotHtml,
            ),
            (
                ResponseView {
                    cache_control: Some("private, max-age=60"),
                    ..html()
                },
                NotStored::Private,
            ),
            (
                ResponseView {
                    cache_control: Some("public, no-store"),
                    ..html()
                },
                NotStored::NoStore,
            ),
            (
                ResponseView {
                    cache_control: Some("no-cache"),
                    ..html()
                },
                NotStored::NoCache,
            ),
            (
                ResponseView {
                    pragma: Some("no-cache"),
                    ..html()
                },
                NotStored::NoCache,
            ),
            (
                ResponseView {
                    set_cookie: true,
                    cache_control: Some("public, max-age=60"),
                    ..html()
                },
                NotStored::SetCookie,
            ),
            (
                ResponseView {
                    vary: Some("Accept-Encoding, Cookie"),
                    ..html()
                },
                NotStored::Vary("cookie".into()),
            ),
            (
                ResponseView {
                    vary: Some("*"),
                    ..html()
                },
                NotStored::Vary("*".into()),
            ),
            (
                ResponseView {
                    expires: true,
                    ..html()
                },
                NotStored::Expires,
            ),
            (
                ResponseView {
                    cache_control: Some("max-age=0"),
                    ..html()
                },
                NotStored::ZeroTtl,
            ),
            (
                ResponseView {
                    cache_control: Some("s-maxage=0, max-age=60"),
                    ..html()
                },
                NotStored::ZeroTtl,
            ),
        ];
        for (resp, why) in cases {
            assert_eq!(storable(&p, &resp, 0), Err(why), "{resp:?}");
        }
        let vary_encoding = ResponseView {
            vary: Some("accept-encoding"),
            pragma: Some("no-cache"),
            cache_control: Some("public"),
            ..html()
        };
        assert!(storable(&p, &vary_encoding, 0).is_ok());
    }

    #[test]
    fn the_origins_lifetimes_win_within_the_settings_bounds() {
        let p = policy();
        let with = |cc| {
            storable(
                &p,
                &ResponseView {
                    cache_control: Some(cc),
                    ..html()
                },
                0,
            )
            .unwrap()
        };
        assert_eq!(with("max-age=300").ttl, 300);
        assert_eq!(with("max-age=300, s-maxage=20").ttl, 20);
        assert_eq!(with("max-age=31536000").ttl, 86_400, "capped by max_ttl");
        assert_eq!(with("max-age=300, expires-ignored").ttl, 300);
        let s = with("max-age=10, stale-while-revalidate=5, stale-if-error=100000");
        assert_eq!((s.stale_while_revalidate, s.stale_if_error), (5, 600));
        let s = with("public");
        assert_eq!(
            (s.ttl, s.stale_while_revalidate, s.stale_if_error),
            (60, 60, 600)
        );
        // With max-age, an Expires header is ignored (RFC 9111 §5.3).
        let both = ResponseView {
            cache_control: Some("max-age=5"),
            expires: true,
            ..html()
        };
        assert_eq!(storable(&p, &both, 0).unwrap().ttl, 5);
    }

    #[test]
    fn freshness_from_the_stored_time() {
        let s = Stored {
            stored_at_ms: 100_000,
            ttl: 60,
            stale_while_revalidate: 30,
            stale_if_error: 300,
        };
        assert_eq!(s.lifetime(), 360);
        assert_eq!(s.freshness(100_000), Freshness::Fresh);
        assert_eq!(s.freshness(50_000), Freshness::Fresh, "clock went back");
        assert_eq!(s.freshness(159_999), Freshness::Fresh);
        assert_eq!(s.freshness(160_000), Freshness::Stale);
        assert_eq!(s.freshness(189_999), Freshness::Stale);
        assert_eq!(
            s.freshness(190_000),
            Freshness::Expired {
                serve_on_error: true
            }
        );
        assert_eq!(
            s.freshness(459_999),
            Freshness::Expired {
                serve_on_error: true
            }
        );
        assert_eq!(
            s.freshness(460_000),
            Freshness::Expired {
                serve_on_error: false
            }
        );
        assert_eq!(s.age(161_500), 61);
    }

    #[test]
    fn stored_timing_survives_its_header_and_nothing_else_is_trusted() {
        let s = Stored {
            stored_at_ms: 1_764_000_000_123,
            ttl: 60,
            stale_while_revalidate: 0,
            stale_if_error: 10,
        };
        assert_eq!(Stored::parse(&s.header_value()), Some(s));
        for bad in [
            "",
            "v2 at=1 ttl=1 swr=1 sie=1",
            "v1 at=1 ttl=1 swr=1",
            "v1 at=x ttl=1 swr=1 sie=1",
            "v1 ttl=1 at=1 swr=1 sie=1",
        ] {
            assert_eq!(Stored::parse(bad), None, "{bad}");
        }
    }
}
