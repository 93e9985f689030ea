//! Fetching the page: from the static assets, or from `ORIGIN_URL` through the
//! edge cache when `settings.origin_cache` is on.
//!
//! Every decision (may this request use the cache, may this response be
//! stored and for how long, the key, what a stored copy's age allows, purges)
//! is the core's ([`crate::origin_cache`]); this module only does the I/O: the
//! Workers Cache API (`caches.default`, per data center), the purge log in KV,
//! and the refetches after the response (`ctx.wait_until`).
//!
//! A stored copy is the origin's response with two changes: `Cache-Control`
//! becomes `public, max-age=LIFETIME` (so the Cache API keeps it through its
//! stale bounds; the origin's value is kept aside and restored on the way
//! out) and a [`META_HEADER`] records when it was stored and its lifetimes.
//! Every page that leaves says how it was served in `X-Edgeseg-Cache`: `HIT`,
//! `STALE` (past its TTL, refetching), `STALE-IF-ERROR` (the origin failed),
//! `MISS` (fetched and stored), `PASS` (fetched, not storable) or `BYPASS`
//! (the request may not use the cache).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsCast;
use worker::{console_error, console_log, Cache, Context, Env, Headers, Request, Response, Result};

use crate::counters::names;
use crate::origin_cache::{
    cache_key, horizon_secs, path_of, request_bypass, storable, CachePolicy, Freshness, PurgeLog,
    RequestView, ResponseView, Stored, META_HEADER, PURGE_KEY,
};
use crate::rules::CompiledRules;

/// The header that tells how a page was served (see the module doc).
pub const STATUS_HEADER: &str = "x-edgeseg-cache";
/// Where a stored copy keeps the origin's own `Cache-Control`.
const ORIGIN_CC_HEADER: &str = "x-edgeseg-origin-cache-control";
/// How long a request waits for another request's fetch of the same page
/// (in this isolate) before it fetches the origin itself.
const COALESCE_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting request looks whether that fetch is done.
const COALESCE_POLL: Duration = Duration::from_millis(10);

thread_local! {
    /// The purge log and when it was read from KV.
    static PURGES: RefCell<Option<(f64, PurgeLog)>> = const { RefCell::new(None) };
    /// Keys being refetched after a stale hit: one refetch per key at a time.
    static REVALIDATING: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    /// Keys whose page this isolate is fetching to store: later misses wait for it.
    static IN_FLIGHT: RefCell<HashMap<String, Rc<Done>>> = RefCell::new(HashMap::new());
}

/// The page for a content request, with `ORIGIN_URL` through the cache.
///
/// `req` is the runtime's request as it came, and the answer the runtime's
/// response as the origin sent it (when the cache is off, nothing is
/// rebuilt on the way: see [`super::content::handle`]).
pub async fn fetch(
    req: &web_sys::Request,
    env: &Env,
    ctx: &Context,
    rules: Option<&CompiledRules>,
) -> Result<web_sys::Response> {
    let origin_url = origin_url(env);
    let policy = rules.map(|r| &r.settings.origin_cache);
    match (origin_url, policy) {
        (Some(base), Some(policy)) if policy.enabled => {
            let refresh_ms = rules.map_or(30_000.0, |r| {
                f64::from(r.settings.refresh_seconds) * 1_000.0
            });
            cached(req, &base, policy, refresh_ms, env, ctx)
                .await
                .map(Into::into)
        }
        (base, _) => {
            OriginRequest::new(req, base.as_deref(), false)?
                .send_raw(env)
                .await
        }
    }
}

/// `ORIGIN_URL`, when set. Read once per isolate: a var changes only with a
/// new deployment, which starts new isolates.
fn origin_url(env: &Env) -> Option<String> {
    thread_local! {
        static ORIGIN_URL: std::cell::OnceCell<Option<String>> = const { std::cell::OnceCell::new() };
    }
    ORIGIN_URL.with(|u| {
        u.get_or_init(|| {
            env.var("ORIGIN_URL")
                .ok()
                .map(|v| v.to_string().trim().trim_end_matches('/').to_string())
                .filter(|v| !v.is_empty())
        })
        .clone()
    })
}

