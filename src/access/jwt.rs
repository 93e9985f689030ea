//! The Cloudflare Access token (`Cf-Access-Jwt-Assertion`): decoding and the
//! claim checks, without the signature.
//!
//! Access signs with RS256 and publishes its keys at
//! `https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`. Checking an
//! RSA signature needs big-number code the Worker's bundle has no room for,
//! and the runtime has it already (WebCrypto), so the signature is the
//! caller's part of the seam: [`decode`] hands out the key id, the signed
//! bytes and the signature; the caller verifies them against the key and
//! passes its verdict to [`Unverified::check`], which checks the rest (the
//! algorithm, audience, issuer, expiry and not-before, with [`LEEWAY_SECS`]
//! for clocks that disagree a little). Natively and in tests nothing here
//! needs a key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// How far the token's times may be off the Worker's clock (seconds), either
/// way: Access and Cloudflare's edge keep good time, so a minute is plenty.
pub const LEEWAY_SECS: u64 = 60;
/// A longer header value is refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Which Access application tokens are accepted: the team's issuer and the
/// application's audience tag (both from `wrangler.toml` vars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `https://<team>.cloudflareaccess.com`, without a trailing slash.
    pub issuer: String,
    /// The Access application's AUD tag.
    pub audience: String,
}

impl AccessConfig {
    /// From the team domain (`myteam.cloudflareaccess.com`, with or without
    /// `https://`) and the audience tag; `None` when either is empty (Access
    /// is then not configured, and only the bearer token signs in).
    pub fn new(team_domain: &str, audience: &str) -> Option<AccessConfig> {
        let host = team_domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/');
        let audience = audience.trim();
        if host.is_empty() || audience.is_empty() {
            return None;
        }
        Some(AccessConfig {
            issuer: format!("https://{host}"),
            audience: audience.to_string(),
        })
    }

    /// Where the team publishes its signing keys.
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.issuer)
    }
}

/// Why a token was refused (the API answers 403 and logs this, never the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("the Access token is malformed ({0})")]
    Malformed(&'static str),
    #[error("the Access token is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("the Access token is signed with a key the team does not publish (kid {0:?})")]
    UnknownKey(String),
    #[error("the Access token's signature does not match")]
    BadSignature,
    #[error("the Access token is for another application (audience)")]
    WrongAudience,
    #[error("the Access token was issued by {0:?}, not this team")]
    WrongIssuer(String),
    #[error("the Access token expired")]
    Expired,
    #[error("the Access token is not valid yet")]
    NotYetValid,
    #[error("the Access token names no email or service token")]
    NoSubject,
}

/// What the caller's signature check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Valid,
    Invalid,
    /// No published key has the token's `kid` (after a refresh of the keys).
    UnknownKey,
}

/// Who the token says is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A person, by email (lower-cased).
    Email(String),
    /// An Access service token, by its client id (`common_name`).
    ServiceToken(String),
}

/// A token's checked claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub subject: Subject,
    /// Groups from the identity provider, when Access passes them on
    /// (`groups`, or `custom.groups` for OIDC/SAML claims).
    pub groups: Vec<String>,
}

/// The header's fields that matter. Header and claims are read as JSON
/// values, not derived structs: the Worker has the value parser already, and
/// each derived deserializer costs bundle size.
struct Header {
    alg: String,
    kid: String,
}

/// A decoded token whose signature nobody has checked yet.
pub struct Unverified {
    header: Header,
    claims: Value,
    signed: String,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Unverified {
    /// Never the token's parts: a log line must not carry a replayable token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unverified")
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

/// Splits and decodes a compact JWS (`header.claims.signature`).
pub fn decode(token: &str) -> Result<Unverified, TokenError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts"));
    };
    let part = |p: &str, what: &'static str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed(what))
    };
    let header: Value =
        serde_json::from_slice(&part(h, "header")?).map_err(|_| TokenError::Malformed("header"))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let header = Header {
        alg: text(&header, "alg"),
        kid: text(&header, "kid"),
    };
    let claims: Value =
        serde_json::from_slice(&part(c, "claims")?).map_err(|_| TokenError::Malformed("claims"))?;
    if !claims.is_object() {
        return Err(TokenError::Malformed("claims"));
    }
    let signature = part(s, "signature")?;
    Ok(Unverified {
        header,
        claims,
        signed: format!("{h}.{c}"),
        signature,
    })
}

