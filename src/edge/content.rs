//! The content path: fetch the page, run the core's page pipeline
//! ([`crate::page::serve`]), and apply its outcome: headers, counts, export,
//! and the streamed rewrite. Every decision is the pipeline's; this file only
//! reads the request and the Worker's state, and writes the response.
//!
//! Order of work: the origin is fetched first, because only a 2xx HTML
//! response is personalized; everything else (assets, redirects, 304s, errors)
//! is returned exactly as the origin sent it, headers and bytes.

use std::rc::Rc;

use worker::{console_error, Context, Env, Headers, Response, Result};

use super::copy_headers;
use crate::page::{self, ConsentSignals, HeaderChange, PageContext, PageOutcome, PageRequest};
use crate::request::RequestFacts;
use crate::rules::CompiledRules;

/// `req` is the runtime's request as it came: turning it into a
/// `worker::Request` would read `request.cf`, which the runtime builds anew on
/// every access, and the content path needs it only for `country`.
///
/// The answer is the runtime's own response object: the origin's response,
/// when it passes through, goes back as it came, not rebuilt.
pub async fn handle(req: web_sys::Request, env: &Env, ctx: &Context) -> Result<web_sys::Response> {
    let started = super::now_millis();
    let (rules, refresh) = super::rules_cache::for_request(env).await;
    let timing = Timing {
        started,
        refreshing: refresh.is_due(),
    };
    let response = respond(req, rules, env, ctx, timing).await;
    super::rules_cache::refresh_later(refresh, env, ctx);
    response
}

async fn respond(
    req: web_sys::Request,
    rules: Option<Rc<CompiledRules>>,
    env: &Env,
    ctx: &Context,
    timing: Timing,
) -> Result<web_sys::Response> {
    let mut visit = Visit::from_request(&req, rules.as_ref().is_some_and(|r| r.reads_country));
    // Pick mode ("Pick on page"): a visitor with no history, nothing kept.
    let pick = visit
        .as_mut()
        .and_then(|v| Some((super::pick::requested(&v.request, env)?, v)))
        .map(|(grant, v)| super::pick::visit_as_nobody(&mut v.request, grant))
        .is_some();
    // Server events waiting for this visitor are looked up while the origin
    // answers, so the lookup adds no wait of its own unless it is the slower.
    let waiting = match (&visit, &rules) {
        (Some(visit), Some(rules)) if visit.wants_html => {
            inbox_visitor(visit, rules, env).map(|visitor| super::inbox::waiting_soon(env, visitor))
        }
        _ => None,
    };
    let origin = match super::origin::fetch(&req, env, ctx, rules.as_deref()).await {
        Ok(origin) => origin,
        Err(e) => {
            // Not ours to hide: the origin could not be reached at all.
            console_error!("edgeseg: fetching the page from the origin failed: {e}");
            return Response::error("Bad gateway: the origin could not be reached", 502)
                .map(Into::into);
        }
    };
    if pick && !is_personalizable(&origin) {
        return super::pick::not_a_page(origin.status());
    }
    let Some(rules) = rules else {
        return match pick {
            true => super::pick::without_rules(&origin),
            false => Ok(origin),
        };
    };
    let Some(visit) = visit else {
        return Ok(origin);
    };
    if !is_personalizable(&origin) {
        return Ok(origin);
    }
    let mut visit = visit;
    super::drafts::drop_revoked(&mut visit.request, env).await;
    // A signed preview of a draft is served with the draft's rules.
    let rules = super::drafts::for_preview(&visit.request, env)
        .await
        .unwrap_or(rules);
    let waiting = match waiting {
        Some(promise) => super::inbox::waited(promise).await,
        None => Vec::new(),
    };
    let (mut outcome, visitor_id) = serve(&visit, &rules, env, ctx, waiting).await;
    if pick {
        outcome.headers.extend(super::pick::header_changes());
        let head = outcome
            .classification
            .plan
            .head_append
            .get_or_insert_with(String::new);
        head.push_str(&super::pick::head_script());
    }
    let result = respond_with(&origin, outcome, &rules, visitor_id, timing);
    super::counters::flush_later(env, ctx);
    match result {
        Ok(response) => Ok(response),
        Err(e) if pick => {
            console_error!("edgeseg: the page in pick mode failed: {e}");
            super::pick::not_a_page(500)
        }
        Err(e) => {
            console_error!("edgeseg: personalization failed, passing the page through: {e}");
            Ok(origin)
        }
    }
}

