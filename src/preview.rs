//! Signed preview links: a marketer forces segments in their own browser.
//!
//! A token carries the forced segments and an expiry, signed with a key derived
//! from `EDGESEG_SECRET` (separate from the cookie's key), so a query parameter
//! can force nothing without it. Format: `base64url(json) "." base64url(tag16)`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::state::Timestamp;

/// The query parameter that carries a preview token (`off` ends a preview).
pub const QUERY_PARAM: &str = "__edgeseg_preview";
/// The query parameter that opens a page in pick mode: the page as a visitor
/// with no history gets it, with nothing counted or stored, framed by the
/// admin page's "Pick on page" (README, "Picking blocks on the page").
pub const PICK_PARAM: &str = "__edgeseg_pick";
/// The cookie that keeps a preview for the marketer's browser.
pub const COOKIE_NAME: &str = "edgeseg_preview";
const MAX_TOKEN_LEN: usize = 2048;

/// What a preview forces, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewGrant {
    #[serde(rename = "s")]
    pub segments: Vec<String>,
    /// Experiment variants forced: (experiment key, variant id). Tokens
    /// issued before experiments existed have none.
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<(String, String)>,
    #[serde(rename = "e")]
    pub expires: Timestamp,
    /// A saved draft whose rules the Worker applies instead of the live ones
    /// for this browser (README, "Admin users and roles").
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<u64>,
    /// A grant for "Pick on page" (README, "Picking blocks on the page"),
    /// not a preview link: it only ever opens pages in pick mode
    /// ([`pick_grant`]), and a preview link or cookie carrying it is refused.
    #[serde(rename = "p", default, skip_serializing_if = "std::ops::Not::not")]
    pub pick: bool,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreviewError {
    #[error("the preview link is malformed")]
    Malformed,
    #[error("the preview link's signature does not match")]
    BadSignature,
    #[error("the preview link expired")]
    Expired,
}

/// The signing key for preview tokens.
#[derive(Clone)]
pub struct PreviewKey(Vec<u8>);

impl PreviewKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"edgeseg/preview/v1-signing-key");
        PreviewKey(mac.finalize().into_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// Signs a grant into a token.
pub fn issue(grant: &PreviewGrant, key: &PreviewKey) -> String {
    let payload = serde_json::to_vec(grant).expect("a grant serializes");
    let mut mac = key.mac();
    mac.update(&payload);
    let tag = mac.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(&tag[..16])
    )
}

/// Verifies a token and its expiry.
pub fn verify(token: &str, key: &PreviewKey, now: Timestamp) -> Result<PreviewGrant, PreviewError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(PreviewError::Malformed);
    }
    let (payload, tag) = token.split_once('.').ok_or(PreviewError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| PreviewError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| PreviewError::Malformed)?;
    let mut mac = key.mac();
    mac.update(&payload);
    mac.verify_truncated_left(&tag)
        .map_err(|_| PreviewError::BadSignature)?;
    if tag.len() != 16 {
        return Err(PreviewError::BadSignature);
    }
    let grant: PreviewGrant =
        serde_json::from_slice(&payload).map_err(|_| PreviewError::Malformed)?;
    if grant.expires <= now {
        return Err(PreviewError::Expired);
    }
    Ok(grant)
}

/// The dismissible banner a previewed page carries (appended to `<head>`; it
/// adds itself to the body when the page has loaded). Segment ids are
/// identifiers, so they need no escaping; the text is escaped anyway.
///
/// Styled through the CSSOM (`style.cssText`), never a `style` attribute, so
/// that a site's strict `style-src` lets it show (CSP does not govern the
/// CSSOM); ASCII only (`&times;`), so its hash is the same whatever charset
/// the page declares (see [`crate::csp`]).
pub fn banner_script(grant: &PreviewGrant) -> String {
    let mut forced = grant.segments.clone();
    forced.extend(grant.variants.iter().map(|(e, v)| format!("{e}={v}")));
    if let Some(d) = grant.draft {
        forced.insert(0, format!("draft {d}"));
    }
    let what = crate::template::escape_html(&forced.join(", "));
    let what = what.replace('\\', "\\\\").replace('\'', "\\'");
    let what: String = what
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("&#{};", c as u32),
        })
        .collect();
    format!(
        "<script>document.addEventListener('DOMContentLoaded',function(){{var b=document.createElement('div');\
b.setAttribute('data-edgeseg-preview','');\
b.style.cssText='position:fixed;z-index:2147483647;left:0;right:0;bottom:0;padding:8px 12px;background:#1f2937;color:#fff;font:14px/1.4 system-ui,sans-serif;display:flex;gap:12px;align-items:center;justify-content:center';\
b.innerHTML='<span>edgeseg preview: forcing <strong>{what}</strong></span><a href=\"?{QUERY_PARAM}=off\">End preview</a><button type=\"button\" aria-label=\"Dismiss\">&times;</button>';\
b.querySelector('a').style.color='#93c5fd';var x=b.querySelector('button');\
x.style.cssText='background:none;border:0;color:#fff;font-size:18px;cursor:pointer';\
x.onclick=function(){{b.remove()}};document.body.appendChild(b)}});</script>"
    )
}