async fn cached(
    req: &web_sys::Request,
    base: &str,
    policy: &CachePolicy,
    refresh_ms: f64,
    env: &Env,
    ctx: &Context,
) -> Result<Response> {
    let now = super::now_secs();
    let headers = Headers(req.headers());
    let header = |name: &str| headers.get(name).ok().flatten();
    let cookie = header("cookie");
    let view = RequestView {
        is_get: req.method() == "GET",
        authorization: header("authorization").is_some(),
        range: header("range").is_some(),
        cookie: cookie.as_deref(),
    };
    let url = req.url();
    let purges = purge_log(env, refresh_ms).await;
    let key = match request_bypass(policy, &view) {
        None => cache_key(&url, &policy.ignore_params, purges.generation),
        Some(_) => None,
    };
    let Some(key) = key else {
        super::counters::add(names::ORIGIN_CACHE_BYPASSES, now, 1);
        let resp = OriginRequest::new(req, Some(base), false)?
            .send(env)
            .await?;
        return labelled(resp, "BYPASS");
    };
    let path = path_of(&url).to_string();
    let origin = OriginRequest::new(req, Some(base), true)?;
    let cache = Cache::default();

    let mut fallback = None;
    for attempt in 0..2 {
        let found = lookup(&cache, &key, &purges, &path).await;
        match found {
            Some((resp, stored)) => match stored.freshness(now_ms()) {
                Freshness::Fresh => return hit(resp, stored, "HIT", false),
                Freshness::Stale => {
                    revalidate_later(origin, key, policy.clone(), env, ctx);
                    return hit(resp, stored, "STALE", true);
                }
                Freshness::Expired { serve_on_error } => {
                    fallback = serve_on_error.then_some((resp, stored));
                    break;
                }
            },
            None if attempt == 0 => {
                // Another request of this isolate is fetching this page: wait
                // for its copy instead of fetching the origin once more.
                let Some(done) = IN_FLIGHT.with(|f| f.borrow().get(&key).cloned()) else {
                    break;
                };
                wait(done).await;
            }
            None => break,
        }
    }

    let done = Rc::new(Done::default());
    IN_FLIGHT.with(|f| f.borrow_mut().insert(key.clone(), Rc::clone(&done)));
    let fetched = origin.send(env).await;
    let failed = match &fetched {
        Ok(resp) => resp.status_code() >= 500,
        Err(_) => true,
    };
    if failed {
        finish(&key, &done);
        if let Some((resp, stored)) = fallback {
            match &fetched {
                Ok(r) => console_log!(
                    "edgeseg: origin answered {} for {path}; serving the stored copy ({}s old)",
                    r.status_code(),
                    stored.age(now_ms())
                ),
                Err(e) => console_error!(
                    "edgeseg: origin unreachable for {path} ({e}); serving the stored copy"
                ),
            }
            return hit(resp, stored, "STALE-IF-ERROR", true);
        }
        super::counters::add(names::ORIGIN_CACHE_MISSES, now, 1);
        return fetched;
    }
    let mut resp = fetched?;
    // Only pages count toward the hit ratio: the cache never keeps an image
    // or a script, so counting those would only dilute it.
    let html = resp
        .headers()
        .get("content-type")?
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html || fallback.is_some() {
        super::counters::add(names::ORIGIN_CACHE_MISSES, now, 1);
    }
    match store_copy(&mut resp, policy) {
        Some(copy) => {
            ctx.wait_until(async move {
                if let Err(e) = cache.put(key.as_str(), copy).await {
                    console_error!("edgeseg: storing {key} in the edge cache failed: {e}");
                }
                finish(&key, &done);
            });
            labelled(resp, "MISS")
        }
        None => {
            finish(&key, &done);
            labelled(resp, "PASS")
        }
    }
}

