//! The content path: fetch the page, classify the visitor, stream the rewrite.
//!
//! Order of work: the origin is fetched first, because only a 2xx HTML
//! response is personalized; everything else (assets, redirects, 304s, errors)
//! is returned exactly as the origin sent it, headers and bytes.

use std::rc::Rc;

use worker::{console_error, Context, Env, Headers, Response, Result};

use super::copy_headers;
use super::visitor::Visitor;
use crate::classify::{self, ClassifyOptions};
use crate::counters::names as counter_names;
use crate::preview::{self, PreviewGrant};
use crate::request::RequestFacts;
use crate::rules::CompiledRules;
use crate::state::cookie;

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
    let visit = Visit::from_request(&req, rules.as_ref().is_some_and(|r| r.reads_country));
    let origin = match super::origin::fetch(&req, env, ctx, rules.as_deref()).await {
        Ok(origin) => origin,
        Err(e) => {
            // Not ours to hide: the origin could not be reached at all.
            console_error!("edgeseg: fetching the page from the origin failed: {e}");
            return Response::error("Bad gateway: the origin could not be reached", 502)
                .map(Into::into);
        }
    };
    let Some(rules) = rules else {
        return Ok(origin);
    };
    let Some(visit) = visit else {
        return Ok(origin);
    };
    if !is_personalizable(&origin) {
        return Ok(origin);
    }
    let counters = if rules.reads_counters {
        Some(super::counters::for_conditions(env).await)
    } else {
        None
    };
    let weights = super::experiments::weights(env, &rules).await;
    let result = personalize(
        &origin,
        visit,
        &rules,
        env,
        timing,
        counters.as_ref(),
        weights.as_deref(),
    );
    super::counters::flush_later(env, ctx);
    match result {
        Ok((response, outbox)) => {
            super::export::send_later(env, ctx, outbox);
            Ok(response)
        }
        Err(e) => {
            console_error!("edgeseg: personalization failed, passing the page through: {e}");
            Ok(origin)
        }
    }
}

/// When the worker started on this request, and whether it started a rules refresh.
struct Timing {
    started: f64,
    refreshing: bool,
}

/// The request facts the content path needs, read before the request is
/// handed to the origin. `None` for requests that are never personalized.
struct Visit {
    facts: RequestFacts,
    headers: Headers,
}

