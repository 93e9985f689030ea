//! Admin authentication: a bearer token compared in constant time.
//!
//! Both sides are hashed first, so the comparison takes the same time whatever
//! the token's length or how much of it matches.

use sha2::{Digest, Sha256};

/// What an `Authorization` header says about the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No bearer token: 401.
    Missing,
    /// A token that is not the admin token: 403.
    Wrong,
    Granted,
}

/// Checks an `Authorization` header against the configured admin token. An
/// empty configured token grants nothing (an unset secret must not mean "open").
pub fn check_bearer(header: Option<&str>, admin_token: &str) -> Auth {
    let Some(given) = header
        .map(str::trim)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Auth::Missing;
    };
    if !admin_token.is_empty() && constant_time_eq(given.as_bytes(), admin_token.as_bytes()) {
        Auth::Granted
    } else {
        Auth::Wrong
    }
}

/// Equality of two byte strings in time independent of their contents.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_outcomes() {
        assert_eq!(check_bearer(None, "s3cret"), Auth::Missing);
        assert_eq!(check_bearer(Some("Basic abc"), "s3cret"), Auth::Missing);
        assert_eq!(check_bearer(Some("Bearer "), "s3cret"), Auth::Missing);
        assert_eq!(check_bearer(Some("Bearer nope"), "s3cret"), Auth::Wrong);
        assert_eq!(check_bearer(Some("Bearer s3cret"), "s3cret"), Auth::Granted);
        assert_eq!(
            check_bearer(Some("Bearer s3cret"), ""),
            Auth::Wrong,
            "no token configured grants nothing"
        );
        assert_eq!(check_bearer(Some("Bearer s3cre"), "s3cret"), Auth::Wrong);
    }
}
