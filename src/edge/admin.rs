//! `/__edgeseg/admin/...`: the marketer's API and the admin page (static
//! files under `www/__edgeseg/admin/`).
//!
//! Every API call needs a verified caller ([`super::access::identify`]): a
//! person behind Cloudflare Access, or the bearer token (a named service
//! identity). None is 401, a refused one 403 (logged, without the token).
//! Each call is one [`Action`]; a role that may not do it gets a 403 that
//! says who may. Writes also need a JSON content type, so no third-party
//! form post can reach them (no CSRF). Every revision, draft and purge
//! records the verified caller, and so does the audit log (`GET api/audit`).

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_log, Env, KvStore, Method, Request, Response, Result};

use crate::access::{self, Action, Identity};
use crate::duration::parse_duration;
use crate::error::RuleErrors;
use crate::origin_cache::{path_of, settings_change_purges, CachePolicy};
use crate::preview::{self, PreviewGrant, PreviewKey};
use crate::rules::history::{self, locate_errors, DraftMeta, RevisionMeta, META_KEY, RULES_KEY};
use crate::rules::{review, CompiledRules};
use crate::simulate::{self, PastEvent, SimulatedVisitor};

/// Largest rules document the API accepts.
const MAX_RULES_BYTES: usize = 512 * 1024;
/// Largest body read: room for a too-large document, so its error can name
/// the parts to shrink instead of only its size.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub async fn handle(rest: &str, req: Request, env: &Env) -> Result<Response> {
    let Some(api) = rest.strip_prefix("api/") else {
        // The page itself: index.html, app.js, app.css from the assets.
        return env.assets("ASSETS")?.fetch_request(req).await;
    };
    if !matches!(req.method(), Method::Get | Method::Head) {
        let url = req.url()?;
        let site = url.origin().ascii_serialization();
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let refused = access::cross_site_write(
            header("origin").as_deref(),
            header("sec-fetch-site").as_deref(),
            &site,
        );
        if let Some(message) = refused {
            return error(403, &message);
        }
    }
    let who = match super::access::identify(&req, env).await? {
        Ok(who) => who,
        Err(refused) => return Ok(refused),
    };
    let method = req.method();
    let action = action_of(&method, api);
    if !access::allows(who.role, action) {
        console_log!(
            "edgeseg admin: {} ({}) may not {:?} {}",
            who.id,
            who.role.name(),
            method,
            req.path()
        );
        return error(403, &access::refusal(&who, action));
    }
    if matches!(method, Method::Post | Method::Put) {
        let json = req
            .headers()
            .get("content-type")?
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return error(
                415,
                "send the body as JSON with Content-Type: application/json",
            );
        }
    }
    let kv = env.kv(super::KV_BINDING)?;
    let mut req = req;
    match (method, api) {
        (Method::Get, "whoami") => whoami(&who),
        (Method::Get, "audit") => audit_log(&kv).await,
        (Method::Get, "rules") => get_rules(&kv).await,
        (Method::Post, "rules/validate") => validate(&mut req).await,
        (Method::Put, "rules") => {
            let before = live_cache_policy(&kv).await;
            let saved = save(&mut req, &kv, &who).await?;
            purge_if_cache_settings_changed(saved, before, &kv, env).await
        }
        (Method::Get, "rules/drafts") => drafts(&kv).await,
        (Method::Get, d) if d.starts_with("rules/drafts/") => {
            match d["rules/drafts/".len()..].parse::<u64>() {
                Ok(n) => get_draft(&kv, n).await,
                Err(_) => error(400, "a draft is a whole number"),
            }
        }
        (Method::Post, "rules/drafts") => save_draft(&mut req, &kv, &who).await,
        (Method::Post, "rules/publish") => {
            let before = live_cache_policy(&kv).await;
            let saved = publish(&mut req, &kv, &who).await?;
            purge_if_cache_settings_changed(saved, before, &kv, env).await
        }
        (Method::Get, "rules/versions") => versions(&kv).await,
        (Method::Get, v) if v.starts_with("rules/versions/") => {
            match v["rules/versions/".len()..].parse::<u64>() {
                Ok(n) => get_revision(&kv, n).await,
                Err(_) => error(400, "a revision is a whole number"),
            }
        }
        (Method::Post, "rules/rollback") => {
            let before = live_cache_policy(&kv).await;
            let saved = rollback(&mut req, &kv, &who).await?;
            purge_if_cache_settings_changed(saved, before, &kv, env).await
        }
        (Method::Post, "purge") => purge(&mut req, env, &who).await,
        (Method::Post, "simulate") => simulate_visitor(&mut req, env).await,
        (Method::Post, "preview") => preview_link(&mut req, env, &kv, &who).await,
        (Method::Post, "pick") => pick_grant(env),
        (Method::Get, "preview/links") => listed(&kv, preview::LINK_PREFIX, "links").await,
        (Method::Post, r) if r.starts_with("preview/revoke/") => {
            revoke_preview(&r["preview/revoke/".len()..], &kv).await
        }
        (Method::Get, "stats") => super::counters::stats(&req, env).await,
        (Method::Get, "models") => super::drift::models(env).await,
        (Method::Get, "experiments") => super::experiments::results(&req, env).await,
        (Method::Post, "experiments/restart") => super::guardrails::restart(&mut req, env).await,
        (Method::Post, "rewrite") => rewrite_check(&mut req).await,
        (Method::Post, "counters/flush") => super::counters::flush_and_publish(env).await,
        (Method::Post, "export/erase") => {
            let (reply, detail) = super::export::erase(&mut req, env).await?;
            if let Some(detail) = detail {
                audit(&kv, &who, "erase_export", detail).await?;
            }
            Ok(reply)
        }
        (_, e) if e == "export" || e.starts_with("export/") => {
            super::export::admin(e, req, env).await
        }
        _ => error(404, "no such admin endpoint"),
    }
}