/// A usable stored copy: present, with our timing, not purged since.
async fn lookup(
    cache: &Cache,
    key: &str,
    purges: &PurgeLog,
    path: &str,
) -> Option<(Response, Stored)> {
    let resp = match cache.get(key, false).await {
        Ok(r) => r?,
        Err(e) => {
            console_error!("edgeseg: reading the edge cache failed: {e}");
            return None;
        }
    };
    let stored = resp
        .headers()
        .get(META_HEADER)
        .ok()
        .flatten()
        .and_then(|m| Stored::parse(&m))?;
    (!purges.is_purged(path, stored.stored_at_ms)).then_some((resp, stored))
}

/// A stored copy on its way out: the origin's headers as they were, its age,
/// and how it was served.
fn hit(resp: Response, stored: Stored, label: &str, stale: bool) -> Result<Response> {
    let now = super::now_secs();
    super::counters::add(names::ORIGIN_CACHE_HITS, now, 1);
    if stale {
        super::counters::add(names::ORIGIN_CACHE_STALE, now, 1);
    }
    let headers = super::copy_headers(resp.headers())?;
    let origin_cc = headers.get(ORIGIN_CC_HEADER)?;
    for name in [
        META_HEADER,
        ORIGIN_CC_HEADER,
        "cache-control",
        "cf-cache-status",
        "age",
    ] {
        headers.delete(name)?;
    }
    if let Some(cc) = origin_cc {
        headers.set("cache-control", &cc)?;
    }
    headers.set("age", &stored.age(now_ms()).to_string())?;
    headers.set(STATUS_HEADER, label)?;
    Ok(Response::from_body(resp.body().clone())?
        .with_status(resp.status_code())
        .with_headers(headers))
}

fn labelled(resp: Response, label: &str) -> Result<Response> {
    let headers = super::copy_headers(resp.headers())?;
    headers.set(STATUS_HEADER, label)?;
    Ok(Response::from_body(resp.body().clone())?
        .with_status(resp.status_code())
        .with_headers(headers))
}

/// The copy to store when the core says the response may be shared (the
/// response itself keeps streaming to the visitor: the body is teed).
fn store_copy(resp: &mut Response, policy: &CachePolicy) -> Option<Response> {
    let h = resp.headers();
    let header = |name: &str| h.get(name).ok().flatten();
    let (content_type, cache_control, pragma, vary) = (
        header("content-type"),
        header("cache-control"),
        header("pragma"),
        header("vary"),
    );
    let view = ResponseView {
        status: resp.status_code(),
        content_type: content_type.as_deref(),
        cache_control: cache_control.as_deref(),
        pragma: pragma.as_deref(),
        vary: vary.as_deref(),
        set_cookie: header("set-cookie").is_some(),
        expires: header("expires").is_some(),
    };
    let stored = storable(policy, &view, now_ms()).ok()?;
    let copy = resp.cloned().ok()?;
    let headers = super::copy_headers(copy.headers()).ok()?;
    if let Some(cc) = &cache_control {
        headers.set(ORIGIN_CC_HEADER, cc).ok()?;
    }
    headers
        .set(
            "cache-control",
            &format!("public, max-age={}", stored.lifetime()),
        )
        .ok()?;
    headers.set(META_HEADER, &stored.header_value()).ok()?;
    // The key already holds what the page varies on; `Expires` must not cut
    // the copy's life short.
    headers.delete("vary").ok()?;
    headers.delete("expires").ok()?;
    // The runtime hands us the body decoded; stored with the origin's
    // `Content-Encoding`, it would be encoded once more on the way out. Store
    // it as it is (the edge compresses for the visitor again).
    if headers.get("content-encoding").ok()?.is_some() {
        headers.delete("content-encoding").ok()?;
        headers.delete("content-length").ok()?;
    }
    Some(
        Response::from_body(copy.body().clone())
            .ok()?
            .with_status(resp.status_code())
            .with_headers(headers),
    )
}