/// Runs the page pipeline for `visit` with what the Worker keeps (counters,
/// bandit weights, keys, the isolate's confirmed exposures), applies the
/// counts it decides on now, and queues its export. The visitor's id comes
/// back for the exposures the rewrite's report confirms.
async fn serve(
    visit: &Visit,
    rules: &Rc<CompiledRules>,
    env: &Env,
    ctx: &Context,
    server_events: Vec<crate::server_events::Pending>,
) -> (PageOutcome, [u8; 16]) {
    let counters = if rules.reads_counters {
        Some(super::counters::for_conditions(env).await)
    } else {
        None
    };
    let weights = super::experiments::weights(env, rules).await;
    let stopped = super::guardrails::stopped(env, rules).await;
    let keys = super::secret_keys(env);
    if keys.is_none() {
        console_error!(
            "edgeseg: the {} secret is not set; visitors are not tracked",
            super::SECRET_NAME
        );
    }
    let context = PageContext {
        rules,
        keys: keys.as_deref(),
        counters: counters.as_ref(),
        weights: weights.as_deref(),
        stopped: stopped.as_deref(),
        rules_version: super::rules_cache::revision(),
        // Read only when an activation could fire: a secret is a call into the runtime.
        webhooks: !rules.activations.is_empty() && super::export::webhooks_enabled(env),
    };
    let now = visit.request.facts.now;
    let mut visitor = page::Visitor::load(
        &visit.request.cookies,
        visit.consent,
        rules,
        context.keys,
        now,
        super::random_bytes(),
    );
    super::experiments::apply_confirmed(&mut visitor.state);
    let with_events;
    let request = if server_events.is_empty() {
        &visit.request
    } else {
        with_events = PageRequest {
            server_events,
            ..visit.request.clone()
        };
        &with_events
    };
    let outcome = page::serve(request, context, &mut visitor, super::random_bytes());
    super::inbox::ack_later(
        env,
        ctx,
        visitor.state.visitor_id_hex(),
        outcome.server_events_applied.clone(),
    );
    for name in &outcome.counts {
        super::counters::add(name, now, 1);
    }
    for (name, n) in &outcome.event_counts {
        super::counters::add(name, now, *n);
    }
    super::export::send_later(env, ctx, super::export::Outbox::from_outcome(&outcome));
    (outcome, visitor.state.visitor_id)
}

