//! The worker's own endpoints under `/__edgeseg/`.

use serde_json::json;
use worker::{Context, Env, Request, Response, Result};

pub async fn handle(rest: &str, req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    match (req.method(), rest) {
        (worker::Method::Get, "health") => health(env).await,
        (worker::Method::Post, "event") => super::events::handle(req, env, ctx).await,
        (worker::Method::Post, "server-events") => super::server_events::handle(req, env).await,
        (worker::Method::Post, "applied") => super::applied::handle(req, env).await,
        // Issue 4's path for the stats; the admin page uses admin/api/stats.
        (worker::Method::Get, "stats") => super::admin::handle("api/stats", req, env).await,
        // The page script is a static file (www/__edgeseg/edgeseg.js).
        (worker::Method::Get, "edgeseg.js") => env.assets("ASSETS")?.fetch_request(req).await,
        (worker::Method::Get, "admin") => {
            // The page loads app.js relative to its own address.
            let mut url = req.url()?;
            url.set_path("/__edgeseg/admin/");
            Response::redirect_with_status(url, 308)
        }
        (_, admin) if admin.starts_with("admin/") => {
            let rest = admin
                .strip_prefix("admin")
                .unwrap_or("")
                .trim_start_matches('/');
            super::admin::handle(rest, req, env).await
        }
        _ => Response::error("Not found", 404),
    }
}

async fn health(env: &Env) -> Result<Response> {
    let secret_set = super::secret(env, super::SECRET_NAME).is_some();
    // Today's totals, read once for the origin cache and the export parts.
    let today = super::counters::for_conditions(env).await;
    let origin_cache = origin_cache_health(env, &today).await;
    let body = super::rules_cache::status(env, |s| {
        let export = super::export::health(env, s.rules.as_deref(), &today);
        json!({
            "status": if s.rules.is_some() { "ok" } else { "no_rules" },
            "rules_version": s.rules.as_ref().map(|r| r.version().to_string()),
            "rules_loaded_at": s.loaded_at_ms.map(iso_time),
            "last_error": s.last_error.as_ref().map(|(at, errors)| json!({
                "at": iso_time(*at),
                "errors": errors,
            })),
            "kv_error": s.kv_error,
            "secret_configured": secret_set,
            "rewrites_in_flight": super::html_rewriter::in_flight(),
            // The Worker's linear memory (it only grows): flat under load
            // means nothing per request is kept.
            "wasm_memory_bytes": core::arch::wasm32::memory_size(0) * 65_536,
            "counters": super::counters::health(env),
            "origin_cache": origin_cache,
            "export": export,
            "server_events": super::server_events::health(env, s.rules.as_deref()),
            "build": {
                "version": env!("CARGO_PKG_VERSION"),
                "commit": option_env!("EDGESEG_COMMIT").unwrap_or("unknown"),
            },
        })
    })
    .await;
    super::json_reply(200, &body)
}

fn iso_time(ms: f64) -> String {
    let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(ms));
    String::from(date.to_iso_string())
}

/// Whether the origin cache is in use, the purge generation this isolate
/// uses, and today's hit ratio (hits over hits and misses; counts themselves
/// are traffic figures, so only the admin stats show them).
async fn origin_cache_health(
    env: &Env,
    today: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let enabled = super::rules_cache::current(env)
        .await
        .is_some_and(|r| r.settings.origin_cache.enabled);
    let origin_set = env
        .var("ORIGIN_URL")
        .is_ok_and(|v| !v.to_string().trim().is_empty());
    let ratio = if enabled && origin_set {
        let count = |name: &str| {
            today
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        crate::origin_cache::hit_ratio(
            count(crate::counters::names::ORIGIN_CACHE_HITS),
            count(crate::counters::names::ORIGIN_CACHE_MISSES),
        )
    } else {
        None
    };
    json!({
        "enabled": enabled && origin_set,
        "generation": super::origin::generation(),
        "hit_ratio_today": ratio,
    })
}
