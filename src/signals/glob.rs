//! Path globs for signals' `path` filters.

/// A path pattern where `*` matches any run of characters (including `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    pattern: String,
}

impl PathGlob {
    pub fn new(pattern: &str) -> Self {
        PathGlob {
            pattern: pattern.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, path: &str) -> bool {
        glob_match(self.pattern.as_bytes(), path.as_bytes())
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice,
/// never exponential, whatever the pattern.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = PathGlob::new("/products/*");
        assert!(g.matches("/products/boots.html"));
        assert!(g.matches("/products/new/a.html"));
        assert!(!g.matches("/product/boots"));
        assert!(!g.matches("/products"));
        assert!(PathGlob::new("*/new/*").matches("/products/new/x"));
        assert!(PathGlob::new("/a*b*c").matches("/aXXbYYc"));
        assert!(!PathGlob::new("/a*b*c").matches("/aXXbYY"));
        assert!(PathGlob::new("/exact").matches("/exact"));
        // Pathological pattern stays fast.
        let long = "a".repeat(5_000);
        assert!(!PathGlob::new("*a*a*a*a*a*a*a*b").matches(&long));
    }
}