use super::{error_reply as error, json_reply as json_response};

/// Every key under `prefix`, with its metadata, in key order. One
/// non-generic loop for every list the API makes: the Worker's bundle has
/// little room, and each typed copy of this loop costs some.
async fn list_keys(kv: &KvStore, prefix: &str) -> Result<Vec<(String, Value)>> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(prefix.to_string());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        keys.extend(
            page.keys
                .into_iter()
                .map(|k| (k.name, k.metadata.unwrap_or(Value::Null))),
        );
        match page.cursor {
            Some(c) if !page.list_complete => cursor = Some(c),
            _ => break,
        }
    }
    Ok(keys)
}

/// Puts `text` under `key` with JSON metadata (one copy of the metadata code
/// for every kind of record).
async fn put_with_meta(kv: &KvStore, key: &str, text: String, meta: &Value) -> Result<()> {
    kv.put(key, text)?.metadata(meta)?.execute().await?;
    Ok(())
}

/// The one place a call is mapped to what it does (the core's table says
/// who may): reads are reads, and anything not listed needs a publisher.
fn action_of(method: &Method, api: &str) -> Action {
    match (method, api) {
        (Method::Get, _) => Action::Read,
        (Method::Post, "rules/validate" | "simulate" | "rewrite") => Action::Check,
        (Method::Post, "rules/drafts") => Action::SaveDraft,
        (Method::Post, "preview" | "pick") => Action::PreviewLink,
        (Method::Post, r) if r.starts_with("preview/revoke/") => Action::PreviewLink,
        (Method::Put, "rules") | (Method::Post, "rules/publish") => Action::Publish,
        (Method::Post, "rules/rollback") => Action::Rollback,
        (Method::Post, "purge") => Action::Purge,
        _ => Action::Operate,
    }
}

/// `GET whoami`: who is signed in and what their role allows (the admin
/// page shows it, and disables what the role may not do, with the reason).
fn whoami(who: &Identity) -> Result<Response> {
    let actions: Vec<Value> = Action::ALL
        .iter()
        .map(|&a| {
            let allowed = access::allows(who.role, a);
            json!({
                "action": a.name(),
                "what": a.describe(),
                "allowed": allowed,
                "needs": a.needs().name(),
                "reason": (!allowed).then(|| access::refusal(who, a)),
            })
        })
        .collect();
    json_response(200, &json!({ "identity": who, "actions": actions }))
}

/// Appends to the audit log: one KV key per entry, so two at once both stay.
async fn audit(kv: &KvStore, by: &Identity, action: &str, detail: String) -> Result<()> {
    console_log!(
        "edgeseg admin: {action} by {} ({}): {detail}",
        by.id,
        by.role.name()
    );
    // The shape of [`history::AuditEntry`].
    let entry = json!({ "at": now_iso(), "by": by, "action": action, "detail": detail });
    let nonce = u32::from_le_bytes(super::random_bytes::<4>());
    let key = history::audit_key(super::now_millis() as u64, nonce);
    put_with_meta(kv, &key, entry.to_string(), &entry).await
}

/// `GET audit`: the newest 200 entries, newest first.
async fn audit_log(kv: &KvStore) -> Result<Response> {
    let entries: Vec<Value> = list_keys(kv, history::AUDIT_PREFIX)
        .await?
        .into_iter()
        .rev()
        .take(200)
        .map(|(_, meta)| meta)
        .collect();
    json_response(200, &json!({ "entries": entries }))
}

