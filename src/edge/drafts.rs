//! Draft previews on the content path: a request that carries a signed
//! preview of a saved draft is served with that draft's rules.
//!
//! Only requests with a preview link or cookie get past the first check
//! (two substring searches, no I/O, no call into the runtime); only a
//! preview of a draft reads KV, once per draft and isolate: a draft's text
//! never changes (a new save is a new draft), so its compiled rules are kept.
//!
//! A revoked link (the admin page's "Revoke") is looked up here too, for the
//! same requests only: one KV read per previewed page.

use std::cell::RefCell;
use std::rc::Rc;

use worker::{console_error, Env};

use crate::page::PageRequest;
use crate::preview;
use crate::rules::history::draft_key;
use crate::rules::CompiledRules;

/// Compiled drafts this isolate keeps (the few a marketer is looking at).
const KEPT: usize = 4;

thread_local! {
    static DRAFTS: RefCell<Vec<(u64, Rc<CompiledRules>)>> = const { RefCell::new(Vec::new()) };
}

/// The draft's rules when `request` previews a draft; `None` for every other
/// request, and for a draft that is gone or no longer compiles (the live
/// rules then apply, and the banner still says it is a preview).
pub async fn for_preview(request: &PageRequest, env: &Env) -> Option<Rc<CompiledRules>> {
    let query = request.facts.query_param(preview::QUERY_PARAM);
    if query.is_none() && !request.cookies.contains(preview::COOKIE_NAME) {
        return None;
    }
    let keys = super::secret_keys(env)?;
    let draft =
        preview::draft_requested(query, &request.cookies, &keys.preview, request.facts.now)?;
    if let Some(rules) = DRAFTS.with(|d| {
        d.borrow()
            .iter()
            .find(|(n, _)| *n == draft)
            .map(|(_, r)| r.clone())
    }) {
        return Some(rules);
    }
    let text = match env.kv(super::KV_BINDING) {
        Ok(kv) => kv
            .get(&draft_key(draft))
            .text()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let text = match text {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => {
            console_error!("edgeseg: reading draft {draft} for a preview: {e}");
            return None;
        }
    };
    let rules = match CompiledRules::from_json(&text) {
        Ok(r) => Rc::new(r),
        Err(e) => {
            console_error!(
                "edgeseg: draft {draft} does not compile ({e}); previewing the live rules"
            );
            return None;
        }
    };
    DRAFTS.with(|d| {
        let mut d = d.borrow_mut();
        if d.len() >= KEPT {
            d.remove(0);
        }
        d.push((draft, rules.clone()));
    });
    Some(rules)
}

/// Ends the preview of a request whose link was revoked (its record
/// `preview:link:ID` has `revoked_at`, set by `POST api/preview/revoke/ID`): the core then sees
/// `?__edgeseg_preview=off`, serves an ordinary page and clears the cookie.
/// Requests without a preview pay two substring searches and nothing else. A
/// KV read that fails keeps the preview (the link is still signed and dated).
pub async fn drop_revoked(request: &mut PageRequest, env: &Env) {
    let query = request.facts.query_param(preview::QUERY_PARAM);
    if query.is_none() && !request.cookies.contains(preview::COOKIE_NAME) {
        return;
    }
    let Some(key) = preview::carried_link_id(query, &request.cookies)
        .map(|id| format!("{}{id}", preview::LINK_PREFIX))
    else {
        return;
    };
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return;
    };
    if let Ok(Some(record)) = kv.get(&key).text().await {
        if record.contains("\"revoked_at\"") {
            let query = &mut request.facts.query;
            query.retain(|(k, _)| k != preview::QUERY_PARAM);
            query.insert(0, (preview::QUERY_PARAM.into(), "off".into()));
        }
    }
}