impl Unverified {
    /// The key id to verify with.
    pub fn kid(&self) -> &str {
        &self.header.kid
    }

    /// Whether the token claims RS256, the only algorithm Access uses (so a
    /// token asking for `none` or an HMAC never reaches a key).
    pub fn is_rs256(&self) -> bool {
        self.header.alg == "RS256"
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        self.signed.as_bytes()
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks everything but the signature itself, given the caller's verdict
    /// on it, at Unix time `now`.
    pub fn check(
        self,
        signature: Signature,
        config: &AccessConfig,
        now: u64,
    ) -> Result<Claimed, TokenError> {
        if !self.is_rs256() {
            return Err(TokenError::Algorithm(self.header.alg));
        }
        match signature {
            Signature::Valid => {}
            Signature::Invalid => return Err(TokenError::BadSignature),
            Signature::UnknownKey => return Err(TokenError::UnknownKey(self.header.kid)),
        }
        let c = self.claims;
        let audience_ok = match c.get("aud") {
            Some(Value::String(a)) => a == &config.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&config.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        let iss = c.get("iss").and_then(Value::as_str).unwrap_or("");
        if iss.trim_end_matches('/') != config.issuer {
            return Err(TokenError::WrongIssuer(iss.to_string()));
        }
        match c.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp.saturating_add(LEEWAY_SECS) > now => {}
            _ => return Err(TokenError::Expired),
        }
        if c.get("nbf")
            .and_then(Value::as_u64)
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
        {
            return Err(TokenError::NotYetValid);
        }
        let field = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|e| !e.is_empty())
        };
        let subject = match (field("email"), field("common_name")) {
            (Some(e), _) => Subject::Email(e.to_ascii_lowercase()),
            (None, Some(cn)) => Subject::ServiceToken(cn.to_string()),
            _ => return Err(TokenError::NoSubject),
        };
        let groups = c
            .get("groups")
            .or_else(|| c.get("custom").and_then(|x| x.get("groups")))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|g| g.as_str().or_else(|| g.get("name").and_then(Value::as_str)))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Claimed { subject, groups })
    }
}

/// An RSA signing key from the team's certs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    n: String,
    e: String,
}

impl Jwk {
    /// The key as a JWK for WebCrypto's `importKey("jwk", ...)`: only the
    /// fields it needs, so an odd field in the certs can not break the import.
    pub fn import_json(&self) -> String {
        serde_json::json!({"kty": "RSA", "n": self.n, "e": self.e, "alg": "RS256", "ext": true})
            .to_string()
    }
}

