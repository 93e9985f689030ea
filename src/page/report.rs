//! The applied-blocks report of a client-side navigation: how a decision
//! answered by `GET /__edgeseg/decide` becomes impressions and exposures once
//! the page script has really shown its blocks (`POST /__edgeseg/applied`).
//!
//! The browser is not trusted with value. The decision carries a signed,
//! short-lived token ([`issue`]) naming the visitor, the blocks it gave
//! content to (with the segment or variant of each) and the experiments those
//! blocks could expose; a report may only confirm blocks the token names.
//! The counting is the page pipeline's own [`AfterRewrite::counts`], rebuilt
//! from the token ([`counts`]) with the visitor's state at report time, so an
//! experiment the visitor was already exposed to (on a server-rewritten page
//! or an earlier decision) is not counted again. That each block of a
//! decision is reported once is the caller's to remember (the Worker keeps
//! the reported blocks of recent decisions per isolate): a token is
//! stateless.
//!
//! Format: `base64url(json) "." base64url(tag16)`, the tag an HMAC-SHA256
//! with a key derived from the Worker's secret for this purpose only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{AfterRewrite, PageOutcome, ReportCounts};
use crate::experiments::exposure::{self, ExperimentOutcome, Why};
use crate::rewrite::RewriteReport;
use crate::rules::CompiledRules;
use crate::state::{Timestamp, VisitorState};

/// How long after its decision a report is accepted: long enough for a slow
/// route to render its blocks, short enough that an old token is worthless.
pub const TOKEN_LIFETIME_SECS: u64 = 600;
/// A longer token was not issued by us.
pub const MAX_TOKEN_LEN: usize = 4_096;
/// A report's blocks: at most this many ids (a page has a handful).
pub const MAX_REPORTED_BLOCKS: usize = 64;

/// The key that signs decision tokens.
pub struct DecisionKey(Vec<u8>);

impl DecisionKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"edgeseg/decision/v1-signing-key");
        DecisionKey(mac.finalize().into_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// What a decision may have counted once its blocks are shown.
///
/// Read and written through `serde_json::Value` by hand, not derived: the
/// Worker already carries Value's code, and derived code for these types
/// cost about 10 KiB of its bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionClaims {
    /// The decision's random id (hex): each block is reported once per id.
    pub id: String,
    /// The visitor's id (hex): only their own cookie may report it.
    pub visitor: String,
    /// When it was decided (Unix seconds): the counts' time.
    pub at: Timestamp,
    /// (block id, segment or variant id) of each block given content.
    pub content: Vec<(String, String)>,
    /// (experiment cookie key, variant id, its blocks) of each experiment
    /// this decision may expose the visitor to.
    pub experiments: Vec<(u32, String, Vec<String>)>,
}

impl DecisionClaims {
    /// The token's JSON: `{"d", "v", "t", "c": [[block, source]], "x": [[key, variant, [blocks]]]}`.
    fn to_json(&self) -> Value {
        json!({
            "d": self.id,
            "v": self.visitor,
            "t": self.at,
            "c": self.content.iter().map(|(b, s)| json!([b, s])).collect::<Vec<_>>(),
            "x": self.experiments.iter().map(|(k, v, bs)| json!([k, v, bs])).collect::<Vec<_>>(),
        })
    }

    fn from_json(v: &Value) -> Option<DecisionClaims> {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let texts = |v: &Value| v.as_array()?.iter().map(text).collect::<Option<Vec<_>>>();
        let pairs = v.get("c")?.as_array()?;
        let content = pairs
            .iter()
            .map(|p| Some((text(p.get(0)?)?, text(p.get(1)?)?)))
            .collect::<Option<Vec<_>>>()?;
        let experiments = v
            .get("x")?
            .as_array()?
            .iter()
            .map(|e| {
                let key = u32::try_from(e.get(0)?.as_u64()?).ok()?;
                Some((key, text(e.get(1)?)?, texts(e.get(2)?)?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(DecisionClaims {
            id: text(v.get("d")?)?,
            visitor: text(v.get("v")?)?,
            at: v.get("t")?.as_u64()?,
            content,
            experiments,
        })
    }

    /// Whether `block` is one this decision gave content to or could expose with.
    pub fn names(&self, block: &str) -> bool {
        self.content.iter().any(|(b, _)| b == block)
            || self
                .experiments
                .iter()
                .any(|(_, _, bs)| bs.iter().any(|b| b == block))
    }
}

/// Why a report counts nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error(
        "token: not a decision token of this site; send the token of a decide answer unchanged"
    )]
    Malformed,
    #[error("token: the signature does not verify; send the token of a decide answer unchanged")]
    BadSignature,
    #[error("token: the decision is older than {TOKEN_LIFETIME_SECS} seconds; ask decide again")]
    Expired,
    #[error("token: the decision was made for another visitor")]
    OtherVisitor,
}

/// The token of a page outcome's [`AfterRewrite`], or `None` when nothing
/// would be counted (a visitor not tracked or measured, a preview) or no
/// block has content. `id` is random bytes from the caller.
pub fn issue(
    outcome: &PageOutcome,
    rules: &CompiledRules,
    key: &DecisionKey,
    visitor_id: [u8; 16],
    id: [u8; 16],
) -> Option<String> {
    let after = &outcome.after_rewrite;
    if !after.counted || outcome.classification.plan.blocks.is_empty() {
        return None;
    }
    let experiments = after
        .experiments
        .iter()
        .filter(|o| o.may_expose())
        .filter_map(|o| {
            let e = rules.experiments.get(o.experiment)?;
            Some((e.cookie_key, o.variant_id.clone()?, o.blocks.clone()))
        })
        .collect();
    let claims = DecisionClaims {
        id: crate::state::hex(&id),
        visitor: crate::state::hex(&visitor_id),
        at: after.now,
        content: after.content.clone(),
        experiments,
    };
    let payload = claims.to_json().to_string().into_bytes();
    let mut mac = key.mac();
    mac.update(&payload);
    let tag = mac.finalize().into_bytes();
    Some(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(&tag[..16])
    ))
}