/// After a stale hit: one refetch per key, after the response.
fn revalidate_later(
    origin: OriginRequest,
    key: String,
    policy: CachePolicy,
    env: &Env,
    ctx: &Context,
) {
    let first = REVALIDATING.with(|r| r.borrow_mut().insert(key.clone()));
    if !first {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        match origin.send(&env).await {
            Ok(mut resp) => match store_copy(&mut resp, &policy) {
                Some(copy) => {
                    if let Err(e) = Cache::default().put(key.as_str(), copy).await {
                        console_error!("edgeseg: storing {key} in the edge cache failed: {e}");
                    }
                }
                None => {
                    // The page is no longer shareable (or the origin failed):
                    // the stale copy runs out by itself; drain the body.
                    let _ = resp.bytes().await;
                }
            },
            Err(e) => console_error!("edgeseg: refetching {key} failed: {e}"),
        }
        REVALIDATING.with(|r| r.borrow_mut().remove(&key));
    });
}

/// The purge log, read from KV at most every `refresh_ms` (as the rules are).
/// An unreadable or missing value keeps the last one read.
async fn purge_log(env: &Env, refresh_ms: f64) -> PurgeLog {
    let now = super::now_millis();
    let cached = PURGES.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < refresh_ms && now >= *at)
            .map(|(_, log)| log.clone())
    });
    if let Some(log) = cached {
        return log;
    }
    let last = PURGES.with(|p| p.borrow().as_ref().map(|(_, l)| l.clone()));
    let read = match env.kv(super::KV_BINDING) {
        Ok(kv) => kv.get(PURGE_KEY).text().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let log = match read.map(|t| t.map(|t| PurgeLog::from_json(&t))) {
        Ok(Some(Ok(log))) => log,
        Ok(None) => PurgeLog::default(),
        Ok(Some(Err(e))) | Err(e) => {
            console_error!("edgeseg: reading the origin cache's purge log: {e}");
            last.clone().unwrap_or_default()
        }
    };
    // Never go back to an older generation than this isolate has seen (KV
    // may answer from a stale copy right after a purge).
    let log = match last {
        Some(l) if l.generation > log.generation => l,
        _ => log,
    };
    PURGES.with(|p| *p.borrow_mut() = Some((now, log.clone())));
    log
}

/// Purges `path` (all its query variants) or, with `None`, everything: the
/// log in KV for every location, the entry itself in this data center at
/// once. Returns the log as written.
pub async fn purge(
    env: &Env,
    url_base: &str,
    path: Option<&str>,
    policy: &CachePolicy,
) -> Result<PurgeLog> {
    let kv = env.kv(super::KV_BINDING)?;
    let mut log = match kv.get(PURGE_KEY).text().await? {
        Some(t) => PurgeLog::from_json(&t).unwrap_or_default(),
        None => PurgeLog::default(),
    };
    if let Some(seen) = PURGES.with(|p| p.borrow().as_ref().map(|(_, l)| l.generation)) {
        log.generation = log.generation.max(seen);
    }
    match path {
        Some(path) => {
            log.purge_path(path, now_ms(), horizon_secs(policy));
            if let Some(key) = cache_key(
                &format!("{url_base}{path}"),
                &policy.ignore_params,
                log.generation,
            ) {
                Cache::default().delete(key.as_str(), false).await?;
            }
        }
        None => log.purge_all(),
    }
    kv.put(PURGE_KEY, log.to_json())?.execute().await?;
    PURGES.with(|p| *p.borrow_mut() = Some((super::now_millis(), log.clone())));
    console_log!(
        "edgeseg: origin cache purged {} (generation {})",
        path.unwrap_or("everything"),
        log.generation
    );
    Ok(log)
}