/// The RSA keys of a JWKS document (`{"keys": [...]}`), as Access publishes
/// them; keys of other types or algorithms are skipped.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the certs are not JSON: {e}"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the certs have no \"keys\" list")?;
    Ok(keys
        .iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
        .filter(|k| {
            k.get("alg")
                .and_then(Value::as_str)
                .is_none_or(|a| a == "RS256")
        })
        .filter_map(|k| {
            Some(Jwk {
                kid: k.get("kid")?.as_str()?.to_string(),
                n: k.get("n")?.as_str()?.to_string(),
                e: k.get("e")?.as_str()?.to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn config() -> AccessConfig {
        AccessConfig::new("myteam.cloudflareaccess.com", "aud-tag-1").unwrap()
    }

    fn token(header: Value, claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            enc(&header),
            enc(&claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    fn claims() -> Value {
        serde_json::json!({
            "aud": ["aud-tag-1"], "iss": "https://myteam.cloudflareaccess.com",
            "exp": NOW + 600, "nbf": NOW - 10, "iat": NOW - 10,
            "email": "Ann@Shop.Example", "type": "app", "sub": "1234",
        })
    }

    fn header() -> Value {
        serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})
    }

    fn check(t: &str, sig: Signature) -> Result<Claimed, TokenError> {
        decode(t)?.check(sig, &config(), NOW)
    }

    #[test]
    fn a_good_token_names_the_person() {
        let t = token(header(), claims());
        let u = decode(&t).unwrap();
        assert_eq!(u.kid(), "k1");
        assert_eq!(u.signature(), b"sig");
        assert_eq!(u.signed_bytes(), t.rsplit_once('.').unwrap().0.as_bytes());
        let c = u.check(Signature::Valid, &config(), NOW).unwrap();
        assert_eq!(c.subject, Subject::Email("ann@shop.example".into()));
        assert!(c.groups.is_empty());
    }

    #[test]
    fn signature_audience_issuer_and_times_are_checked() {
        let t = token(header(), claims());
        assert_eq!(check(&t, Signature::Invalid), Err(TokenError::BadSignature));
        assert_eq!(
            check(&t, Signature::UnknownKey),
            Err(TokenError::UnknownKey("k1".into()))
        );
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            token(header(), c)
        };
        assert_eq!(
            check(&with("aud", serde_json::json!(["other"])), Signature::Valid),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            check(
                &with("aud", serde_json::json!("aud-tag-1")),
                Signature::Valid
            )
            .map(|_| ()),
            Ok(()),
            "a single audience string is fine"
        );
        assert_eq!(
            check(
                &with("iss", "https://evil.cloudflareaccess.com".into()),
                Signature::Valid
            ),
            Err(TokenError::WrongIssuer(
                "https://evil.cloudflareaccess.com".into()
            ))
        );
        // Expiry with the leeway: a token that expired 59 s ago passes, 61 s ago does not.
        assert!(check(&with("exp", (NOW - 59).into()), Signature::Valid).is_ok());
        assert_eq!(
            check(&with("exp", (NOW - 61).into()), Signature::Valid),
            Err(TokenError::Expired)
        );
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            check(&token(header(), no_exp), Signature::Valid),
            Err(TokenError::Expired)
        );
        assert!(check(&with("nbf", (NOW + 59).into()), Signature::Valid).is_ok());
        assert_eq!(
            check(&with("nbf", (NOW + 61).into()), Signature::Valid),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn only_rs256_is_accepted_whatever_the_verdict() {
        for alg in ["none", "HS256", "RS512"] {
            let t = token(serde_json::json!({"alg": alg, "kid": "k1"}), claims());
            assert_eq!(
                check(&t, Signature::Valid),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(
            decode("a.b").unwrap_err(),
            TokenError::Malformed("not three parts")
        );
        assert_eq!(
            decode("a.b.c.d").unwrap_err(),
            TokenError::Malformed("not three parts")
        );
        assert_eq!(
            decode("!!.b.c").unwrap_err(),
            TokenError::Malformed("header")
        );
        assert_eq!(
            decode(&"a".repeat(MAX_TOKEN_LEN + 1)).unwrap_err(),
            TokenError::Malformed("too long")
        );
    }

    #[test]
    fn service_tokens_and_groups() {
        let mut c = claims();
        c.as_object_mut().unwrap().remove("email");
        c["common_name"] = "abc.access".into();
        let got = check(&token(header(), c), Signature::Valid).unwrap();
        assert_eq!(got.subject, Subject::ServiceToken("abc.access".into()));
        let mut c = claims();
        c["custom"] = serde_json::json!({"groups": ["marketing", {"name": "leads"}]});
        let got = check(&token(header(), c), Signature::Valid).unwrap();
        assert_eq!(
            got.groups,
            vec!["marketing".to_string(), "leads".to_string()]
        );
        let mut c = claims();
        c["email"] = "".into();
        assert_eq!(
            check(&token(header(), c), Signature::Valid),
            Err(TokenError::NoSubject)
        );
    }

    #[test]
    fn config_and_jwks() {
        assert_eq!(
            AccessConfig::new("https://myteam.cloudflareaccess.com/", "a")
                .unwrap()
                .certs_url(),
            "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        assert_eq!(AccessConfig::new("", "a"), None);
        assert_eq!(AccessConfig::new("t.cloudflareaccess.com", " "), None);
        let keys = parse_jwks(
            r#"{"keys": [{"kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig", "e": "AQAB", "n": "xyz"},
                       {"kid": "k2", "kty": "EC", "crv": "P-256"}],
                "public_cert": {"kid": "k1", "cert": "..."}}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "k1");
        let jwk: Value = serde_json::from_str(&keys[0].import_json()).unwrap();
        assert_eq!(jwk["n"], "xyz");
        assert_eq!(jwk["alg"], "RS256");
        assert!(parse_jwks("{}").is_err());
        assert!(parse_jwks("nope").is_err());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = token(header(), claims());
        let shown = format!("{:?}", decode(&t).unwrap());
        assert!(!shown.contains(t.split('.').nth(1).unwrap()));
    }
}
