//! Request facts and the attribute object that conditions are evaluated over.
//!
//! The edge adapter fills [`RequestFacts`] from a Cloudflare request (the CLI
//! fills it from flags); [`RequestFacts::attributes`] turns it into the
//! request half of the attribute object. Signals, counters and segments are
//! added by [`crate::classify`].

use serde_json::{Map, Value};

use crate::state::Timestamp;

/// The attribute names that come from the request (plus `segments`, `counters`
/// and `id`, which the classifier adds). Signal names may not reuse them.
pub const BUILT_IN_ATTRIBUTES: &[&str] = &[
    "path",
    "url",
    "query",
    "referrer",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "device",
    "country",
    "language",
    "hour",
    "weekday",
    "segments",
    "counters",
    "id",
];

/// What edgeseg knows about one request, as plain values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFacts {
    /// The full URL as requested.
    pub url: String,
    /// The decoded path, e.g. `/products/trail-runner.html`.
    pub path: String,
    /// Decoded query parameters in order; a repeated name keeps its first value
    /// in the `query` attribute.
    pub query: Vec<(String, String)>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    /// ISO 3166 country code from the edge (`request.cf.country`).
    pub country: Option<String>,
    /// The `Accept-Language` header.
    pub accept_language: Option<String>,
    pub now: Timestamp,
    /// The same moment in milliseconds (the Worker's clock), for the export
    /// records' `seq`; [`RequestFacts::from_url`] sets `now * 1000`.
    pub now_ms: u64,
}

impl RequestFacts {
    /// Facts from a URL alone (headers can be filled in afterwards).
    pub fn from_url(url: &str, now: Timestamp) -> Self {
        let (path, query) = split_url(url);
        RequestFacts {
            url: url.to_string(),
            path,
            query,
            now,
            now_ms: now.saturating_mul(1000),
            ..RequestFacts::default()
        }
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request attributes as a JSON object.
    pub fn attributes(&self) -> Map<String, Value> {
        let mut attrs = Map::new();
        attrs.insert("path".into(), Value::String(self.path.clone()));
        attrs.insert("url".into(), Value::String(self.url.clone()));
        let mut query = Map::new();
        for (k, v) in &self.query {
            if !query.contains_key(k) {
                query.insert(k.clone(), Value::String(v.clone()));
            }
        }
        for name in crate::state::campaign::UTM_PARAMS {
            if let Some(Value::String(v)) = query.get(name) {
                attrs.insert(name.into(), Value::String(v.clone()));
            }
        }
        attrs.insert("query".into(), Value::Object(query));
        if let Some(r) = self.referrer.as_deref().filter(|r| !r.is_empty()) {
            attrs.insert("referrer".into(), Value::String(r.to_string()));
            if let Some(host) = url_host(r) {
                attrs.insert("referrer_host".into(), Value::String(host.to_string()));
            }
        }
        attrs.insert(
            "device".into(),
            Value::String(device_class(self.user_agent.as_deref().unwrap_or("")).into()),
        );
        if let Some(c) = self.country.as_deref().filter(|c| !c.is_empty()) {
            attrs.insert("country".into(), Value::String(c.to_ascii_uppercase()));
        }
        if let Some(lang) = self.accept_language.as_deref().and_then(primary_language) {
            attrs.insert("language".into(), Value::String(lang));
        }
        attrs.insert("hour".into(), Value::from((self.now / 3_600) % 24));
        // 1970-01-01 was a Thursday (4).
        attrs.insert("weekday".into(), Value::from((self.now / 86_400 + 4) % 7));
        attrs
    }
}

/// The device class from a User-Agent: `bot`, `tablet`, `mobile` or `desktop`.
pub fn device_class(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    if [
        "bot",
        "crawler",
        "spider",
        "slurp",
        "headlesschrome",
        "lighthouse",
    ]
    .iter()
    .any(|m| ua.contains(m))
    {
        "bot"
    } else if ua.contains("ipad")
        || ua.contains("tablet")
        || (ua.contains("android") && !ua.contains("mobile"))
    {
        "tablet"
    } else if ua.contains("mobi") || ua.contains("iphone") || ua.contains("android") {
        "mobile"
    } else {
        "desktop"
    }
}

fn primary_language(header: &str) -> Option<String> {
    let first = header.split(',').next()?.split(';').next()?.trim();
    let primary = first.split('-').next()?.trim().to_ascii_lowercase();
    (!primary.is_empty() && primary != "*" && primary.len() <= 8).then_some(primary)
}

/// The host of an absolute URL (`https://www.example.com:8443/x` → `www.example.com`).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &host[..h.len() + 1])?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// The path, query and fragment of a URL (`https://a.b/x?q` → `/x?q`), `/`
/// when an absolute URL has no path; a path-only URL is returned as it is.
pub fn path_and_query(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find('/')
        .map_or("/", |i| &url[after_scheme + i..])
}

/// `scheme://host:port` of a URL: everything before its path.
pub fn site_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Splits a URL (absolute or path-only) into its decoded path and query pairs.
pub fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let without_fragment = url.split('#').next().unwrap_or("");
    let (before_query, query) = match without_fragment.split_once('?') {
        Some((a, q)) => (a, q),
        None => (without_fragment, ""),
    };
    let path = if before_query.contains("://") {
        path_and_query(before_query)
    } else {
        before_query
    };
    let path = if path.is_empty() { "/" } else { path };
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    (percent_decode(path, false), pairs)
}