async fn body_json<T: for<'de> Deserialize<'de>>(
    req: &mut Request,
) -> std::result::Result<T, String> {
    let bytes = req.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!(
            "the body is larger than {} KB",
            MAX_BODY_BYTES / 1024
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the body is not the expected JSON: {e}"))
}

async fn read_meta(kv: &KvStore) -> Result<Option<RevisionMeta>> {
    Ok(kv.get(META_KEY).json::<RevisionMeta>().await?)
}

fn now_iso() -> String {
    String::from(worker::js_sys::Date::new_0().to_iso_string())
}

async fn get_rules(kv: &KvStore) -> Result<Response> {
    let Some(text) = kv.get(RULES_KEY).text().await? else {
        return error(404, "there are no rules yet");
    };
    let meta = read_meta(kv).await?;
    let mut r = json_response(200, &rules_body(&text, meta.as_ref()))?;
    let revision = meta.map_or(0, |m| m.revision);
    r.headers_mut().set("etag", &format!("\"{revision}\""))?;
    Ok(r)
}

fn rules_body(text: &str, meta: Option<&RevisionMeta>) -> Value {
    json!({
        "revision": meta.map_or(0, |m| m.revision),
        "label": meta.map(|m| m.label.clone()).or_else(|| label_of(text)),
        "text": text,
        "author": meta.map(|m| m.author.clone()),
        "message": meta.map(|m| m.message.clone()),
        "saved_at": meta.map(|m| m.saved_at.clone()),
        "rollback_of": meta.and_then(|m| m.rollback_of),
        "by": meta.and_then(|m| m.by.clone()),
        "draft": meta.and_then(|m| m.draft),
        "drafted_by": meta.and_then(|m| m.drafted_by.clone()),
        "experiments": meta.and_then(|m| m.experiments.clone()).unwrap_or(json!([])),
    })
}

fn label_of(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text)
        .ok()?
        .get("version")?
        .as_str()
        .map(str::to_string)
}

#[derive(Deserialize)]
struct TextBody {
    text: String,
}

/// Compiled rules, or the errors as the API's 422 body: for what is not a
/// save (a rollback, a simulation of unsaved text).
fn compiled(text: &str) -> std::result::Result<CompiledRules, Value> {
    CompiledRules::from_json(text)
        .map_err(|errors| json!({"valid": false, "errors": locate_errors(text, &errors)}))
}

/// The save-time checks (`rules::review`, its content read by the runtime's
/// HTML parser): rules, and warnings located in `text` for the editor; or the
/// errors as the API's 422 body.
async fn check(text: &str) -> Result<std::result::Result<(CompiledRules, Value), Value>> {
    let located =
        |errors: RuleErrors| json!({"valid": false, "errors": locate_errors(text, &errors)});
    let rules = match review::compile_for_save(text, Some(MAX_RULES_BYTES)) {
        Ok(rules) => rules,
        Err(errors) => return Ok(Err(located(errors))),
    };
    let mut scanned = review::Scanned::new();
    for html in review::html_fragments(&rules.document) {
        scanned.insert(
            html.to_string(),
            super::html_rewriter::scan_elements(html).await?,
        );
    }
    Ok(match review::finish_save(rules, &scanned) {
        Ok(saveable) => {
            let warnings = locate_errors(text, &RuleErrors(saveable.warnings));
            Ok((saveable.rules, json!(warnings)))
        }
        Err(errors) => Err(located(errors)),
    })
}

async fn validate(req: &mut Request) -> Result<Response> {
    let body: TextBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    match check(&body.text).await? {
        Ok((rules, warnings)) => json_response(
            200,
            &json!({
                "valid": true,
                "label": rules.version(),
                "segments": rules.segments.len(),
                "blocks": rules.blocks.len(),
                "warnings": warnings,
            }),
        ),
        Err(errors) => json_response(422, &errors),
    }
}

#[derive(Deserialize)]
struct SaveBody {
    text: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    message: String,
}

async fn save(req: &mut Request, kv: &KvStore, who: &Identity) -> Result<Response> {
    let if_match = req.headers().get("if-match")?;
    let body: SaveBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let current = read_meta(kv).await?;
    let current_revision = current.as_ref().map_or(0, |m| m.revision);
    let expected = if_match.as_deref().map(|v| {
        v.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    });
    match expected {
        None if current_revision > 0 => {
            return error(
                428,
                "send If-Match with the revision you edited, so no one's save is overwritten",
            );
        }
        Some(e) if e != current_revision.to_string() => {
            return json_response(
                409,
                &json!({
                    "error": format!("someone saved revision {current_revision} after the revision you edited; load it and apply your change again"),
                    "current_revision": current_revision,
                }),
            );
        }
        _ => {}
    }
    let (rules, warnings) = match check(&body.text).await? {
        Ok(checked) => checked,
        Err(errors) => return json_response(422, &errors),
    };
    let revision = write_revision(
        kv,
        current.as_ref(),
        NewRevision {
            text: &body.text,
            rules: &rules,
            by: who,
            note: &body.author,
            message: &body.message,
            rollback_of: None,
            draft: None,
        },
    )
    .await?;
    json_response(
        200,
        &json!({ "revision": revision, "by": who, "warnings": warnings }),
    )
}

