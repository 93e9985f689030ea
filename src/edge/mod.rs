//! The Cloudflare Worker adapter: the only module that knows the `worker` crate.
//!
//! It stays thin on purpose. Each request is routed ([`handle`]): the
//! worker's own endpoints live under `/__edgeseg/`, everything else is content
//! ([`content`]). The adapter turns platform values into the core's plain values
//! (request facts, cookie text, rules text, time, random bytes), calls the core,
//! and turns the answers back into headers and a streamed body. Anything that
//! goes wrong on the content path falls back to the origin's response as it
//! was: a visitor never sees an error of our making.

mod access;
mod admin;
mod applied;
mod content;
mod counters;
mod drafts;
mod drift;
mod endpoints;
mod events;
mod experiments;
mod export;
mod guardrails;
mod html_rewriter;
mod inbox;
mod origin;
mod pick;
mod rules_cache;
mod server_events;
mod shard;

use worker::{event, Context, Env, Request, Response, Result};

/// KV namespace binding (wrangler.toml).
pub const KV_BINDING: &str = "EDGESEG_KV";
/// KV key of the rules document.
pub const RULES_KEY: &str = "rules";
/// Secret used to sign the visitor cookie.
pub const SECRET_NAME: &str = "EDGESEG_SECRET";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The raw request, so the content path can avoid what converting it to a
/// `worker::Request` costs (see [`content::handle`]).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    handle(req, env, ctx).await
}

/// The cron trigger (wrangler.toml): send this isolate's counts, then recompute bandit weights
/// and test guardrails.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    counters::scheduled(&env).await;
    experiments::scheduled(&env).await;
    guardrails::scheduled(&env).await;
    drift::scheduled(&env).await;
}

async fn handle(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let url = req.url();
    if let Some(rest) = own_endpoint(&url) {
        if rest == "decide" {
            // The page pipeline, as the content path runs it, on the runtime's request.
            let response = content::decide(req, &env, &ctx).await;
            counters::flush_later(&env, &ctx);
            return response;
        }
        let rest = rest.to_owned();
        let response = endpoints::handle(&rest, Request::from(req), &env, &ctx).await;
        counters::flush_later(&env, &ctx);
        return response.map(Into::into);
    }
    content::handle(req, &env, &ctx).await
}

/// The part after `/__edgeseg/` of a URL whose path starts with it.
fn own_endpoint(url: &str) -> Option<&str> {
    let path = crate::request::path_and_query(url);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.strip_prefix("/__edgeseg/")
}

/// A secret (or var) that is set and not empty.
pub(crate) fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
}

thread_local! {
    static SECRET_KEYS: std::cell::OnceCell<Option<std::rc::Rc<crate::page::Keys>>> =
        const { std::cell::OnceCell::new() };
}

/// The cookie and preview keys, derived once per isolate: a secret changes
/// only with a new deployment, which starts new isolates, and deriving them
/// (two HMACs, and reading the secret across the JS boundary) on every request
/// is work for nothing. `None` when the secret is not set.
pub(crate) fn secret_keys(env: &Env) -> Option<std::rc::Rc<crate::page::Keys>> {
    SECRET_KEYS.with(|k| {
        k.get_or_init(|| {
            secret(env, SECRET_NAME).map(|s| std::rc::Rc::new(crate::page::Keys::new(s.as_bytes())))
        })
        .clone()
    })
}

/// A mutable copy of a header list (the platform's own are often immutable),
/// in one call into the runtime (entry by entry costs a JS round trip per header).
pub(crate) fn copy_headers(from: &worker::Headers) -> Result<worker::Headers> {
    web_sys::Headers::new_with_headers(&from.0)
        .map(worker::Headers)
        .map_err(js_error)
}

/// A JavaScript exception as the `worker` crate's error.
pub(crate) fn js_error(e: wasm_bindgen::JsValue) -> worker::Error {
    worker::Error::JsError(format!("{e:?}"))
}

/// A JSON reply that no cache stores (every endpoint's answers are per-caller or live).
pub(crate) fn json_reply(status: u16, body: &serde_json::Value) -> Result<Response> {
    let mut r = Response::from_json(body)?.with_status(status);
    r.headers_mut().set("cache-control", "no-store")?;
    Ok(r)
}

/// `{"error": message}` with a status.
pub(crate) fn error_reply(status: u16, message: &str) -> Result<Response> {
    json_reply(status, &serde_json::json!({ "error": message }))
}

/// Random bytes for ids (visitor, isolate). Without a random source, the
/// clock: such ids then only need to differ, not to be unguessable, since they
/// carry no authority.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut id = [0u8; N];
    if getrandom::getrandom(&mut id).is_err() {
        let t = (now_millis() as u128).to_le_bytes();
        let n = N.min(t.len());
        id[..n].copy_from_slice(&t[..n]);
    }
    id
}

/// Unix seconds.
pub(crate) fn now_secs() -> u64 {
    (now_millis() / 1_000.0) as u64
}

/// Milliseconds since the Unix epoch. Inside workerd the clock only moves
/// between I/O events, which is what Cloudflare bills as CPU time anyway.
pub(crate) fn now_millis() -> f64 {
    worker::Date::now().as_millis() as f64
}