/// Decodes `%XX` escapes (and `+` as space in query strings). Invalid escapes
/// are kept as written; invalid UTF-8 is replaced.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes_urls() {
        let (path, q) = split_url(
            "https://shop.test/products/a%20b.html?utm_campaign=spring+sale&x=%3Cb%3E&flag#top",
        );
        assert_eq!(path, "/products/a b.html");
        assert_eq!(
            q,
            vec![
                ("utm_campaign".into(), "spring sale".into()),
                ("x".into(), "<b>".into()),
                ("flag".into(), "".into())
            ]
        );
        assert_eq!(split_url("http://h").0, "/");
        assert_eq!(split_url("/a?b=1").0, "/a");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    }

    #[test]
    fn attributes_carry_request_facts() {
        let mut f = RequestFacts::from_url(
            "https://s.test/?utm_campaign=spring&utm_source=news",
            1_764_237_600,
        );
        f.referrer = Some("https://www.google.com/search?q=boots".into());
        f.user_agent =
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148".into());
        f.country = Some("de".into());
        f.accept_language = Some("de-DE,de;q=0.9,en;q=0.8".into());
        let a = f.attributes();
        assert_eq!(a["path"], "/");
        assert_eq!(a["utm_campaign"], "spring");
        assert_eq!(a["query"]["utm_source"], "news");
        assert_eq!(a["referrer_host"], "www.google.com");
        assert_eq!(a["device"], "mobile");
        assert_eq!(a["country"], "DE");
        assert_eq!(a["language"], "de");
        // 2025-11-27 10:00 UTC was a Thursday.
        assert_eq!(a["hour"], 10);
        assert_eq!(a["weekday"], 4);
        assert!(!a.contains_key("utm_medium"));
    }

    #[test]
    fn device_classes() {
        assert_eq!(
            device_class("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120"),
            "desktop"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"),
            "tablet"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari"),
            "mobile"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (Linux; Android 13; SM-X200) Safari"),
            "tablet"
        );
        assert_eq!(
            device_class("Googlebot/2.1 (+http://www.google.com/bot.html)"),
            "bot"
        );
        assert_eq!(device_class(""), "desktop");
    }

    #[test]
    fn hosts() {
        assert_eq!(url_host("https://user@a.b:8080/x"), Some("a.b"));
        assert_eq!(url_host("http://[::1]:80/"), Some("[::1]"));
        assert_eq!(url_host("not a url"), None);
    }

    #[test]
    fn paths_and_queries() {
        assert_eq!(path_and_query("https://a.b/x/y?q=1#f"), "/x/y?q=1#f");
        assert_eq!(path_and_query("https://a.b"), "/");
        assert_eq!(path_and_query("/only/a/path?q"), "/only/a/path?q");
    }
}