/// What a new live revision is made of.
struct NewRevision<'a> {
    text: &'a str,
    rules: &'a CompiledRules,
    /// Who makes it live (verified).
    by: &'a Identity,
    /// A name the caller typed, kept as a note.
    note: &'a str,
    message: &'a str,
    rollback_of: Option<u64>,
    draft: Option<&'a Draft>,
}

/// Saves `new.text` as the next revision and makes it current; records who
/// did it, and which experiments it started or stopped, in the revision and
/// the audit log.
async fn write_revision(
    kv: &KvStore,
    current: Option<&RevisionMeta>,
    new: NewRevision<'_>,
) -> Result<u64> {
    let text = new.text;
    let mut next = current.map_or(0, |m| m.revision) + 1;
    let mut before = None;
    // Rules edited outside the admin API (wrangler kv key put) are kept as a
    // revision of their own before they are replaced.
    if let Some(live) = kv.get(RULES_KEY).text().await? {
        before = crate::rules::validate::parse_document(&live).ok();
        let recorded = match current {
            Some(m) => kv.get(&history::revision_key(m.revision)).text().await?,
            None => None,
        };
        if recorded.as_deref() != Some(live.as_str()) && live != text {
            let meta = RevisionMeta {
                revision: next,
                label: label_of(&live).unwrap_or_default(),
                author: "(outside the admin API)".into(),
                message: "rules as found in KV before this save".into(),
                saved_at: now_iso(),
                rollback_of: None,
                by: None,
                draft: None,
                drafted_by: None,
                experiments: None,
            };
            put_with_meta(kv, &history::revision_key(next), live, &json!(meta)).await?;
            next += 1;
        }
    }
    let experiments = history::experiment_changes(before.as_ref(), &new.rules.document);
    let meta = RevisionMeta {
        revision: next,
        label: new.rules.version().to_string(),
        author: new.note.trim().to_string(),
        message: new.message.trim().to_string(),
        saved_at: now_iso(),
        rollback_of: new.rollback_of,
        by: Some(json!(new.by)),
        draft: new.draft.map(|d| d.draft),
        drafted_by: new.draft.map(|d| d.meta["by"].clone()),
        experiments: (!experiments.is_empty()).then(|| json!(experiments)),
    };
    put_with_meta(
        kv,
        &history::revision_key(next),
        text.to_string(),
        &json!(meta),
    )
    .await?;
    // The revision rides along as metadata, so the Worker knows it from the
    // one read it makes anyway (export records' `rules_version`).
    kv.put(RULES_KEY, text)?
        .metadata(history::RulesKeyMeta {
            revision: Some(next),
        })?
        .execute()
        .await?;
    kv.put(META_KEY, serde_json::to_string(&meta)?)?
        .execute()
        .await?;
    let what = match (new.rollback_of, new.draft) {
        (Some(r), _) => (
            "rollback",
            format!("revision {next} (the rules of revision {r})"),
        ),
        (None, Some(d)) => ("publish", format!("revision {next} from draft {}", d.draft)),
        (None, None) => ("publish", format!("revision {next}")),
    };
    audit(kv, new.by, what.0, format!("{} ({:?})", what.1, meta.label)).await?;
    for change in &experiments {
        audit(
            kv,
            new.by,
            &format!("experiment_{}", change.change),
            format!("{} in revision {next}", change.experiment),
        )
        .await?;
    }
    Ok(next)
}

async fn versions(kv: &KvStore) -> Result<Response> {
    let mut versions: Vec<RevisionMeta> = list_keys(kv, history::REVISION_PREFIX)
        .await?
        .into_iter()
        .filter_map(|(_, meta)| serde_json::from_value(meta).ok())
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.revision));
    let current = read_meta(kv).await?.map_or(0, |m| m.revision);
    json_response(200, &json!({ "current": current, "versions": versions }))
}

async fn get_revision(kv: &KvStore, revision: u64) -> Result<Response> {
    let (text, meta) = kv
        .get(&history::revision_key(revision))
        .text_with_metadata::<RevisionMeta>()
        .await?;
    match text {
        Some(text) => json_response(200, &rules_body(&text, meta.as_ref())),
        None => error(404, &format!("there is no revision {revision}")),
    }
}

#[derive(Deserialize)]
struct RollbackBody {
    revision: u64,
    #[serde(default)]
    author: String,
    #[serde(default)]
    message: String,
}