/// What a request's preview link (query parameter) or preview cookie asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewDecision {
    /// No preview: an ordinary visit.
    None,
    /// A preview is on: the grant's segments and variants are forced. A new
    /// link sets the preview cookie (`set_cookie`), so later pages keep it.
    Active {
        grant: PreviewGrant,
        set_cookie: Option<String>,
    },
    /// `?__edgeseg_preview=off`, or a preview cookie that no longer verifies
    /// (expired, or signed with an old secret): the cookie is cleared and the
    /// visit is an ordinary one.
    End { clear_cookie: String },
}

impl PreviewDecision {
    pub fn is_active(&self) -> bool {
        matches!(self, PreviewDecision::Active { .. })
    }

    /// The preview's grant, when one is on.
    pub fn grant(&self) -> Option<&PreviewGrant> {
        match self {
            PreviewDecision::Active { grant, .. } => Some(grant),
            _ => None,
        }
    }
}

/// Reads a request's preview link, then its preview cookie. A link that does
/// not verify falls back to the cookie, so a mistyped link in a tab that is
/// already previewing keeps the preview.
pub fn decide(
    query_token: Option<&str>,
    cookies: &str,
    key: &PreviewKey,
    now: Timestamp,
) -> PreviewDecision {
    let clear = || crate::state::cookie::set_cookie_header(COOKIE_NAME, "", 0);
    if let Some(token) = query_token {
        if token == "off" {
            return PreviewDecision::End {
                clear_cookie: clear(),
            };
        }
        if let Ok(grant) = verify(token, key, now).and_then(not_pick) {
            let set_cookie = crate::state::cookie::set_cookie_header(
                COOKIE_NAME,
                token,
                grant.expires.saturating_sub(now),
            );
            return PreviewDecision::Active {
                grant,
                set_cookie: Some(set_cookie),
            };
        }
    }
    match crate::state::cookie::find_cookie(cookies, COOKIE_NAME)
        .map(|t| verify(t, key, now).and_then(not_pick))
    {
        Some(Ok(grant)) => PreviewDecision::Active {
            grant,
            set_cookie: None,
        },
        Some(Err(_)) => PreviewDecision::End {
            clear_cookie: clear(),
        },
        None => PreviewDecision::None,
    }
}

/// A pick grant is not a preview link.
fn not_pick(grant: PreviewGrant) -> Result<PreviewGrant, PreviewError> {
    match grant.pick {
        true => Err(PreviewError::Malformed),
        false => Ok(grant),
    }
}

/// The grant of a pick-mode request ([`PICK_PARAM`]), when its token
/// verifies, has not expired, and is a pick grant (a preview link's token
/// opens nothing in pick mode).
pub fn pick_grant(
    query_token: Option<&str>,
    key: &PreviewKey,
    now: Timestamp,
) -> Option<PreviewGrant> {
    verify(query_token?, key, now).ok().filter(|g| g.pick)
}

/// The draft a request's preview (link, else cookie) shows, if it is a
/// draft preview that verifies: the Worker then reads that draft's rules,
/// the only I/O a preview adds, and only for requests that carry one.
pub fn draft_requested(
    query_token: Option<&str>,
    cookies: &str,
    key: &PreviewKey,
    now: Timestamp,
) -> Option<u64> {
    decide(query_token, cookies, key, now).grant()?.draft
}

/// KV prefix of the record each preview link is listed by (the admin page's
/// "Links made"): `preview:link:ID`, expiring with the link; a revoked
/// link's record has `"revoked_at"`.
pub const LINK_PREFIX: &str = "preview:link:";

/// A link's id: its signature, 22 base64url characters. Unique per link, and
/// no secret (it is in the link), so revoking by it needs the admin's rights.
pub fn link_id(token: &str) -> Option<&str> {
    // A KV key, never a path: its length is all that needs checking.
    let (_, tag) = token.rsplit_once('.')?;
    (tag.len() == 22).then_some(tag)
}

