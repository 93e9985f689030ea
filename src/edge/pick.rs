//! Pick mode: the page the admin page's "Pick on page" frames (README,
//! "Picking blocks on the page").
//!
//! A page request with `?__edgeseg_pick=TOKEN`, where the token is a pick
//! grant the admin API signed (`POST api/pick`, minutes long), is served as
//! to a visitor with no history: the request's cookies are not read, the
//! pipeline runs as a forced preview (nothing counted, nothing exported, no
//! visitor cookie), and the response:
//! - carries `Content-Security-Policy: sandbox allow-scripts`, so the page
//!   runs with an opaque origin even outside the admin page's sandboxed
//!   frame, and can never read the admin page's storage or call its API as
//!   the admin;
//! - loses the origin's own `Set-Cookie` and `X-Frame-Options`, and is
//!   `no-store`;
//! - gets the picker script ([`SCRIPT`]) at the end of `<head>`, which talks
//!   to the admin page by `postMessage` only.
//!
//! Without a valid grant the parameter is ignored and the request is an
//! ordinary one: the public can do nothing with it.

use worker::{Env, Headers, Response, Result};

use crate::page::{HeaderChange, PageRequest};
use crate::preview::{PreviewGrant, PICK_PARAM};

/// The picker, run in the framed page (ASCII, so a CSP hash of it is the same
/// whatever charset the page declares).
const SCRIPT: &str = include_str!("pick.js");

/// The policy every pick-mode response carries.
const SANDBOX: &str = "sandbox allow-scripts";

/// The pick grant of a page request, when its token verifies (a query
/// lookup for every other request; the keys only when the parameter is there).
pub fn requested(request: &PageRequest, env: &Env) -> Option<PreviewGrant> {
    let token = request.facts.query_param(PICK_PARAM)?;
    let keys = super::secret_keys(env)?;
    crate::preview::pick_grant(Some(token), &keys.preview, request.facts.now)
}

/// Makes a visit a pick-mode one: no history read, the grant forced (which
/// the pipeline counts and stores nothing for).
pub fn visit_as_nobody(request: &mut PageRequest, grant: PreviewGrant) {
    request.cookies.clear();
    request.force = Some(grant);
}

/// The picker, as the `<head>` insertion.
pub fn head_script() -> String {
    format!("<script>{SCRIPT}</script>")
}

/// Header changes after the pipeline's own: nothing stored, framed only
/// sandboxed.
pub fn header_changes() -> [HeaderChange; 5] {
    [
        HeaderChange::Remove("set-cookie"),
        HeaderChange::Remove("x-frame-options"),
        HeaderChange::Set("cache-control", "private, no-store".into()),
        HeaderChange::Set("x-robots-tag", "noindex".into()),
        HeaderChange::Append("content-security-policy", SANDBOX.into()),
    ]
}

/// The answer when the address is not an HTML page (a redirect, an error, an
/// image): said in words, sandboxed, and nothing of the origin's passed on.
pub fn not_a_page(status: u16) -> Result<web_sys::Response> {
    let text = format!(
        "Pick on page shows HTML pages only: this address answered with status {status} \
         or not with HTML. Open the page it leads to instead."
    );
    let mut r = Response::error(text, 422)?;
    let h = r.headers_mut();
    h.set("content-type", "text/plain; charset=utf-8")?;
    h.set("cache-control", "private, no-store")?;
    h.set("content-security-policy", SANDBOX)?;
    Ok(r.into())
}

/// The origin's page in pick mode when there are no rules yet: only the
/// picker goes in.
pub fn without_rules(origin: &web_sys::Response) -> Result<web_sys::Response> {
    let headers = super::copy_headers(&Headers(origin.headers()))?;
    for change in header_changes() {
        match change {
            HeaderChange::Remove(name) => headers.delete(name)?,
            HeaderChange::Set(name, value) => headers.set(name, &value)?,
            HeaderChange::Append(name, value) => headers.append(name, &value)?,
        }
    }
    headers.delete("content-length")?;
    headers.delete("etag")?;
    let head = super::content::fit_policies(&headers, head_script())?;
    let init = web_sys::ResponseInit::new();
    init.set_status(origin.status());
    init.set_headers(&headers.0);
    let input =
        web_sys::Response::new_with_opt_readable_stream_and_init(origin.body().as_ref(), &init)
            .map_err(super::js_error)?;
    let plan = crate::rewrite::RewritePlan {
        blocks: Vec::new(),
        head_append: head,
    };
    super::html_rewriter::transform(&input, plan, Box::new(|_| {})).map_err(super::js_error)
}