/// `GET /__edgeseg/decide?path=/products/x`: what a page load of that path
/// would decide, as JSON, through the same pipeline (see
/// [`crate::page::decide`]). Private and never stored; a path that is not
/// one of this site's is a 400; without rules, nothing applies.
pub async fn decide(req: web_sys::Request, env: &Env, ctx: &Context) -> Result<web_sys::Response> {
    if req.method() != "GET" {
        return super::error_reply(405, "decide answers GET requests").map(Into::into);
    }
    let url = req.url();
    let (_, query) = crate::request::split_url(&url);
    let path = query
        .iter()
        .find(|(k, _)| k == "path")
        .map(|(_, v)| v.as_str());
    let site = crate::request::site_origin(&url);
    let page_url = match page::decide::page_url(site, path) {
        Ok(u) => u,
        Err(e) => return super::error_reply(400, &e.to_string()).map(Into::into),
    };
    let (rules, refresh) = super::rules_cache::for_request(env).await;
    let reply = |body: &serde_json::Value, set_cookies: Vec<&str>| -> Result<web_sys::Response> {
        let mut r = Response::from_json(body)?;
        let headers = r.headers_mut();
        headers.set("cache-control", "private, no-store")?;
        for c in set_cookies {
            headers.append("set-cookie", c)?;
        }
        Ok(r.into())
    };
    let Some(rules) = rules else {
        super::rules_cache::refresh_later(refresh, env, ctx);
        let nothing = serde_json::json!({"path": null, "segments": [], "experiments": {}, "blocks": [], "tracked": false, "preview": false, "token": null});
        return reply(&nothing, Vec::new());
    };
    // No revocation check here: the page that loads the app is served
    // through `respond`, which ends a revoked preview and clears its cookie.
    let visit = Visit::for_url(&req, &page_url, rules.reads_country);
    let waiting = match inbox_visitor(&visit, &rules, env) {
        Some(visitor) => super::inbox::waited(super::inbox::waiting_soon(env, visitor)).await,
        None => Vec::new(),
    };
    let (outcome, visitor_id) = serve(&visit, &rules, env, ctx, waiting).await;
    let token = super::secret_keys(env).and_then(|keys| {
        page::report::issue(
            &outcome,
            &rules,
            &keys.decision,
            visitor_id,
            super::random_bytes(),
        )
    });
    super::rules_cache::refresh_later(refresh, env, ctx);
    let set_cookies = outcome
        .headers
        .iter()
        .filter_map(|h| match h {
            HeaderChange::Append("set-cookie", c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    reply(
        &page::decide::decision(&outcome, &visit.request.facts.path, token.as_deref()),
        set_cookies,
    )
}

/// When the worker started on this request, and whether it started a rules refresh.
struct Timing {
    started: f64,
    refreshing: bool,
}

/// The request as the page pipeline needs it, read before the request is
/// handed to the origin. `None` for requests that are never personalized.
struct Visit {
    request: PageRequest,
    consent: ConsentSignals,
    /// The request asks for a page (`Accept: text/html`, or a document
    /// navigation), so it is worth looking for waiting server events.
    wants_html: bool,
}

impl Visit {
    fn from_request(req: &web_sys::Request, country: bool) -> Option<Visit> {
        (req.method() == "GET").then(|| Visit::for_url(req, &req.url(), country))
    }

    /// The visit of the page at `url` (the request's own, or the page a
    /// decide request names), with the request's headers.
    fn for_url(req: &web_sys::Request, url: &str, country: bool) -> Visit {
        let headers = Headers(req.headers());
        let header = |name: &str| headers.get(name).ok().flatten();
        let now_ms = super::now_millis() as u64;
        let mut facts = RequestFacts::from_url(url, now_ms / 1000);
        facts.now_ms = now_ms;
        facts.referrer = header("referer");
        facts.user_agent = header("user-agent");
        facts.accept_language = header("accept-language");
        if country {
            facts.country = cf_country(req).filter(|c| c != "XX" && c != "T1");
        }
        let consent = ConsentSignals::from_gpc_header(header("sec-gpc").as_deref());
        let wants_html = header("sec-fetch-dest").is_some_and(|d| d == "document")
            || header("accept").is_some_and(|a| a.contains("text/html"));
        let request = PageRequest {
            facts,
            cookies: header("cookie").unwrap_or_default(),
            ..PageRequest::default()
        };
        Visit {
            request,
            consent,
            wants_html,
        }
    }
}

/// The visitor whose inbox to read for this visit: only when the rules
/// accept an event from the server (otherwise no I/O at all), and only for a
/// tracked visitor with a valid cookie (a fresh visitor has an id nobody has
/// seen, so nothing can wait for them).
fn inbox_visitor(visit: &Visit, rules: &CompiledRules, env: &Env) -> Option<String> {
    if !crate::server_events::accepts_server_events(rules) {
        return None;
    }
    let keys = super::secret_keys(env)?;
    // A fresh visitor gets the all-zero id here: a cookie's id is random.
    const NO_COOKIE: [u8; 16] = [0; 16];
    let visitor = page::Visitor::load(
        &visit.request.cookies,
        visit.consent,
        rules,
        Some(keys.as_ref()),
        visit.request.facts.now,
        NO_COOKIE,
    );
    (visitor.tracked && visitor.state.visitor_id != NO_COOKIE)
        .then(|| visitor.state.visitor_id_hex())
}

/// `request.cf.country`, read alone.
fn cf_country(req: &web_sys::Request) -> Option<String> {
    let cf = js_sys::Reflect::get(req, &"cf".into()).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    js_sys::Reflect::get(&cf, &"country".into())
        .ok()?
        .as_string()
}

fn is_personalizable(resp: &web_sys::Response) -> bool {
    let status = resp.status();
    let html = resp
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    (200..300).contains(&status) && status != 204 && status != 205 && html
}

/// The origin's response with the outcome applied: its header changes, the
/// `Server-Timing` entry, and the body streamed through the rewrite (or
/// untouched, with its length, when nothing changes).
fn respond_with(
    origin: &web_sys::Response,
    outcome: PageOutcome,
    rules: &Rc<CompiledRules>,
    visitor_id: [u8; 16],
    timing: Timing,
) -> Result<web_sys::Response> {
    let headers = copy_headers(&Headers(origin.headers()))?;
    for change in &outcome.headers {
        match change {
            HeaderChange::Remove(name) => headers.delete(name)?,
            HeaderChange::Set(name, value) => headers.set(name, value)?,
            HeaderChange::Append(name, value) => headers.append(name, value)?,
        }
    }
    let spent = (super::now_millis() - timing.started).max(0.0);
    headers.append(
        "server-timing",
        &format!(
            "edgeseg;dur={spent:.1};desc=\"segments: {}{}\"",
            outcome.classification.segments.len(),
            if timing.refreshing {
                ", rules refresh after the response"
            } else {
                ""
            }
        ),
    )?;
    let status = origin.status();
    let body = origin.body();
    let with_headers = |body: Option<&web_sys::ReadableStream>| {
        let init = web_sys::ResponseInit::new();
        init.set_status(status);
        init.set_headers(&headers.0);
        web_sys::Response::new_with_opt_readable_stream_and_init(body, &init)
            .map_err(super::js_error)
    };
    if outcome.passes_body_through() {
        // Nothing to change: the origin's body goes out untouched, and with
        // it its Content-Length (the runtime knows the stream's length).
        return with_headers(body.as_ref());
    }
    let after = outcome.after_rewrite;
    let rules = Rc::clone(rules);
    let on_end: Box<dyn FnOnce(crate::rewrite::RewriteReport)> = Box::new(move |report| {
        let now = after.now();
        let counted = after.counts(&rules, &report);
        for name in &counted.counts {
            super::counters::add(name, now, 1);
        }
        for (name, n) in &counted.sums {
            super::counters::add(name, now, *n);
        }
        for key in counted.exposures {
            super::experiments::note_exposure(visitor_id, key, now);
        }
    });
    let mut plan = outcome.classification.plan;
    if let Some(head) = plan.head_append.take() {
        plan.head_append = fit_policies(&headers, head)?;
    }
    let input = with_headers(body.as_ref())?;
    super::html_rewriter::transform(&input, plan, on_end).map_err(super::js_error)
}

/// The `<head>` insertion made to run under the origin's
/// Content-Security-Policy headers, which get the insertion's hashes when
/// they need them ([`crate::csp::adapt`]); `None` when a policy forbids its
/// scripts. A page without a policy costs two header lookups.
pub(super) fn fit_policies(headers: &Headers, head: String) -> Result<Option<String>> {
    use crate::csp;
    let enforced = headers.get(csp::HEADER)?;
    let report_only = headers.get(csp::HEADER_REPORT_ONLY)?;
    if enforced.is_none() && report_only.is_none() {
        return Ok(Some(head));
    }
    let adapted = csp::adapt(&head, enforced.as_deref(), report_only.as_deref());
    if let Some(value) = &adapted.enforced {
        headers.set(csp::HEADER, value)?;
    }
    if let Some(value) = &adapted.report_only {
        headers.set(csp::HEADER_REPORT_ONLY, value)?;
    }
    Ok(adapted.head_append)
}
