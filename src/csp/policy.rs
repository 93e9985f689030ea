//! Content-Security-Policy text as browsers read it (CSP Level 3, "parse a
//! serialized CSP"), kept as offsets into the original text so that an edit
//! can add to one directive and leave every other byte as the site wrote it.
//!
//! Parsing never fails: what a browser would ignore (an empty directive, a
//! name with characters outside `[A-Za-z0-9-]`, a repeated directive) is
//! skipped here too, so edgeseg never reads a policy as looser than the
//! browser will.

/// One policy: a serialized CSP (one header value between commas, or a
/// `<meta>`'s whole content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy<'a> {
    pub directives: Vec<Directive<'a>>,
}

/// One directive of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive<'a> {
    /// Lowercased (directive names are ASCII case-insensitive).
    pub name: String,
    /// The source expressions, as written.
    pub sources: Vec<&'a str>,
    /// Where in the parsed text the directive's last token ends: new sources
    /// go here, after a space.
    pub end: usize,
}

/// How a source list treats an inline `<script>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InlineScripts<'a> {
    /// `'unsafe-inline'`, not cancelled by a nonce, a hash or
    /// `'strict-dynamic'`: every inline script runs already.
    Allowed,
    /// No inline script runs and nothing may be added: `'none'` (even beside
    /// other sources), or an empty list.
    Forbidden,
    /// Scripts with one of these nonces, or whose hash is listed, run.
    /// `nonces` holds only values a browser accepts (base64 or base64url).
    Listed { nonces: Vec<&'a str> },
}

/// The directives a browser checks for an inline `<script>` element, in order
/// of precedence (CSP3: `script-src-elem`, then `script-src`, then `default-src`).
const SCRIPT_ELEM: [&str; 3] = ["script-src-elem", "script-src", "default-src"];

/// Every policy of a header value: several headers of one name arrive joined
/// with commas, and each piece is a policy of its own that must allow a
/// script for it to run.
pub fn parse_list(text: &str) -> Vec<Policy<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split(',') {
        let policy = parse_at(text, start, start + piece.len());
        if !policy.directives.is_empty() {
            out.push(policy);
        }
        start += piece.len() + 1;
    }
    out
}

/// One policy (a `<meta http-equiv="Content-Security-Policy">`'s content is
/// one policy: a comma in it is not a separator).
pub fn parse(text: &str) -> Policy<'_> {
    parse_at(text, 0, text.len())
}

fn parse_at(text: &str, from: usize, to: usize) -> Policy<'_> {
    let mut directives: Vec<Directive<'_>> = Vec::new();
    let mut pos = from;
    for token in text[from..to].split(';') {
        let token_start = pos;
        pos += token.len() + 1;
        let mut words = token
            .split(is_ascii_space)
            .scan(token_start, |at, w| {
                let start = *at;
                *at += w.len() + 1;
                Some((start, w))
            })
            .filter(|(_, w)| !w.is_empty());
        let Some((_, name)) = words.next() else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let name = name.to_ascii_lowercase();
        // A repeated directive is ignored by browsers: the first one counts.
        if directives.iter().any(|d| d.name == name) {
            continue;
        }
        let end = token_start + token.trim_end_matches(is_ascii_space).len();
        let sources: Vec<&str> = words.map(|(_, w)| w).collect();
        directives.push(Directive { name, sources, end });
    }
    Policy { directives }
}

fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

impl<'a> Policy<'a> {
    pub fn directive(&self, name: &str) -> Option<&Directive<'a>> {
        self.directives.iter().find(|d| d.name == name)
    }

    /// The directive that decides whether an inline `<script>` runs, or
    /// `None` when the policy does not restrict scripts.
    pub fn script_elem(&self) -> Option<&Directive<'a>> {
        SCRIPT_ELEM.iter().find_map(|n| self.directive(n))
    }
}

impl<'a> Directive<'a> {
    /// What this source list does to an inline `<script>`.
    pub fn inline_scripts(&self) -> InlineScripts<'a> {
        // Browsers ignore `'none'` beside other sources, but which sources
        // they find valid varies: `'none'` anywhere is taken at its word.
        let none = self.sources.iter().any(|s| keyword(s, "'none'"));
        if self.sources.is_empty() || none {
            return InlineScripts::Forbidden;
        }
        let nonces: Vec<&'a str> = self.sources.iter().filter_map(|s| nonce(s)).collect();
        // A malformed nonce or hash is dropped by the browser, so it does not
        // cancel `'unsafe-inline'` either.
        let listed = !nonces.is_empty()
            || self
                .sources
                .iter()
                .any(|s| is_hash(s) || keyword(s, "'strict-dynamic'"));
        if !listed && self.sources.iter().any(|s| keyword(s, "'unsafe-inline'")) {
            InlineScripts::Allowed
        } else {
            InlineScripts::Listed { nonces }
        }
    }

    /// Whether `value` is one of this list's nonces.
    pub fn has_nonce(&self, value: &str) -> bool {
        self.sources.iter().any(|s| nonce(s) == Some(value))
    }
}

fn keyword(s: &str, k: &str) -> bool {
    s.eq_ignore_ascii_case(k)
}

fn keyword_prefix(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `'nonce-VALUE'` with a value a browser accepts (CSP3's base64-value:
/// base64 or base64url, at most two `=` at the end), else `None`. Only such a
/// value can go into a `nonce` attribute without any escaping.
pub fn nonce(s: &str) -> Option<&str> {
    if !keyword_prefix(s, "'nonce-") || !s.ends_with('\'') || s.len() < "'nonce-'".len() + 1 {
        return None;
    }
    let value = &s["'nonce-".len()..s.len() - 1];
    base64_value(value).then_some(value)
}

fn is_hash(s: &str) -> bool {
    ["'sha256-", "'sha384-", "'sha512-"].iter().any(|p| {
        keyword_prefix(s, p) && s.len() > p.len() + 1 && s.ends_with('\'') && {
            base64_value(&s[p.len()..s.len() - 1])
        }
    })
}

fn base64_value(v: &str) -> bool {
    let body = v.trim_end_matches('=');
    !body.is_empty()
        && v.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_point_after_the_directive() {
        let text = "default-src 'self'; script-src  'nonce-abc'  ; img-src *";
        let p = parse(text);
        let s = p.directive("script-src").unwrap();
        assert_eq!(
            &text[..s.end],
            "default-src 'self'; script-src  'nonce-abc'"
        );
        let list = parse_list("a 'self', script-src x");
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[1].directive("script-src").unwrap().end,
            "a 'self', script-src x".len()
        );
    }
}
