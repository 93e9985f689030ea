//! The cache key: which requests share one cached page.

/// The query parameter that carries the purge generation in every key. It is
/// ours, so it never collides with the site's (a request's own `__edgeseg*`
/// parameters are dropped from the key).
pub const CACHE_PARAM: &str = "__edgeseg_cache";

/// The key of a page in the edge cache: the request URL without its fragment,
/// without UTM parameters (`utm_*`), without edgeseg's own parameters
/// (`__edgeseg*`, e.g. a preview token) and without the parameters `ignore`
/// lists (a trailing `*` matches a prefix), with the purge `generation`
/// appended. The rest of the query keeps its order and its bytes: parameters
/// the site reads stay apart, so `?page=2` is its own entry. Cookies and
/// headers are never part of it. `None` for a URL without a scheme and host.
pub fn cache_key(url: &str, ignore: &[String], generation: u64) -> Option<String> {
    let url = url.split('#').next().unwrap_or(url);
    let (scheme, rest) = url.split_once("://")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, q),
        None => (rest, ""),
    };
    let (host, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, "/"),
    };
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    let mut key = format!(
        "{}://{}{path}?",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    );
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = decode(pair.split('=').next().unwrap_or(pair));
        if !ignored(&name, ignore) {
            key.push_str(pair);
            key.push('&');
        }
    }
    key.push_str(CACHE_PARAM);
    key.push_str("=g");
    key.push_str(&generation.to_string());
    Some(key)
}

/// The path of a URL (what a purge of one path names), without query or fragment.
pub fn path_of(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn ignored(name: &str, ignore: &[String]) -> bool {
    name.starts_with("utm_")
        || name.starts_with("__edgeseg")
        || ignore.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        })
}

/// Percent- and `+`-decoding of a parameter name, for matching only.
fn decode(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn key(url: &str) -> String {
        cache_key(url, &["gclid".into(), "ref_*".into()], 3).unwrap()
    }

    #[test]
    fn utm_and_listed_parameters_share_one_entry() {
        let plain = key("https://shop.test/products/boots");
        assert_eq!(plain, "https://shop.test/products/boots?__edgeseg_cache=g3");
        assert_eq!(
            key("https://shop.test/products/boots?utm_campaign=spring&utm_source=x"),
            plain
        );
        assert_eq!(
            key("https://shop.test/products/boots?gclid=abc&ref_a=1"),
            plain
        );
        assert_eq!(
            key("https://shop.test/products/boots?utm%5Fmedium=mail"),
            plain
        );
        assert_eq!(key("https://SHOP.test/products/boots#top"), plain);
        assert_eq!(key("https://shop.test/products/boots?"), plain);
    }

    #[test]
    fn edgeseg_state_is_never_part_of_the_key() {
        let plain = key("https://shop.test/");
        assert_eq!(key("https://shop.test/?__edgeseg_preview=tok.sig"), plain);
        assert_eq!(key("https://shop.test"), plain);
        // A request cannot pick its own generation.
        assert_eq!(key("https://shop.test/?__edgeseg_cache=g0"), plain);
    }

    #[test]
    fn parameters_the_page_reads_stay_apart_in_order() {
        assert_eq!(
            key("https://shop.test/list?page=2&utm_source=x&sort=price"),
            "https://shop.test/list?page=2&sort=price&__edgeseg_cache=g3"
        );
        assert_ne!(
            key("https://shop.test/list?page=2"),
            key("https://shop.test/list?page=3")
        );
        // `ref_*` is a prefix; `ref` itself is not listed.
        assert_ne!(key("https://shop.test/?ref=1"), key("https://shop.test/"));
        assert_ne!(key("https://shop.test/a"), key("https://shop.test/A"));
    }

    #[test]
    fn a_purge_generation_changes_every_key() {
        let a = cache_key("https://shop.test/", &[], 1).unwrap();
        let b = cache_key("https://shop.test/", &[], 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(cache_key("not a url", &[], 1), None);
        assert_eq!(cache_key("https:///x", &[], 1), None);
    }

    #[test]
    fn paths_of_urls() {
        assert_eq!(path_of("https://shop.test/a/b?x=1#f"), "/a/b");
        assert_eq!(path_of("https://shop.test"), "/");
        assert_eq!(path_of("/a?x"), "/a");
    }

    #[test]
    fn decoding_is_lenient() {
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("a+b%41"), "a bA");
    }
}
