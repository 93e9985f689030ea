//! Data out on Cloudflare's own services: the export's queue producer and
//! the Worker's queue consumer (R2 writes and webhook deliveries).
//!
//! Content path: records and webhook messages gathered while answering go to
//! the [`QUEUE_BINDING`] queue in one `sendBatch` after the response
//! (`ctx.wait_until`). Nothing is awaited before the response, and a missing
//! binding or a failed send only counts (`export:send_failures`): the page
//! is never slower or broken by the export.
//!
//! Consumer ([`queue`], exported as the Worker's `queue` handler): each
//! message is decoded alone; one that cannot be read is acknowledged and
//! counted (`export:poisoned`). The batch's records become one gzip NDJSON
//! object in the [`BUCKET_BINDING`] bucket (gzip by the runtime's
//! `CompressionStream`, no compressor in the wasm); webhooks are POSTed,
//! signed. A failed write or delivery goes back to the queue with a growing
//! delay (`message.retry({delaySeconds})`); on its last attempt
//! ([`MAX_RETRIES_VAR`], kept equal to the consumer's `max_retries`) it is
//! acknowledged and counted as dropped instead, so every loss is counted.
//!
//! The queue is written through a small wasm-bindgen declaration rather than
//! the `worker` crate's `queue` feature: the consumer needs each message's
//! `attempts`, which that crate does not expose.

use std::cell::RefCell;
use std::collections::BTreeMap;

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{console_error, Context, Env, Request, Response, Result};

use crate::export::batch::{self, QueueMessage};
use crate::export::names;
use crate::export::record::RecordSource;
use crate::export::webhook::{self, CapWindows, Delivery, RateCap};
use crate::export::ExportRecord;
use crate::state::Timestamp;

/// Queue producer (and consumer) binding (wrangler.toml).
pub const QUEUE_BINDING: &str = "EDGESEG_EXPORT";
/// R2 bucket binding the consumer writes to (wrangler.toml).
pub const BUCKET_BINDING: &str = "EDGESEG_R2";
/// Secret that signs webhooks.
pub const WEBHOOK_SECRET: &str = "EDGESEG_WEBHOOK_SECRET";
/// Var: the consumer's `max_retries` (wrangler.toml), default 3.
pub const MAX_RETRIES_VAR: &str = "EXPORT_MAX_RETRIES";
/// Var: seconds before the first retry (doubling after), default 10.
pub const RETRY_DELAY_VAR: &str = "EXPORT_RETRY_DELAY_SECS";
/// Most records in one R2 object (a consumer batch is at most 100 messages).
const MAX_RECORDS_PER_OBJECT: usize = 1_000;
/// Longest a webhook receiver may take to answer.
const DELIVERY_TIMEOUT_MS: u64 = 10_000;

#[wasm_bindgen]
extern "C" {
    /// A Queues producer binding.
    type ExportQueue;
    #[wasm_bindgen(method, catch, js_name = sendBatch)]
    fn send_batch(
        this: &ExportQueue,
        messages: &Array,
    ) -> std::result::Result<js_sys::Promise, JsValue>;

    /// The runtime's `CompressionStream` (a readable/writable pair).
    type CompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> std::result::Result<CompressionStream, JsValue>;

}

/// What this isolate did, for the health endpoint (the counters hold the
/// totals of every isolate).
#[derive(Default)]
struct Stats {
    counts: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
}

thread_local! {
    static STATS: RefCell<Stats> = RefCell::new(Stats::default());
    /// Deliveries per activation in the current minute and hour (the rate cap).
    static CAPS: RefCell<BTreeMap<String, CapWindows>> = const { RefCell::new(BTreeMap::new()) };
}

fn count(name: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    STATS.with(|s| *s.borrow_mut().counts.entry(name).or_default() += n);
    super::counters::add(name, super::now_secs(), n);
}

fn note_error(what: String) {
    console_error!("edgeseg: export: {what}");
    STATS.with(|s| s.borrow_mut().last_error = Some(what));
}

/// Messages gathered while answering one request.
#[derive(Default)]
pub struct Outbox {
    messages: Vec<String>,
    records: u64,
}

impl Outbox {
    pub fn record(&mut self, record: ExportRecord) {
        self.records += 1;
        self.messages.push(QueueMessage::Record { record }.encode());
    }