impl Visit {
    fn from_request(req: &web_sys::Request, country: bool) -> Option<Visit> {
        if req.method() != "GET" {
            return None;
        }
        let headers = Headers(req.headers());
        let header = |name: &str| headers.get(name).ok().flatten();
        let mut facts = RequestFacts::from_url(&req.url(), super::now_secs());
        facts.referrer = header("referer");
        facts.user_agent = header("user-agent");
        facts.accept_language = header("accept-language");
        if country {
            facts.country = cf_country(req).filter(|c| c != "XX" && c != "T1");
        }
        Some(Visit { facts, headers })
    }
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

fn personalize(
    origin: &web_sys::Response,
    visit: Visit,
    rules: &Rc<CompiledRules>,
    env: &Env,
    timing: Timing,
    counters: Option<&serde_json::Map<String, serde_json::Value>>,
    weights: Option<&std::collections::BTreeMap<String, Vec<f64>>>,
) -> Result<(web_sys::Response, super::export::Outbox)> {
    let now = visit.facts.now;
    let mut visitor = Visitor::load(&visit.headers, rules, env, now);
    let preview = Preview::from_visit(&visit, env, now);
    let (forced, forced_variants): (&[String], &[(String, String)]) = match &preview {
        Preview::Active { grant, .. } => (&grant.segments, &grant.variants),
        _ => (&[], &[]),
    };
    classify::record_page_view(rules, &mut visitor.state, &visit.facts.path, now);
    // The per-segment report is only needed to explain a preview.
    let lean = !matches!(preview, Preview::Active { .. });
    let options = ClassifyOptions {
        forced,
        counters,
        lean,
        experiments: crate::experiments::exposure::AssignOptions {
            forced: forced_variants,
            weights,
            untracked: !visitor.tracked,
        },
    };
    let members_before = if rules.activations.is_empty() {
        Vec::new()
    } else {
        crate::export::transitions::member_keys(&visitor.state.memberships)
    };
    let mut classification = classify::classify(rules, &visit.facts, &mut visitor.state, &options);
    // Counted (and exported) only for visitors who may be tracked, and never for previews.
    let counted = visitor.tracked && matches!(preview, Preview::None | Preview::End { .. });
    let mut outbox = super::export::Outbox::default();
    if counted && (rules.export.is_some() || !rules.activations.is_empty()) {
        outbox = super::export::page_view(
            rules,
            env,
            &visit.facts,
            &visitor.state,
            &classification,
            &members_before,
        );
        // The page's own code may pass the id to the site's backend, which is
        // how a webhook receiver or the export's reader links it to a person.
        classification
            .plan
            .head_append
            .get_or_insert_with(String::new)
            .push_str(&crate::export::visitor_id_script(&visitor.state));
    }
    // The page measures engagement only for a tracked visitor, outside
    // previews, whose rules read it.
    if counted && !rules.tracking.engagement.is_empty() {
        classification
            .plan
            .head_append
            .get_or_insert_with(String::new)
            .push_str(classify::ENGAGEMENT_SCRIPT);
    }

    let headers = copy_headers(&Headers(origin.headers()))?;
    // Validators describe the origin's bytes, not this visitor's page.
    headers.delete("etag")?;
    headers.delete("last-modified")?;
    match &preview {
        Preview::Active { grant, set_cookie } => {
            // A preview is the marketer's look at content: it keeps nothing of
            // the visit and counts nothing.
            if let Some(c) = set_cookie {
                headers.append("set-cookie", c)?;
            }
            let banner = preview::banner_script(grant);
            let head = classification
                .plan
                .head_append
                .get_or_insert_with(String::new);
            head.push_str(&banner);
            headers.set(
                "x-edgeseg-debug",
                &classify::explain(rules, &classification),
            )?;
        }
        Preview::End { clear_cookie } => {
            headers.append("set-cookie", clear_cookie)?;
            if let Some(cookie) = visitor.set_cookie(rules) {
                headers.append("set-cookie", &cookie)?;
            }
        }
        Preview::None => {
            if let Some(cookie) = visitor.set_cookie(rules) {
                headers.append("set-cookie", &cookie)?;
            }
        }
    }
    // The page now depends on the visitor: no shared cache may store it.
    headers.set("cache-control", "private, no-cache")?;
    headers.append("vary", "Cookie")?;
    let spent = (super::now_millis() - timing.started).max(0.0);
    headers.append(
        "server-timing",
        &format!(
            "edgeseg;dur={spent:.1};desc=\"segments: {}{}\"",
            classification.segments.len(),
            if timing.refreshing {
                ", rules refresh after the response"
            } else {
                ""
            }
        ),
    )?;

    if counted {
        super::counters::add(counter_names::PAGE_VIEWS, now, 1);
        for segment in &classification.entered {
            super::counters::add(&counter_names::entries(segment), now, 1);
            for declared in rules.counters_for_entry(segment) {
                super::counters::add(declared, now, 1);
            }
        }
    }
    let status = origin.status();
    let body = origin.body();
    let with_headers = |body: Option<&web_sys::ReadableStream>| {
        let init = web_sys::ResponseInit::new();
        init.set_status(status);
        init.set_headers(&headers.0);
        web_sys::Response::new_with_opt_readable_stream_and_init(body, &init)
            .map_err(super::js_error)
    };
    if classification.plan.is_empty() {
        // Nothing to change: the origin's body goes out untouched, and with
        // it its Content-Length (the runtime knows the stream's length).
        return with_headers(body.as_ref()).map(|r| (r, outbox));
    }
    // The rewritten page's length is not known in advance.
    headers.delete("content-length")?;
    let content = classification.content.clone();
    let experiments = std::mem::take(&mut classification.experiments);
    let visitor_id = visitor.state.visitor_id;
    let rules = Rc::clone(rules);
    let on_end: Box<dyn FnOnce(crate::rewrite::RewriteReport)> = Box::new(move |report| {
        if !counted {
            return;
        }
        for (key, name) in
            crate::experiments::exposure::exposures(&rules, &experiments, &report.applied)
        {
            super::counters::add(&name, now, 1);
            super::experiments::note_exposure(visitor_id, key, now);
        }
        for block in report.applied {
            if let Some((_, segment)) = content.iter().find(|(b, _)| *b == block) {
                super::counters::add(&counter_names::impressions(&block, segment), now, 1);
                for declared in rules.counters_for_impression(&block, segment) {
                    super::counters::add(declared, now, 1);
                }
            }
        }
    });
    let input = with_headers(body.as_ref())?;
    super::html_rewriter::transform(&input, classification.plan, on_end)
        .map(|r| (r, outbox))
        .map_err(super::js_error)
}

/// A signed preview link (query parameter) or the preview cookie it set.
enum Preview {
    None,
    Active {
        grant: PreviewGrant,
        set_cookie: Option<String>,
    },
    End {
        clear_cookie: String,
    },
}

impl Preview {
    fn from_visit(visit: &Visit, env: &Env, now: u64) -> Preview {
        let Some(keys) = super::secret_keys(env) else {
            return Preview::None;
        };
        let key = &keys.preview;
        let clear = super::cookie_header(preview::COOKIE_NAME, "", 0);
        if let Some(token) = visit.facts.query_param(preview::QUERY_PARAM) {
            if token == "off" {
                return Preview::End {
                    clear_cookie: clear,
                };
            }
            if let Ok(grant) = preview::verify(token, key, now) {
                let set_cookie = super::cookie_header(
                    preview::COOKIE_NAME,
                    token,
                    grant.expires.saturating_sub(now),
                );
                return Preview::Active {
                    grant,
                    set_cookie: Some(set_cookie),
                };
            }
        }
        let cookies = visit
            .headers
            .get("cookie")
            .ok()
            .flatten()
            .unwrap_or_default();
        match cookie::find_cookie(&cookies, preview::COOKIE_NAME)
            .map(|t| preview::verify(t, key, now))
        {
            Some(Ok(grant)) => Preview::Active {
                grant,
                set_cookie: None,
            },
            Some(Err(_)) => Preview::End {
                clear_cookie: clear,
            },
            None => Preview::None,
        }
    }
}