/// The generation this isolate uses now (for the health endpoint).
pub fn generation() -> Option<u64> {
    PURGES.with(|p| p.borrow().as_ref().map(|(_, l)| l.generation))
}

fn now_ms() -> u64 {
    super::now_millis() as u64
}

/// A request to the origin, built before the visitor's request is consumed
/// so it can also be sent after the response (a refetch).
struct OriginRequest {
    target: String,
    method: String,
    headers: Headers,
    body: Option<web_sys::ReadableStream>,
    assets: bool,
}

impl OriginRequest {
    /// `for_cache`: the answer may be stored, so it must be a whole page:
    /// no conditional headers (a 304 is nothing to store).
    fn new(req: &web_sys::Request, base: Option<&str>, for_cache: bool) -> Result<OriginRequest> {
        let url = req.url();
        let target = match base {
            None => url.clone(),
            Some(base) => {
                // The fragment never reaches a server: the rest is path and query.
                let rest = crate::request::path_and_query(&url);
                let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
                format!("{base}{rest}")
            }
        };
        let headers = super::copy_headers(&Headers(req.headers()))?;
        // A page may be personalized differently each time: never let the origin
        // answer a navigation with 304 and the browser reuse its copy of an earlier
        // version. (Personalized pages also go out without validators.)
        let navigation = headers
            .get("accept")?
            .is_some_and(|a| a.contains("text/html"))
            || headers.get("sec-fetch-dest")?.as_deref() == Some("document");
        if navigation || for_cache {
            headers.delete("if-none-match")?;
            headers.delete("if-modified-since")?;
        }
        let method = req.method();
        let body = if method == "GET" || method == "HEAD" {
            None
        } else {
            req.body()
        };
        Ok(OriginRequest {
            target,
            method,
            headers,
            body,
            assets: base.is_none(),
        })
    }

    async fn send(self, env: &Env) -> Result<Response> {
        self.send_raw(env).await.map(Response::from)
    }

    /// The runtime's `fetch` called directly: building a `worker::Request`
    /// would read `request.cf`, which the runtime builds anew on each access.
    async fn send_raw(self, env: &Env) -> Result<web_sys::Response> {
        let init = web_sys::RequestInit::new();
        init.set_method(&self.method);
        init.set_headers(&self.headers.0);
        init.set_redirect(web_sys::RequestRedirect::Manual);
        if let Some(body) = &self.body {
            init.set_body(body);
        }
        let request = web_sys::Request::new_with_str_and_init(&self.target, &init)
            .map_err(super::js_error)?;
        if self.assets {
            env.assets("ASSETS")?
                .fetch_request(Request::from(request))
                .await
                .map(Into::into)
        } else {
            let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            let response =
                worker::wasm_bindgen_futures::JsFuture::from(global.fetch_with_request(&request))
                    .await
                    .map_err(super::js_error)?;
            Ok(response.unchecked_into())
        }
    }
}

/// Set once a fetch-to-store has finished (stored or not).
#[derive(Default)]
struct Done(Cell<bool>);

fn finish(key: &str, done: &Rc<Done>) {
    IN_FLIGHT.with(|f| {
        let mut f = f.borrow_mut();
        if f.get(key).is_some_and(|d| Rc::ptr_eq(d, done)) {
            f.remove(key);
        }
    });
    done.0.set(true);
}

/// Waits for `done`, at most [`COALESCE_WAIT`], by looking at it on this
/// request's own timer: workerd does not let one request's I/O wake a promise
/// of another (it would cancel the waiting request as hung), so the request
/// that fetches only sets the flag.
async fn wait(done: Rc<Done>) {
    let mut waited = Duration::ZERO;
    while !done.0.get() && waited < COALESCE_WAIT {
        worker::Delay::from(COALESCE_POLL).await;
        waited += COALESCE_POLL;
    }
}
