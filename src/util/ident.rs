//! Names: what an identifier, a cookie name and an event name may be, shared
//! by the rules compiler and the page's events.

/// The event every page view records; the Worker records it itself, so the
/// page may not send it (it would count each view twice), and the rules may
/// not declare it.
pub const PAGE_VIEW: &str = "page_view";

/// Longest string accepted anywhere in an event (name, path, prop name or
/// value), in characters; the rules' export property names too.
pub const MAX_STRING_CHARS: usize = 256;

/// A name conditions can read as an attribute: letters, digits and `_`.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A cookie name as browsers send it (an RFC 9110 token), for the site's own
/// cookies, which may use `.` and the like (`.AspNetCore.Session`).
pub fn is_cookie_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The name of edgeseg's own cookie: stricter than a token.
pub fn is_cookie_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_identifier("views_10m"));
        assert!(!is_identifier("views-10m"));
        assert!(!is_identifier(""));
        assert!(is_cookie_token(".AspNetCore.Session"));
        assert!(!is_cookie_token("a b"));
        assert!(is_cookie_name("edgeseg"));
        assert!(!is_cookie_name(".x"));
    }
}
