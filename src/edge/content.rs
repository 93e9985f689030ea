//! The content path: fetch the page, classify the visitor, stream the rewrite.
//!
//! Order of work: the origin is fetched first, because only a 2xx HTML
//! response is personalized; everything else (assets, redirects, 304s, errors)
//! is returned exactly as the origin sent it, headers and bytes.

use std::rc::Rc;

use worker::{
    console_error, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result,
};

use super::visitor::Visitor;
use crate::classify::{self, ClassifyOptions};
use crate::counters::names as counter_names;
use crate::preview::{self, PreviewGrant, PreviewKey};
use crate::request::RequestFacts;
use crate::rules::CompiledRules;
use crate::state::cookie;

pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let started = super::now_millis();
    let rules = super::rules_cache::current(env).await;
    let visit = Visit::from_request(&req);
    let origin = match fetch_origin(req, env).await {
        Ok(origin) => origin,
        Err(e) => {
            // Not ours to hide: the origin could not be reached at all.
            console_error!("edgeseg: fetching the page from the origin failed: {e}");
            return Response::error("Bad gateway: the origin could not be reached", 502);
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
    let mut origin = origin;
    let result = personalize(
        &mut origin,
        visit,
        &rules,
        env,
        started,
        counters.as_ref(),
        weights.as_deref(),
    );
    super::counters::flush_later(env, ctx);
    match result {
        Ok(response) => Ok(response),
        Err(e) => {
            console_error!("edgeseg: personalization failed, passing the page through: {e}");
            Ok(origin)
        }
    }
}

/// The request facts the content path needs, read before the request is
/// handed to the origin. `None` for requests that are never personalized.
struct Visit {
    facts: RequestFacts,
    headers: Headers,
}

impl Visit {
    fn from_request(req: &Request) -> Option<Visit> {
        if !matches!(req.method(), Method::Get) {
            return None;
        }
        let url = req.url().ok()?;
        let headers = req.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let mut facts = RequestFacts::from_url(url.as_str(), super::now_secs());
        facts.referrer = header("referer");
        facts.user_agent = header("user-agent");
        facts.accept_language = header("accept-language");
        facts.country = req
            .cf()
            .and_then(|cf| cf.country())
            .filter(|c| c != "XX" && c != "T1");
        Some(Visit {
            facts,
            headers: headers.clone(),
        })
    }
}

async fn fetch_origin(req: Request, env: &Env) -> Result<Response> {
    let origin_url = env
        .var("ORIGIN_URL")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let url = req.url()?;
    let target = if origin_url.trim().is_empty() {
        url.to_string()
    } else {
        let mut target = origin_url.trim().trim_end_matches('/').to_string();
        target.push_str(url.path());
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        target
    };
    let headers = copy_headers(req.headers())?;
    // A page may be personalized differently each time: never let the origin
    // answer a navigation with 304 and the browser reuse its copy of an earlier
    // version. (Personalized pages also go out without validators.)
    let navigation = headers
        .get("accept")?
        .is_some_and(|a| a.contains("text/html"))
        || headers.get("sec-fetch-dest")?.as_deref() == Some("document");
    if navigation {
        headers.delete("if-none-match")?;
        headers.delete("if-modified-since")?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    if !matches!(req.method(), Method::Get | Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    let request = Request::new_with_init(&target, &init)?;
    if origin_url.trim().is_empty() {
        env.assets("ASSETS")?.fetch_request(request).await
    } else {
        Fetch::Request(request).send().await
    }
}

fn is_personalizable(resp: &Response) -> bool {
    let status = resp.status_code();
    let html = resp
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    (200..300).contains(&status) && status != 204 && status != 205 && html
}

fn personalize(
    origin: &mut Response,
    visit: Visit,
    rules: &Rc<CompiledRules>,
    env: &Env,
    started: f64,
    counters: Option<&serde_json::Map<String, serde_json::Value>>,
    weights: Option<&std::collections::BTreeMap<String, Vec<f64>>>,
) -> Result<Response> {
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
    let mut classification = classify::classify(rules, &visit.facts, &mut visitor.state, &options);

    let headers = copy_headers(origin.headers())?;
    headers.delete("content-length")?;
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
    let spent = (super::now_millis() - started).max(0.0);
    headers.append(
        "server-timing",
        &format!(
            "edgeseg;dur={spent:.1};desc=\"segments: {}\"",
            classification.segments.len()
        ),
    )?;

    // Counted only for visitors who may be tracked, and never for previews.
    let counted = visitor.tracked && matches!(preview, Preview::None | Preview::End { .. });
    if counted {
        super::counters::add(counter_names::PAGE_VIEWS, now, 1);
        for segment in &classification.entered {
            super::counters::add(&counter_names::entries(segment), now, 1);
            for declared in rules.counters_for_entry(segment) {
                super::counters::add(declared, now, 1);
            }
        }
    }
    let status = origin.status_code();
    let response = if classification.plan.is_empty() {
        Response::from_body(origin.body().clone())?
    } else {
        let body = origin.stream()?;
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
        Response::from_stream(super::stream::rewrite(body, classification.plan, on_end))?
    };
    Ok(response.with_status(status).with_headers(headers))
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
        let Some(key) =
            super::secret(env, super::SECRET_NAME).map(|s| PreviewKey::new(s.as_bytes()))
        else {
            return Preview::None;
        };
        let clear = super::cookie_header(preview::COOKIE_NAME, "", 0);
        if let Some(token) = visit.facts.query_param(preview::QUERY_PARAM) {
            if token == "off" {
                return Preview::End {
                    clear_cookie: clear,
                };
            }
            if let Ok(grant) = preview::verify(token, &key, now) {
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
            .map(|t| preview::verify(t, &key, now))
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

fn copy_headers(from: &Headers) -> Result<Headers> {
    let to = Headers::new();
    for (name, value) in from.entries() {
        to.append(&name, &value)?;
    }
    Ok(to)
}