/// Verifies a token (signature, age) and that it is `visitor`'s.
pub fn verify(
    token: &str,
    key: &DecisionKey,
    visitor: &VisitorState,
    now: Timestamp,
) -> Result<DecisionClaims, ReportError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ReportError::Malformed);
    }
    let (payload, tag) = token.split_once('.').ok_or(ReportError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ReportError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| ReportError::Malformed)?;
    if tag.len() != 16 {
        return Err(ReportError::BadSignature);
    }
    let mut mac = key.mac();
    mac.update(&payload);
    mac.verify_truncated_left(&tag)
        .map_err(|_| ReportError::BadSignature)?;
    let claims = serde_json::from_slice::<Value>(&payload)
        .ok()
        .as_ref()
        .and_then(DecisionClaims::from_json)
        .ok_or(ReportError::Malformed)?;
    // A clock a little behind the decision's (another isolate) is fine.
    if now.saturating_sub(claims.at) > TOKEN_LIFETIME_SECS || claims.at > now + 60 {
        return Err(ReportError::Expired);
    }
    if claims.visitor != visitor.visitor_id_hex() {
        return Err(ReportError::OtherVisitor);
    }
    Ok(claims)
}

/// The counts of the `applied` blocks of a verified decision, through the
/// page pipeline's [`AfterRewrite::counts`], and the exposures confirmed
/// into `state` (so its cookie records them). Blocks the decision does not
/// name count nothing; an experiment counts only if the visitor still has
/// the variant the decision served and was not exposed since.
pub fn counts(
    rules: &CompiledRules,
    claims: &DecisionClaims,
    applied: &[String],
    state: &mut VisitorState,
) -> ReportCounts {
    let experiments: Vec<ExperimentOutcome> = claims
        .experiments
        .iter()
        .filter_map(|(cookie_key, variant_id, blocks)| {
            let i = rules
                .experiments
                .iter()
                .position(|e| e.cookie_key == *cookie_key)?;
            let e = &rules.experiments[i];
            let variant = e.variant_index(variant_id)?;
            let entry = state
                .experiments
                .iter()
                .find(|x| x.experiment == *cookie_key)
                .filter(|x| usize::from(x.variant) == variant)?;
            Some(ExperimentOutcome {
                experiment: i,
                key: e.key.clone(),
                variant: Some(variant),
                variant_id: Some(variant_id.clone()),
                why: Why::Sticky,
                counted: true,
                exposed: entry.exposed.is_some(),
                blocks: blocks.clone(),
            })
        })
        .collect();
    // CUPED: the covariates the decision took (page::serve wrote them into the
    // visitor's experiment entries), so a client-side exposure adds Σx and Σx²
    // as a server-rewritten one does and theta stays unbiased.
    let covariates = experiments
        .iter()
        .filter_map(|o| {
            let e = &rules.experiments[o.experiment];
            let entry = state
                .experiments
                .iter()
                .find(|x| x.experiment == e.cookie_key)?;
            let xs = e
                .goals
                .iter()
                .map(|g| {
                    entry
                        .covariates
                        .iter()
                        .find(|c| c.goal == g.key)
                        .map_or(0, |c| c.x)
                })
                .collect();
            Some((o.experiment, xs))
        })
        .collect();
    let after = AfterRewrite {
        counted: true,
        now: claims.at,
        content: claims.content.clone(),
        experiments,
        covariates,
    };
    let mut named: Vec<String> = Vec::new();
    for b in applied {
        if claims.names(b) && !named.contains(b) {
            named.push(b.clone());
        }
    }
    let report = RewriteReport {
        applied: named,
        head_appended: false,
    };
    let out = after.counts(rules, &report);
    for key in &out.exposures {
        exposure::confirm_exposure(state, *key, claims.at);
    }
    out
}