    pub fn webhook(&mut self, delivery: Delivery) {
        self.messages
            .push(QueueMessage::Webhook { delivery }.encode());
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

fn binding(env: &Env, name: &str) -> Option<JsValue> {
    Reflect::get(env, &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Whether webhooks can be signed (without the secret none are queued).
pub fn webhooks_enabled(env: &Env) -> bool {
    super::secret(env, WEBHOOK_SECRET).is_some()
}

/// Sends the outbox to the queue after the response (see the module doc).
pub fn send_later(env: &Env, ctx: &Context, outbox: Outbox) {
    if outbox.is_empty() {
        return;
    }
    let Some(queue) = binding(env, QUEUE_BINDING) else {
        return;
    };
    let queue: ExportQueue = queue.unchecked_into();
    let n = outbox.messages.len() as u64;
    let records = outbox.records;
    let messages: Array = outbox
        .messages
        .into_iter()
        .map(|body| {
            let m = Object::new();
            let _ = Reflect::set(&m, &"body".into(), &body.into());
            let _ = Reflect::set(&m, &"contentType".into(), &"text".into());
            JsValue::from(m)
        })
        .collect();
    ctx.wait_until(async move {
        let sent = match queue.send_batch(&messages) {
            Ok(promise) => JsFuture::from(promise).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => count(names::RECORDS_QUEUED, records),
            Err(e) => {
                count(names::SEND_FAILURES, n);
                note_error(format!("sending {n} messages to the queue failed: {e:?}"));
            }
        }
    });
}

/// The Worker's queue handler (worker-build exports it as `queue`).
#[wasm_bindgen(js_name = queue)]
pub async fn queue(
    batch: JsValue,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> std::result::Result<JsValue, JsValue> {
    let ctx = Context::new(ctx);
    consume(&batch, &env).await;
    super::counters::flush_later(&env, &ctx);
    Ok(JsValue::UNDEFINED)
}

/// One message of a batch, with what the runtime says about it.
struct Incoming {
    message: JsValue,
    attempts: u32,
}

impl Incoming {
    fn call(&self, method: &str, arg: Option<&JsValue>) {
        let f = Reflect::get(&self.message, &method.into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(f) = f {
            let _ = match arg {
                Some(a) => f.call1(&self.message, a),
                None => f.call0(&self.message),
            };
        }
    }

    fn ack(&self) {
        self.call("ack", None);
    }

    fn retry(&self, delay_secs: u32) {
        let options = Object::new();
        let _ = Reflect::set(&options, &"delaySeconds".into(), &JsValue::from(delay_secs));
        self.call("retry", Some(&options));
    }
}

/// Retry policy from the vars.
struct Policy {
    max_retries: u32,
    base_delay: u32,
}

impl Policy {
    fn from_env(env: &Env) -> Policy {
        let var = |name: &str, default: u32| {
            env.var(name)
                .ok()
                .and_then(|v| v.to_string().trim().parse().ok())
                .unwrap_or(default)
        };
        Policy {
            max_retries: var(MAX_RETRIES_VAR, 3),
            base_delay: var(RETRY_DELAY_VAR, 10),
        }
    }

    /// Retries the message, or, on its last attempt, acknowledges it and
    /// counts it as `dropped`.
    fn retry_or_drop(&self, m: &Incoming, dropped: &'static str) {
        if m.attempts > self.max_retries {
            m.ack();
            count(dropped, 1);
        } else {
            m.retry(webhook::retry_delay(m.attempts, self.base_delay));
        }
    }
}

async fn consume(batch: &JsValue, env: &Env) {
    let policy = Policy::from_env(env);
    let messages = Reflect::get(batch, &"messages".into())
        .ok()
        .and_then(|m| m.dyn_into::<Array>().ok())
        .unwrap_or_default();
    let mut records: Vec<(Incoming, ExportRecord)> = Vec::new();
    for message in messages.iter() {
        let attempts = Reflect::get(&message, &"attempts".into())
            .ok()
            .and_then(|a| a.as_f64())
            .map_or(1, |a| a as u32);
        let body = Reflect::get(&message, &"body".into())
            .ok()
            .and_then(|b| b.as_string());
        let incoming = Incoming { message, attempts };
        match batch::decode(body.as_deref()) {
            Ok(QueueMessage::Record { record }) => records.push((incoming, record)),
            Ok(QueueMessage::Webhook { delivery }) => {
                deliver(env, &policy, &incoming, &delivery).await;
            }
            Err(e) => {
                incoming.ack();
                count(names::POISONED, 1);
                note_error(format!("acknowledged a message it cannot read: {e}"));
            }
        }
    }
    write_records(env, &policy, records).await;
}

async fn write_records(env: &Env, policy: &Policy, records: Vec<(Incoming, ExportRecord)>) {
    if records.is_empty() {
        return;
    }
    let Ok(bucket) = env.bucket(BUCKET_BINDING) else {
        // Retrying cannot make a binding appear: count what is lost.
        for (m, _) in &records {
            m.ack();
        }
        count(names::RECORDS_DROPPED, records.len() as u64);
        note_error(format!(
            "no R2 bucket bound as {BUCKET_BINDING}; {} records dropped",
            records.len()
        ));
        return;
    };
    for chunk in records.chunks(MAX_RECORDS_PER_OBJECT) {
        let list: Vec<ExportRecord> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let first = list.first().map_or(0, |r| r.ts);
        let key = batch::partition_key(first, &batch::batch_id(first, super::random_bytes()));
        let written = match gzip(batch::to_ndjson(&list)).await {
            Ok(bytes) => {
                let metadata = worker::HttpMetadata {
                    content_type: Some("application/gzip".into()),
                    ..Default::default()
                };
                bucket
                    .put(&key, bytes)
                    .http_metadata(metadata)
                    .execute()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("gzip failed: {e:?}")),
        };
        match written {
            Ok(()) => {
                for (m, _) in chunk {
                    m.ack();
                }
                count(names::RECORDS_WRITTEN, chunk.len() as u64);
                count(names::OBJECTS_WRITTEN, 1);
            }
            Err(e) => {
                note_error(format!("writing {key} failed, retrying its records: {e}"));
                for (m, _) in chunk {
                    policy.retry_or_drop(m, names::RECORDS_DROPPED);
                }
            }
        }
    }
}

/// Gzip by the runtime (`CompressionStream("gzip")`).
async fn gzip(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, JsValue> {
    let mut bytes = bytes;
    let source = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes))?;
    let body = source
        .body()
        .ok_or_else(|| JsValue::from_str("no body to compress"))?;
    let gzip = CompressionStream::new("gzip")?;
    let compressed = body.pipe_through(gzip.unchecked_ref::<web_sys::ReadableWritablePair>());
    let out = web_sys::Response::new_with_opt_readable_stream(Some(&compressed))?;
    let buffer = JsFuture::from(out.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn deliver(env: &Env, policy: &Policy, m: &Incoming, delivery: &Delivery) {
    let Some(secret) = super::secret(env, WEBHOOK_SECRET) else {
        m.ack();
        count(names::WEBHOOKS_DROPPED, 1);
        note_error(format!(
            "{WEBHOOK_SECRET} is not set; a webhook was dropped"
        ));
        return;
    };
    let now = super::now_secs();
    // A retry was admitted by the cap already: it is the same delivery.
    if m.attempts <= 1 && !admit(delivery, now) {
        m.ack();
        count(names::WEBHOOKS_CAPPED, 1);
        return;
    }
    match post(delivery, secret.as_bytes(), now).await {
        Ok(status) if (200..300).contains(&status) => {
            m.ack();
            count(names::WEBHOOKS_DELIVERED, 1);
        }
        outcome => {
            let why = match outcome {
                Ok(status) => format!("answered {status}"),
                Err(e) => e,
            };
            note_error(format!(
                "webhook {} to {} failed ({why}), attempt {}",
                delivery.activation, delivery.url, m.attempts
            ));
            count(
                names::WEBHOOKS_RETRIED,
                u64::from(m.attempts <= policy.max_retries),
            );
            policy.retry_or_drop(m, names::WEBHOOKS_DROPPED);
        }
    }
}

fn admit(delivery: &Delivery, now: Timestamp) -> bool {
    let cap = RateCap {
        per_minute: delivery.max_per_minute,
        per_hour: delivery.max_per_hour,
    };
    CAPS.with(|c| {
        c.borrow_mut()
            .entry(delivery.activation.clone())
            .or_default()
            .admit(cap, now)
    })
}

/// POSTs the signed payload; the receiver's status, or why there was none.
async fn post(
    delivery: &Delivery,
    secret: &[u8],
    now: Timestamp,
) -> std::result::Result<u16, String> {
    let body = delivery.body();
    let headers = worker::Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("content-type", "application/json")?;
    set("user-agent", "edgeseg-webhook/1")?;
    set(
        webhook::SIGNATURE_HEADER,
        &webhook::signature_header(secret, now, &body),
    )?;
    set(webhook::IDEMPOTENCY_HEADER, &delivery.idempotency_key())?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init(&delivery.url, &init).map_err(|e| e.to_string())?;
    let fetch = worker::Fetch::Request(req);
    let fetch = fetch.send();
    let timeout = worker::Delay::from(std::time::Duration::from_millis(DELIVERY_TIMEOUT_MS));
    futures_util::pin_mut!(fetch, timeout);
    match futures_util::future::select(fetch, timeout).await {
        futures_util::future::Either::Left((Ok(resp), _)) => Ok(resp.status_code()),
        futures_util::future::Either::Left((Err(e), _)) => Err(e.to_string()),
        futures_util::future::Either::Right(_) => {
            Err(format!("no answer within {DELIVERY_TIMEOUT_MS} ms"))
        }
    }
}

/// The `export` part of the health endpoint.
pub async fn health(env: &Env, rules: Option<&crate::rules::CompiledRules>) -> Value {
    let today = super::counters::for_conditions(env).await;
    let totals: serde_json::Map<String, Value> = names::ALL
        .iter()
        .map(|n| {
            let v = today.get(*n).and_then(Value::as_u64).unwrap_or(0);
            ((*n).to_string(), json!(v))
        })
        .collect();
    let (isolate, last_error) = STATS.with(|s| {
        let s = s.borrow();
        let counts: serde_json::Map<String, Value> = s
            .counts
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        (counts, s.last_error.clone())
    });
    json!({
        "enabled": rules.is_some_and(|r| r.export.is_some()),
        "activations": rules.map_or(0, |r| r.activations.len()),
        "queue_bound": binding(env, QUEUE_BINDING).is_some(),
        "bucket_bound": binding(env, BUCKET_BINDING).is_some(),
        "webhook_secret_configured": webhooks_enabled(env),
        "today": totals,
        "this_isolate": isolate,
        "last_error": last_error,
    })
}

/// Admin API under `api/export`: `GET export?prefix=&cursor=` lists objects
/// (at most 1000 a page), `GET export/object?key=` returns one object's
/// gzip bytes as stored, `POST export/enqueue {"messages": [...]}` puts
/// messages on the queue as they are (to check the consumer, e.g. that a
/// message it cannot read is counted and does not block a batch).
pub async fn admin(api: &str, mut req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
    };
    match (req.method(), api) {
        (worker::Method::Get, "export") => {
            let Ok(bucket) = env.bucket(BUCKET_BINDING) else {
                return super::error_reply(503, "no R2 bucket is bound as EDGESEG_R2");
            };
            let prefix = param("prefix").unwrap_or_else(|| batch::PREFIX.to_string());
            if !prefix.starts_with(batch::PREFIX) {
                return super::error_reply(400, "prefix: the export's keys start with events/");
            }
            let mut list = bucket.list().prefix(prefix).limit(1_000);
            if let Some(cursor) = param("cursor") {
                list = list.cursor(cursor);
            }
            let objects = list.execute().await?;
            let items: Vec<Value> = objects
                .objects()
                .iter()
                .map(|o| json!({"key": o.key(), "size": o.size(), "uploaded": o.uploaded().as_millis()}))
                .collect();
            super::json_reply(
                200,
                &json!({"objects": items, "truncated": objects.truncated(), "cursor": objects.cursor()}),
            )
        }
        (worker::Method::Get, "export/object") => {
            let Ok(bucket) = env.bucket(BUCKET_BINDING) else {
                return super::error_reply(503, "no R2 bucket is bound as EDGESEG_R2");
            };
            let Some(key) = param("key").filter(|k| k.starts_with(batch::PREFIX)) else {
                return super::error_reply(400, "key: name an object under events/");
            };
            let Some(object) = bucket.get(&key).execute().await? else {
                return super::error_reply(404, "no such object");
            };
            let Some(body) = object.body() else {
                return super::error_reply(404, "the object has no body");
            };
            let bytes = body.bytes().await?;
            let mut r = Response::from_bytes(bytes)?;
            // The stored gzip bytes, not decoded on the way (a client saves them as .gz).
            r.headers_mut().set("content-type", "application/gzip")?;
            r.headers_mut().set("cache-control", "no-store")?;
            Ok(r)
        }
        (worker::Method::Post, "export/enqueue") => {
            let Some(queue) = binding(env, QUEUE_BINDING) else {
                return super::error_reply(503, "no queue is bound as EDGESEG_EXPORT");
            };
            let body: Value = match req.json().await {
                Ok(v) => v,
                Err(e) => return super::error_reply(400, &format!("the body is not JSON: {e}")),
            };
            let Some(list) = body
                .get("messages")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty() && l.len() <= 100)
            else {
                return super::error_reply(
                    400,
                    "messages: send 1 to 100 messages, each any JSON value",
                );
            };
            let messages: Array = list
                .iter()
                .map(|v| {
                    let m = Object::new();
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let _ = Reflect::set(&m, &"body".into(), &text.into());
                    let _ = Reflect::set(&m, &"contentType".into(), &"text".into());
                    JsValue::from(m)
                })
                .collect();
            let queue: ExportQueue = queue.unchecked_into();
            JsFuture::from(queue.send_batch(&messages).map_err(super::js_error)?)
                .await
                .map_err(super::js_error)?;
            super::json_reply(200, &json!({"enqueued": list.len()}))
        }
        _ => super::error_reply(404, "no such admin endpoint"),
    }
}

/// What one page view sends: its record (with `settings.export.page_views`)
/// and the webhooks its membership changes fire (with the webhook secret set).
/// The caller has checked that the visitor is tracked and this is no preview.
pub fn page_view(
    rules: &crate::rules::CompiledRules,
    env: &Env,
    facts: &crate::request::RequestFacts,
    state: &crate::state::VisitorState,
    classification: &crate::classify::Classification,
    members_before: &[u32],
) -> Outbox {
    let mut outbox = Outbox::default();
    let rules_version = super::rules_cache::revision();
    if let Some(export) = rules.export.as_ref().filter(|e| e.page_views) {
        let source = RecordSource {
            rules,
            export,
            rules_version,
        };
        outbox.record(source.page_view(super::random_bytes(), facts, state, classification));
    }
    let fired = crate::export::transitions::fired(rules, members_before, &state.memberships);
    if !fired.is_empty() && webhooks_enabled(env) {
        let visitor = state.visitor_id_hex();
        for (activation, transition) in fired {
            outbox.webhook(Delivery {
                activation: activation.id.clone(),
                segment: activation.segment.clone(),
                transition,
                at: facts.now,
                visitor: visitor.clone(),
                rules_version,
                rules_label: rules.version().to_string(),
                url: activation.url.clone(),
                max_per_minute: activation.cap.per_minute,
                max_per_hour: activation.cap.per_hour,
            });
        }
    }
    outbox
}

/// The records of one event request (`POST /__edgeseg/event`), for a
/// tracked visitor, one per accepted event the export includes.
pub struct EventExport<'r> {
    source: Option<RecordSource<'r>>,
    /// The page's query (from `Referer`), for the UTM parameters.
    query: Vec<(String, String)>,
    outbox: Outbox,
}

impl<'r> EventExport<'r> {
    pub fn new(rules: &'r crate::rules::CompiledRules, headers: &worker::Headers) -> Self {
        let source = rules.export.as_ref().map(|export| RecordSource {
            rules,
            export,
            rules_version: super::rules_cache::revision(),
        });
        let query = match &source {
            Some(_) => headers
                .get("referer")
                .ok()
                .flatten()
                .map(|r| crate::request::split_url(&r).1)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        EventExport {
            source,
            query,
            outbox: Outbox::default(),
        }
    }

    /// Called right after the event is recorded into `state`.
    pub fn event(
        &mut self,
        event: &crate::events::PageEvent,
        state: &crate::state::VisitorState,
        now: Timestamp,
    ) {
        if let Some(source) = &self.source {
            if let Some(r) = source.event(super::random_bytes(), event, state, &self.query, now) {
                self.outbox.record(r);
            }
        }
    }

    pub fn send_later(self, env: &Env, ctx: &Context) {
        send_later(env, ctx, self.outbox);
    }
}