async fn rollback(req: &mut Request, kv: &KvStore, who: &Identity) -> Result<Response> {
    let body: RollbackBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let Some(text) = kv.get(&history::revision_key(body.revision)).text().await? else {
        return error(404, &format!("there is no revision {}", body.revision));
    };
    // What was once live is restored as it was (rules::review: not reviewed again).
    let rules = match compiled(&text) {
        Ok(r) => r,
        Err(errors) => return json_response(422, &errors),
    };
    let current = read_meta(kv).await?;
    let message = if body.message.trim().is_empty() {
        format!("roll back to revision {}", body.revision)
    } else {
        body.message
    };
    let revision = write_revision(
        kv,
        current.as_ref(),
        NewRevision {
            text: &text,
            rules: &rules,
            by: who,
            note: &body.author,
            message: &message,
            rollback_of: Some(body.revision),
            draft: None,
        },
    )
    .await?;
    json_response(200, &json!({ "revision": revision, "by": who }))
}

#[derive(Deserialize)]
struct DraftBody {
    text: String,
    /// Why: required, as for a save (a retrained model says what it learned).
    #[serde(default)]
    message: String,
    /// The live revision the draft was edited from (default: the current one).
    #[serde(default)]
    base_revision: Option<u64>,
}

/// `POST rules/drafts {text, message}`: saves rules as a draft, not live. A
/// draft must be valid (a preview compiles it); its author is the caller.
async fn save_draft(req: &mut Request, kv: &KvStore, who: &Identity) -> Result<Response> {
    let body: DraftBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    if body.message.trim().is_empty() {
        return error(400, "message: say what the draft changes");
    }
    // A draft is reviewed as a save is (rules::review): publishing it makes it live as it is.
    let (rules, warnings) = match check(&body.text).await? {
        Ok(checked) => checked,
        Err(errors) => return json_response(422, &errors),
    };
    let base = match body.base_revision {
        Some(b) => b,
        None => read_meta(kv).await?.map_or(0, |m| m.revision),
    };
    let last = list_keys(kv, history::DRAFT_PREFIX)
        .await?
        .iter()
        .filter_map(|(name, _)| history::draft_of_key(name))
        .max()
        .unwrap_or(0);
    let meta = DraftMeta {
        draft: last + 1,
        label: rules.version().to_string(),
        by: who.clone(),
        message: body.message.trim().to_string(),
        saved_at: now_iso(),
        base_revision: base,
        published_as: None,
    };
    let meta_json = json!(meta);
    put_with_meta(kv, &history::draft_key(meta.draft), body.text, &meta_json).await?;
    audit(
        kv,
        who,
        "save_draft",
        format!(
            "draft {} ({:?}) from revision {base}",
            meta.draft, meta.label
        ),
    )
    .await?;
    let mut answer = meta_json;
    answer["warnings"] = warnings;
    json_response(200, &answer)
}

async fn drafts(kv: &KvStore) -> Result<Response> {
    listed(kv, history::DRAFT_PREFIX, "drafts").await
}

/// `{name: [metadata...]}` of every key under `prefix`, in reverse key
/// order (drafts: newest first). One function for each such list: the
/// Worker's bundle has little room.
async fn listed(kv: &KvStore, prefix: &str, name: &str) -> Result<Response> {
    let items: Vec<Value> = list_keys(kv, prefix)
        .await?
        .into_iter()
        .rev()
        .map(|(_, meta)| meta)
        .collect();
    let mut body = serde_json::Map::new();
    body.insert(name.into(), Value::Array(items));
    json_response(200, &Value::Object(body))
}

/// A stored draft's metadata ([`DraftMeta`]), read by hand from its JSON:
/// a derived deserializer for it would cost the Worker's bundle more.
struct Draft {
    draft: u64,
    base_revision: u64,
    message: String,
    published_as: Option<u64>,
    meta: Value,
}

async fn read_draft(kv: &KvStore, draft: u64) -> Result<Option<(String, Draft)>> {
    let (text, meta) = kv
        .get(&history::draft_key(draft))
        .text_with_metadata::<Value>()
        .await?;
    let Some(text) = text else { return Ok(None) };
    let meta = meta.unwrap_or(Value::Null);
    let draft = Draft {
        draft,
        base_revision: meta["base_revision"].as_u64().unwrap_or(0),
        message: meta["message"].as_str().unwrap_or("").to_string(),
        published_as: meta["published_as"].as_u64(),
        meta,
    };
    Ok(Some((text, draft)))
}

async fn get_draft(kv: &KvStore, draft: u64) -> Result<Response> {
    match read_draft(kv, draft).await? {
        Some((text, d)) => {
            let mut body = d.meta;
            body["text"] = Value::String(text);
            json_response(200, &body)
        }
        None => error(404, &format!("there is no draft {draft}")),
    }
}

#[derive(Deserialize)]
struct PublishBody {
    draft: u64,
    #[serde(default)]
    message: String,
    /// Publish even though rules were published after the draft was saved
    /// (the draft then replaces them).
    #[serde(default)]
    force: bool,
}