/// The id of the link a request previews with: its query's token (unless
/// `off`), else its cookie's; what a revocation check looks up.
pub fn carried_link_id<'a>(query_token: Option<&'a str>, cookies: &'a str) -> Option<&'a str> {
    match query_token {
        Some("off") => None,
        Some(t) => link_id(t),
        None => crate::state::cookie::find_cookie(cookies, COOKIE_NAME).and_then(link_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> PreviewGrant {
        PreviewGrant {
            segments: vec!["campaign_visitor".into()],
            variants: Vec::new(),
            expires: 2_000,
            draft: None,
            pick: false,
        }
    }

    #[test]
    fn a_draft_preview_names_its_draft_and_old_tokens_name_none() {
        let key = PreviewKey::new(b"secret");
        let draft = PreviewGrant {
            draft: Some(7),
            ..grant()
        };
        let token = issue(&draft, &key);
        assert_eq!(draft_requested(Some(&token), "", &key, 1_000), Some(7));
        let cookie = format!("{COOKIE_NAME}={token}");
        assert_eq!(draft_requested(None, &cookie, &key, 1_000), Some(7));
        assert_eq!(
            draft_requested(Some(&token), "", &key, 2_000),
            None,
            "expired"
        );
        assert_eq!(
            draft_requested(Some(&issue(&grant(), &key)), "", &key, 1_000),
            None
        );
        assert_eq!(
            draft_requested(Some(&token), "", &PreviewKey::new(b"other"), 1_000),
            None
        );
        assert!(banner_script(&draft).contains("draft 7, campaign_visitor"));
    }

    #[test]
    fn a_pick_grant_opens_pick_mode_only_and_a_preview_link_never_does() {
        let key = PreviewKey::new(b"secret");
        let pick = PreviewGrant {
            pick: true,
            ..grant()
        };
        let token = issue(&pick, &key);
        assert_eq!(pick_grant(Some(&token), &key, 1_000), Some(pick.clone()));
        assert_eq!(pick_grant(Some(&token), &key, 2_000), None, "expired");
        let preview = issue(&grant(), &key);
        assert_eq!(pick_grant(Some(&preview), &key, 1_000), None);
        assert_eq!(pick_grant(None, &key, 1_000), None);
        // As a preview link or cookie it forces nothing and sets no cookie.
        assert!(!decide(Some(&token), "", &key, 1_000).is_active());
        let cookie = format!("{COOKIE_NAME}={token}");
        assert!(matches!(
            decide(None, &cookie, &key, 1_000),
            PreviewDecision::End { .. }
        ));
    }

    #[test]
    fn tokens_round_trip_until_they_expire() {
        let key = PreviewKey::new(b"secret");
        let token = issue(&grant(), &key);
        assert_eq!(verify(&token, &key, 1_000), Ok(grant()));
        assert_eq!(verify(&token, &key, 2_000), Err(PreviewError::Expired));
    }

    #[test]
    fn forged_or_altered_tokens_are_refused() {
        let key = PreviewKey::new(b"secret");
        let token = issue(&grant(), &key);
        assert_eq!(
            verify(&token, &PreviewKey::new(b"other"), 1_000),
            Err(PreviewError::BadSignature)
        );
        let forged = PreviewGrant {
            segments: vec!["vip".into()],
            variants: Vec::new(),
            expires: 9_999,
            draft: None,
            pick: false,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = token.split_once('.').unwrap().1;
        assert_eq!(
            verify(&format!("{payload}.{tag}"), &key, 1_000),
            Err(PreviewError::BadSignature)
        );
        assert_eq!(
            verify("nonsense", &key, 1_000),
            Err(PreviewError::Malformed)
        );
        assert_eq!(
            verify(&format!("{}.", payload), &key, 1_000),
            Err(PreviewError::BadSignature)
        );
    }

    #[test]
    fn the_banner_escapes_what_it_shows() {
        let g = PreviewGrant {
            segments: vec!["a<b".into()],
            variants: Vec::new(),
            expires: 1,
            draft: None,
            pick: false,
        };
        let s = banner_script(&g);
        assert!(s.contains("a&lt;b"));
        assert!(!s.contains("a<b"));
    }

    #[test]
    fn a_link_is_known_by_its_signature_from_the_query_or_the_cookie() {
        let key = PreviewKey::new(b"secret");
        let token = issue(&grant(), &key);
        let id = link_id(&token).expect("an id");
        assert_eq!(id.len(), 22);
        assert!(token.ends_with(id));
        assert_eq!(link_id("no-dot"), None);
        assert_eq!(link_id("a.short"), None);
        let cookie = format!("other=1; {COOKIE_NAME}={token}");
        assert_eq!(carried_link_id(Some(&token), &cookie), Some(id));
        assert_eq!(carried_link_id(None, &cookie), Some(id));
        assert_eq!(carried_link_id(Some("off"), &cookie), None);
        assert_eq!(carried_link_id(None, "other=1"), None);
        let other = issue(
            &PreviewGrant {
                expires: 3_000,
                ..grant()
            },
            &key,
        );
        assert_eq!(carried_link_id(Some(&other), &cookie), link_id(&other));
    }
}