/// `POST rules/publish {draft}`: a publisher makes a draft live. The revision
/// records the publisher as `by` and the draft's author as `drafted_by`.
async fn publish(req: &mut Request, kv: &KvStore, who: &Identity) -> Result<Response> {
    let body: PublishBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let Some((text, mut draft)) = read_draft(kv, body.draft).await? else {
        return error(404, &format!("there is no draft {}", body.draft));
    };
    if let Some(r) = draft.published_as {
        return json_response(
            409,
            &json!({"error": format!("draft {} is already live as revision {r}", draft.draft), "revision": r}),
        );
    }
    let current = read_meta(kv).await?;
    let current_revision = current.as_ref().map_or(0, |m| m.revision);
    if current_revision != draft.base_revision && !body.force {
        return json_response(
            409,
            &json!({
                "error": format!("revision {current_revision} went live after draft {} was saved from revision {}; publishing it would undo that change. Open the draft, bring it up to date and save a new draft, or publish with force", draft.draft, draft.base_revision),
                "current_revision": current_revision,
            }),
        );
    }
    let (rules, _) = match check(&text).await? {
        Ok(checked) => checked,
        Err(errors) => return json_response(422, &errors),
    };
    let message = if body.message.trim().is_empty() {
        draft.message.clone()
    } else {
        body.message
    };
    let revision = write_revision(
        kv,
        current.as_ref(),
        NewRevision {
            text: &text,
            rules: &rules,
            by: who,
            note: "",
            message: &message,
            rollback_of: None,
            draft: Some(&draft),
        },
    )
    .await?;
    draft.meta["published_as"] = json!(revision);
    put_with_meta(kv, &history::draft_key(draft.draft), text, &draft.meta).await?;
    json_response(
        200,
        &json!({ "revision": revision, "by": who, "draft": draft.draft }),
    )
}

#[derive(Deserialize)]
struct SimulateBody {
    #[serde(default)]
    events: Vec<SimulateEvent>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
    /// A rules document to simulate against instead of the loaded rules: the
    /// admin page sends the editor's unsaved text. Invalid text is a 422 with
    /// the same errors as `rules/validate`.
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct SimulateEvent {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    ago: Option<String>,
    /// The event's properties (`{"value": 300}`), as the page would send them.
    #[serde(default)]
    props: serde_json::Map<String, Value>,
}

async fn simulate_visitor(req: &mut Request, env: &Env) -> Result<Response> {
    let body: SimulateBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let rules = match body.text.as_deref() {
        Some(text) => match compiled(text) {
            Ok(r) => std::rc::Rc::new(r),
            Err(errors) => return json_response(422, &errors),
        },
        None => match super::rules_cache::current(env).await {
            Some(r) => r,
            None => return error(409, "no rules are loaded yet"),
        },
    };
    let mut events = Vec::new();
    for (i, e) in body.events.iter().enumerate() {
        let ago = match e.ago.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => 0,
            Some(a) => match parse_duration(a.trim_start_matches('-')) {
                Some(s) => s,
                None => {
                    return error(
                        400,
                        &format!("events[{i}].ago: \"{a}\" is not a duration like \"5m\""),
                    )
                }
            },
        };
        events.push(PastEvent {
            name: e.name.clone(),
            path: e.path.clone().unwrap_or_else(|| "/".into()),
            ago,
            props: e.props.clone(),
        });
    }
    let user_agent = match body.device.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => match simulate::device_user_agent(d) {
            Some(ua) => Some(ua.to_string()),
            None => return error(400, "device: expected mobile, tablet, desktop or bot"),
        },
        None => None,
    };
    let visitor = SimulatedVisitor {
        events,
        url: body
            .url
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://example.test/".into()),
        referrer: body.referrer,
        user_agent,
        country: body.country.filter(|c| !c.is_empty()),
        accept_language: body.language.filter(|l| !l.is_empty()),
        now: super::now_secs(),
    };
    let c = match simulate::simulate(&rules, &visitor, &[]) {
        Ok(c) => c,
        Err(e) => return error(400, &e.to_string()),
    };
    let signals: serde_json::Map<String, Value> = c
        .signals
        .iter()
        .map(|(name, v)| {
            (
                name.clone(),
                v.as_ref()
                    .map_or(Value::Null, crate::signals::SignalValue::to_json),
            )
        })
        .collect();
    let outcomes: Vec<Value> = c
        .outcomes
        .iter()
        .map(|o| json!({"id": o.id, "priority": o.priority, "condition": o.condition, "standing": o.standing.name()}))
        .collect();
    let blocks: serde_json::Map<String, Value> = rules
        .blocks
        .iter()
        .map(|b| {
            let chosen = c
                .content
                .iter()
                .find(|(id, _)| id == &b.id)
                .map(|(_, s)| Value::String(s.clone()));
            (b.id.clone(), chosen.unwrap_or(Value::Null))
        })
        .collect();
    json_response(
        200,
        &json!({
            "signals": signals,
            "segments": c.segments,
            "outcomes": outcomes,
            "blocks": blocks,
            "experiments": c.experiments.iter().map(|o| json!({
                "experiment": o.key, "variant": o.variant_id, "why": o.why.describe(),
            })).collect::<Vec<_>>(),
            "scheduled": c.scheduled.iter().map(|(block, segment, phase)| json!({
                "block": block, "segment": segment, "why": phase.describe(),
            })).collect::<Vec<_>>(),
            "explain": crate::classify::explain(&rules, &c),
        }),
    )
}

#[derive(Deserialize)]
struct PreviewBody {
    #[serde(default)]
    segments: Vec<String>,
    /// Experiment key → variant id to force.
    #[serde(default)]
    variants: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    path: Option<String>,
    /// A saved draft to preview: the page is served with its rules.
    #[serde(default)]
    draft: Option<u64>,
}

/// How long a pick grant lasts: the admin page asks for a new one for every
/// page it frames, so a copied pick address soon opens nothing.
const PICK_GRANT_SECS: u64 = 600;

/// `POST api/pick`: a short-lived grant that opens the site's pages in pick
/// mode (README, "Picking blocks on the page"): `{ param, token, expires }`.
fn pick_grant(env: &Env) -> Result<Response> {
    let Some(secret) = super::secret(env, super::SECRET_NAME) else {
        return error(
            409,
            "EDGESEG_SECRET is not set, so pages can not be opened in pick mode",
        );
    };
    let expires = super::now_secs() + PICK_GRANT_SECS;
    let grant = PreviewGrant {
        segments: Vec::new(),
        variants: Vec::new(),
        expires,
        draft: None,
        pick: true,
    };
    let token = preview::issue(&grant, &PreviewKey::new(secret.as_bytes()));
    json_response(
        200,
        &json!({ "param": preview::PICK_PARAM, "token": token, "expires": expires }),
    )
}

async fn preview_link(
    req: &mut Request,
    env: &Env,
    kv: &KvStore,
    who: &Identity,
) -> Result<Response> {
    let body: PreviewBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let rules = match body.draft {
        Some(n) => {
            let kv = env.kv(super::KV_BINDING)?;
            let Some((text, _)) = read_draft(&kv, n).await? else {
                return error(404, &format!("there is no draft {n}"));
            };
            match compiled(&text) {
                Ok(r) => std::rc::Rc::new(r),
                Err(errors) => return json_response(422, &errors),
            }
        }
        None => match super::rules_cache::current(env).await {
            Some(r) => r,
            None => return error(409, "no rules are loaded yet"),
        },
    };
    for s in &body.segments {
        if rules.segment_index(s).is_none() {
            let known: Vec<&str> = rules.segments.iter().map(|s| s.id.as_str()).collect();
            return error(
                400,
                &format!(
                    "unknown segment \"{s}\"; the rules have: {}",
                    known.join(", ")
                ),
            );
        }
    }
    for (key, variant) in &body.variants {
        let Some(e) = rules.experiments.iter().find(|e| &e.key == key) else {
            let known: Vec<&str> = rules.experiments.iter().map(|e| e.key.as_str()).collect();
            return error(
                400,
                &format!(
                    "unknown experiment \"{key}\"; the rules have: {}",
                    known.join(", ")
                ),
            );
        };
        if e.variant_index(variant).is_none() {
            let known: Vec<&str> = e.variants.iter().map(|v| v.id.as_str()).collect();
            return error(
                400,
                &format!(
                    "experiment {key} has no variant \"{variant}\"; it has: {}",
                    known.join(", ")
                ),
            );
        }
    }
    let ttl = match body.ttl.as_deref() {
        None => 3_600,
        Some(t) => match parse_duration(t) {
            Some(s) if s > 0 && s <= 7 * 86_400 => s,
            _ => return error(400, "ttl: expected a duration from 1s to 7d, like \"1h\""),
        },
    };
    let Some(secret) = super::secret(env, super::SECRET_NAME) else {
        return error(
            409,
            "EDGESEG_SECRET is not set, so preview links can not be signed",
        );
    };
    let now = super::now_secs();
    let grant = PreviewGrant {
        segments: body.segments,
        variants: body.variants.into_iter().collect(),
        expires: now + ttl,
        draft: body.draft,
        pick: false,
    };
    let token = preview::issue(&grant, &PreviewKey::new(secret.as_bytes()));
    let path = body
        .path
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/".into());
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{path}{sep}{}={token}", preview::QUERY_PARAM);
    // Listed (and revocable) until it expires: the record is its metadata.
    let id = preview::link_id(&token).unwrap_or_default().to_string();
    let mut record = json!({
        "id": id, "url": url, "path": path, "segments": grant.segments, "variants": grant.variants,
        "draft": grant.draft, "expires_at": grant.expires, "created_at": now, "by": who.id,
    });
    put_link(kv, &id, &record).await?;
    record["token"] = Value::String(token);
    json_response(200, &record)
}

/// A link's record (text and metadata), which KV drops when the link
/// expires (at least 60 s ahead, as KV wants). The content path reads it
/// for a previewed page only, to see whether it was revoked.
async fn put_link(kv: &KvStore, id: &str, record: &Value) -> Result<()> {
    let expires = record["expires_at"].as_u64().unwrap_or(0);
    kv.put(&format!("{}{id}", preview::LINK_PREFIX), record.to_string())?
        .expiration(expires.max(super::now_secs() + 60))
        .metadata(record)?
        .execute()
        .await?;
    Ok(())
}

/// `POST preview/revoke/ID`: marks the link's record revoked; browsers that
/// opened it get ordinary pages from their next request (within KV's minute
/// of propagation), and their preview cookie is cleared.
async fn revoke_preview(id: &str, kv: &KvStore) -> Result<Response> {
    let (_, meta) = kv
        .get(&format!("{}{id}", preview::LINK_PREFIX))
        .text_with_metadata::<Value>()
        .await?;
    let Some(mut record) = meta.filter(Value::is_object) else {
        return error(404, "no such preview link (it may have expired)");
    };
    record["revoked_at"] = json!(super::now_secs());
    put_link(kv, id, &record).await?;
    json_response(200, &record)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RewriteBody {
    html: String,
    plan: crate::rewrite::PlanSpec,
    /// Feed the page to the runtime in pieces of this many bytes (default: whole).
    #[serde(default)]
    chunk: Option<usize>,
}

/// `POST rewrite {html, plan, chunk}`: the page as the Worker's native
/// rewriter outputs it for that plan, with its report. For checking the
/// Worker against `edgeseg preview` (the differential test does, for every
/// fixture and demo page); it stores and counts nothing.
async fn rewrite_check(req: &mut Request) -> Result<Response> {
    let body: RewriteBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let plan = match body.plan.compile() {
        Ok(p) => p,
        Err(e) => return error(422, &e.to_string()),
    };
    let chunk = body.chunk.unwrap_or(usize::MAX).max(1);
    let (html, report) =
        super::html_rewriter::rewrite_text(body.html.as_bytes(), chunk, plan).await?;
    json_response(
        200,
        &json!({
            "html": html,
            "applied": report.applied,
            "head_appended": report.head_appended,
        }),
    )
}

/// The origin cache settings of the rules in KV now (`None` without good rules).
async fn live_cache_policy(kv: &KvStore) -> Option<CachePolicy> {
    let text = kv.get(RULES_KEY).text().await.ok()??;
    CompiledRules::from_json(&text)
        .ok()
        .map(|r| r.settings.origin_cache)
}

/// After a successful save or rollback: purge the whole origin cache when
/// `settings.origin_cache` changed (see
/// [`crate::origin_cache::settings_change_purges`]: nothing else in the rules
/// is in a cached page), and say so in `X-Edgeseg-Cache-Purged`.
async fn purge_if_cache_settings_changed(
    mut saved: Response,
    before: Option<CachePolicy>,
    kv: &KvStore,
    env: &Env,
) -> Result<Response> {
    if saved.status_code() != 200 {
        return Ok(saved);
    }
    let (Some(before), Some(after)) = (before, live_cache_policy(kv).await) else {
        return Ok(saved);
    };
    if settings_change_purges(&before, &after) {
        let log = super::origin::purge(env, "", None, &after).await?;
        saved.headers_mut().set(
            "x-edgeseg-cache-purged",
            &format!("everything (generation {})", log.generation),
        )?;
    }
    Ok(saved)
}

#[derive(Deserialize)]
struct PurgeBody {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST purge` `{"path": "/products/boots"}` (every query variant of that
/// path) or `{"all": true}`.
async fn purge(req: &mut Request, env: &Env, who: &Identity) -> Result<Response> {
    let body: PurgeBody = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let path = match (body.path.as_deref().map(str::trim), body.all) {
        (Some(p), false) if p.starts_with('/') => Some(path_of(p).to_string()),
        (None, true) => None,
        (Some(_), false) => {
            return error(
                400,
                "path: a path from the site's root, like \"/products/boots\"",
            )
        }
        _ => {
            return error(
                400,
                "say what to purge: {\"path\": \"/products/boots\"} or {\"all\": true}",
            )
        }
    };
    let policy = super::rules_cache::current(env)
        .await
        .map(|r| r.settings.origin_cache.clone())
        .unwrap_or_default();
    let url = req.url()?;
    let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
        + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let log = super::origin::purge(env, &base, path.as_deref(), &policy).await?;
    let kv = env.kv(super::KV_BINDING)?;
    let what = path.as_deref().unwrap_or("everything");
    audit(
        &kv,
        who,
        "purge",
        format!("{what} (generation {})", log.generation),
    )
    .await?;
    json_response(
        200,
        &json!({
            "purged": what,
            "generation": log.generation,
            "by": who,
        }),
    )
}
