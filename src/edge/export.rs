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

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{console_error, Context, Env, Request, Response, Result};

use crate::export::batch::{self, QueueMessage};
use crate::export::erase;
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
    fn send_batch(this: &ExportQueue, messages: &Array) -> std::result::Result<Promise, JsValue>;

    /// An R2 bucket binding: only the calls the export and its erasure make
    /// (the `worker` crate's R2 types would bring far more into the bundle).
    type Bucket;
    #[wasm_bindgen(method, catch, js_name = delete)]
    fn remove(this: &Bucket, key: &str) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn put(
        this: &Bucket,
        key: &str,
        value: &Uint8Array,
        options: &JsValue,
    ) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn get(this: &Bucket, key: &str) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn list(this: &Bucket, options: &JsValue) -> std::result::Result<Promise, JsValue>;

    /// The runtime's `CompressionStream` (a readable/writable pair).
    type CompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> std::result::Result<CompressionStream, JsValue>;

    /// The runtime's `DecompressionStream`, for erasure (no inflater in the wasm).
    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> std::result::Result<DecompressionStream, JsValue>;
}

fn bucket(env: &Env) -> Option<Bucket> {
    binding(env, BUCKET_BINDING).map(JsCast::unchecked_into)
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in entries {
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

async fn settle(p: std::result::Result<Promise, JsValue>) -> std::result::Result<JsValue, JsValue> {
    JsFuture::from(p?).await
}

/// What this isolate did, for the health endpoint (the counters hold the
/// totals of every isolate).
#[derive(Default)]
struct Stats {
    /// By position in [`names::ALL`].
    counts: [u64; names::ALL.len()],
    last_error: Option<String>,
}

thread_local! {
    static STATS: RefCell<Stats> = RefCell::new(Stats::default());
    /// Deliveries per activation in the current minute and hour (the rate cap).
    static CAPS: RefCell<Vec<(String, CapWindows)>> = const { RefCell::new(Vec::new()) };
}

fn count(name: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    if let Some(i) = names::ALL.iter().position(|n| *n == name) {
        STATS.with(|s| s.borrow_mut().counts[i] += n);
    }
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
    /// The records and webhooks the page pipeline decided on.
    pub fn from_outcome(outcome: &crate::page::PageOutcome) -> Outbox {
        let mut outbox = Outbox::default();
        for record in &outcome.records {
            outbox.record(record);
        }
        for delivery in &outcome.webhooks {
            outbox.webhook(delivery);
        }
        outbox
    }

    pub fn record(&mut self, record: &ExportRecord) {
        self.records += 1;
        self.messages.push(QueueMessage::record(record).encode());
    }

    pub fn webhook(&mut self, delivery: &Delivery) {
        self.messages.push(QueueMessage::webhook(delivery).encode());
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
    let messages: Array = outbox.messages.into_iter().map(text_message).collect();
    ctx.wait_until(async move {
        match settle(queue.send_batch(&messages)).await {
            Ok(_) => count(names::RECORDS_QUEUED, records),
            Err(e) => {
                count(names::SEND_FAILURES, n);
                note_error(format!("sending {n} messages to the queue failed: {e:?}"));
            }
        }
    });
}

/// Sends queue messages and waits for the queue to take them (the cron's
/// webhooks: no response to answer first). Errs when no queue is bound or
/// the send failed.
pub async fn send_now(env: &Env, messages: Vec<String>) -> std::result::Result<(), String> {
    if messages.is_empty() {
        return Ok(());
    }
    let Some(queue) = binding(env, QUEUE_BINDING) else {
        return Err(format!("no queue is bound as {QUEUE_BINDING}"));
    };
    let queue: ExportQueue = queue.unchecked_into();
    let n = messages.len() as u64;
    let messages: Array = messages.into_iter().map(text_message).collect();
    settle(queue.send_batch(&messages))
        .await
        .map(|_| ())
        .map_err(|e| {
            count(names::SEND_FAILURES, n);
            let why = format!("sending {n} messages to the queue failed: {e:?}");
            note_error(why.clone());
            why
        })
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
    let messages = get(batch, "messages")
        .dyn_into::<Array>()
        .unwrap_or_default();
    let mut records: Vec<(Incoming, String, Timestamp)> = Vec::new();
    for message in messages.iter() {
        let attempts = get(&message, "attempts").as_f64().map_or(1, |a| a as u32);
        let body = get(&message, "body").as_string();
        let incoming = Incoming { message, attempts };
        match batch::decode(body.as_deref()) {
            Ok(QueueMessage::Record { line, ts }) => records.push((incoming, line, ts)),
            Ok(QueueMessage::Webhook {
                activation,
                idempotency_key,
                body,
            }) => {
                let hook = Hook {
                    activation: &activation,
                    idempotency_key: &idempotency_key,
                    body: &body,
                };
                deliver(env, &policy, &incoming, hook).await;
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

async fn write_records(env: &Env, policy: &Policy, records: Vec<(Incoming, String, Timestamp)>) {
    if records.is_empty() {
        return;
    }
    let Some(bucket) = bucket(env) else {
        // Retrying cannot make a binding appear: count what is lost.
        for (m, ..) in &records {
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
        let first = chunk.first().map_or(0, |(_, _, ts)| *ts);
        let key = batch::partition_key(first, &batch::batch_id(first, super::random_bytes()));
        let ndjson = batch::to_ndjson(chunk.iter().map(|(_, line, _)| line.as_str()));
        let written = match gzip(ndjson).await {
            Ok(bytes) => {
                let options = object(&[(
                    "httpMetadata",
                    object(&[("contentType", "application/gzip".into())]),
                )]);
                settle(bucket.put(&key, &bytes, &options)).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                for (m, ..) in chunk {
                    m.ack();
                }
                count(names::RECORDS_WRITTEN, chunk.len() as u64);
                count(names::OBJECTS_WRITTEN, 1);
            }
            Err(e) => {
                note_error(format!("writing {key} failed, retrying its records: {e:?}"));
                for (m, ..) in chunk {
                    policy.retry_or_drop(m, names::RECORDS_DROPPED);
                }
            }
        }
    }
}

/// Gunzip by the runtime (`DecompressionStream("gzip")`) of an R2 body stream.
async fn gunzip(body: &JsValue) -> std::result::Result<Vec<u8>, JsValue> {
    let stream: &web_sys::ReadableStream = body.unchecked_ref();
    let inflate = DecompressionStream::new("gzip")?;
    let plain = stream.pipe_through(inflate.unchecked_ref::<web_sys::ReadableWritablePair>());
    let out = web_sys::Response::new_with_opt_readable_stream(Some(&plain))?;
    let buffer = JsFuture::from(out.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Gzip by the runtime (`CompressionStream("gzip")`).
async fn gzip(bytes: Vec<u8>) -> std::result::Result<Uint8Array, JsValue> {
    let mut bytes = bytes;
    let source = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes))?;
    let body = source
        .body()
        .ok_or_else(|| JsValue::from_str("no body to compress"))?;
    let gzip = CompressionStream::new("gzip")?;
    let compressed = body.pipe_through(gzip.unchecked_ref::<web_sys::ReadableWritablePair>());
    let out = web_sys::Response::new_with_opt_readable_stream(Some(&compressed))?;
    let buffer = JsFuture::from(out.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer))
}

/// A webhook message, as decoded.
#[derive(Clone, Copy)]
struct Hook<'a> {
    activation: &'a str,
    idempotency_key: &'a str,
    body: &'a str,
}

async fn deliver(env: &Env, policy: &Policy, m: &Incoming, hook: Hook<'_>) {
    let Some(secret) = super::secret(env, WEBHOOK_SECRET) else {
        m.ack();
        count(names::WEBHOOKS_DROPPED, 1);
        note_error(format!(
            "{WEBHOOK_SECRET} is not set; a webhook was dropped"
        ));
        return;
    };
    // The URL and caps of the rules in force (see `webhook::Delivery`).
    let rules = super::rules_cache::current(env).await;
    let Some((url, cap)) = rules.as_ref().and_then(|r| {
        let a = r.activations.iter().find(|a| a.id == hook.activation)?;
        Some((a.url.clone(), a.cap))
    }) else {
        m.ack();
        count(names::WEBHOOKS_DROPPED, 1);
        note_error(format!(
            "activation {} is no longer in the rules; its webhook was dropped",
            hook.activation
        ));
        return;
    };
    let now = super::now_secs();
    // A retry was admitted by the cap already: it is the same delivery.
    if m.attempts <= 1 && !admit(hook.activation, cap, now) {
        m.ack();
        count(names::WEBHOOKS_CAPPED, 1);
        return;
    }
    match post(&url, hook, secret.as_bytes(), now).await {
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
                "webhook {} to {url} failed ({why}), attempt {}",
                hook.activation, m.attempts
            ));
            count(
                names::WEBHOOKS_RETRIED,
                u64::from(m.attempts <= policy.max_retries),
            );
            policy.retry_or_drop(m, names::WEBHOOKS_DROPPED);
        }
    }
}

fn admit(activation: &str, cap: RateCap, now: Timestamp) -> bool {
    CAPS.with(|c| {
        let mut caps = c.borrow_mut();
        let i = match caps.iter().position(|(id, _)| id == activation) {
            Some(i) => i,
            None => {
                caps.push((activation.to_string(), CapWindows::default()));
                caps.len() - 1
            }
        };
        caps[i].1.admit(cap, now)
    })
}

/// POSTs the signed payload; the receiver's status, or why there was none.
async fn post(
    url: &str,
    hook: Hook<'_>,
    secret: &[u8],
    now: Timestamp,
) -> std::result::Result<u16, String> {
    let body = hook.body;
    let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
    for (k, v) in [
        ("content-type", "application/json".to_string()),
        ("user-agent", "edgeseg-webhook/1".to_string()),
        (
            webhook::SIGNATURE_HEADER,
            webhook::signature_header(secret, now, body),
        ),
        (
            webhook::IDEMPOTENCY_HEADER,
            hook.idempotency_key.to_string(),
        ),
    ] {
        headers.set(k, &v).map_err(|e| format!("{e:?}"))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let request =
        web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| format!("{e:?}"))?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_request(&request));
    let timeout = worker::Delay::from(std::time::Duration::from_millis(DELIVERY_TIMEOUT_MS));
    futures_util::pin_mut!(fetch, timeout);
    match futures_util::future::select(fetch, timeout).await {
        futures_util::future::Either::Left((Ok(resp), _)) => {
            Ok(resp.unchecked_into::<web_sys::Response>().status())
        }
        futures_util::future::Either::Left((Err(e), _)) => Err(format!("{e:?}")),
        futures_util::future::Either::Right(_) => {
            Err(format!("no answer within {DELIVERY_TIMEOUT_MS} ms"))
        }
    }
}

/// The `export` part of the health endpoint.
pub fn health(
    env: &Env,
    rules: Option<&crate::rules::CompiledRules>,
    today: &serde_json::Map<String, Value>,
) -> Value {
    let totals: serde_json::Map<String, Value> = names::ALL
        .iter()
        .map(|n| {
            let v = today.get(*n).and_then(Value::as_u64).unwrap_or(0);
            ((*n).to_string(), json!(v))
        })
        .collect();
    let (isolate, last_error) = STATS.with(|s| {
        let s = s.borrow();
        let counts: serde_json::Map<String, Value> = names::ALL
            .iter()
            .zip(s.counts)
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
    let no_bucket = || super::error_reply(503, "no R2 bucket is bound as EDGESEG_R2");
    match (req.method(), api) {
        (worker::Method::Get, "export") => {
            let Some(bucket) = bucket(env) else {
                return no_bucket();
            };
            let prefix = param("prefix").unwrap_or_else(|| batch::PREFIX.to_string());
            if !prefix.starts_with(batch::PREFIX) {
                return super::error_reply(400, "prefix: the export's keys start with events/");
            }
            let (objects, cursor) =
                list_page(&bucket, &prefix, 1_000, param("cursor").as_deref()).await?;
            let items: Vec<Value> = objects
                .iter()
                .map(|o| {
                    let uploaded = get(&o, "uploaded")
                        .dyn_into::<js_sys::Date>()
                        .map_or(0.0, |d| d.get_time());
                    json!({
                        "key": get(&o, "key").as_string(),
                        "size": get(&o, "size").as_f64(),
                        "uploaded": uploaded,
                    })
                })
                .collect();
            let truncated = cursor.is_some();
            super::json_reply(
                200,
                &json!({"objects": items, "truncated": truncated, "cursor": cursor}),
            )
        }
        (worker::Method::Get, "export/object") => {
            let Some(bucket) = bucket(env) else {
                return no_bucket();
            };
            let Some(key) = param("key").filter(|k| k.starts_with(batch::PREFIX)) else {
                return super::error_reply(400, "key: name an object under events/");
            };
            let found = settle(bucket.get(&key)).await.map_err(super::js_error)?;
            let body = get(&found, "body");
            if found.is_null() || found.is_undefined() || !body.is_object() {
                return super::error_reply(404, "no such object");
            }
            // The stored gzip bytes, streamed as they are (a client saves them as .gz).
            let headers = web_sys::Headers::new().map_err(super::js_error)?;
            headers
                .set("content-type", "application/gzip")
                .map_err(super::js_error)?;
            headers
                .set("cache-control", "no-store")
                .map_err(super::js_error)?;
            let init = web_sys::ResponseInit::new();
            init.set_headers(&headers);
            let response = web_sys::Response::new_with_opt_readable_stream_and_init(
                Some(body.unchecked_ref()),
                &init,
            )
            .map_err(super::js_error)?;
            Ok(Response::from(response))
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
                .map(|v| match v {
                    Value::String(s) => text_message(s.clone()),
                    other => text_message(other.to_string()),
                })
                .collect();
            let queue: ExportQueue = queue.unchecked_into();
            settle(queue.send_batch(&messages))
                .await
                .map_err(super::js_error)?;
            super::json_reply(200, &json!({"enqueued": list.len()}))
        }
        _ => super::error_reply(404, "no such admin endpoint"),
    }
}

/// One page of a listing of the bucket: its objects, and the cursor of the
/// next page when the listing was cut there.
async fn list_page(
    bucket: &Bucket,
    prefix: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Array, Option<String>)> {
    let mut options = vec![("prefix", prefix.into()), ("limit", limit.into())];
    if let Some(c) = cursor {
        options.push(("cursor", c.into()));
    }
    let listed = settle(bucket.list(&object(&options)))
        .await
        .map_err(super::js_error)?;
    let objects = get(&listed, "objects")
        .dyn_into::<Array>()
        .unwrap_or_default();
    let next = get(&listed, "truncated")
        .is_truthy()
        .then(|| get(&listed, "cursor").as_string())
        .flatten();
    Ok((objects, next))
}

/// What erasing one visitor did to one object.
enum Erased {
    /// The object does not mention the visitor (or is gone).
    Untouched,
    /// Put back without `n` records.
    Rewritten(usize),
    /// Every record was the visitor's: the object is deleted.
    Deleted(usize),
    /// Another erasure rewrote the object between the read and the write.
    Changed,
}

/// Erases `visitor` from one object: read, gunzip, take the visitor's lines
/// out (`export::erase::rewrite`), gzip, and put it back only if nobody
/// rewrote it meanwhile (`onlyIf.etagMatches`), or delete it when nothing is
/// left (records are only ever taken out, so deleting an object that held
/// only this visitor's records cannot lose another's).
async fn erase_object(
    bucket: &Bucket,
    key: &str,
    visitor: &str,
) -> std::result::Result<Erased, JsValue> {
    let found = settle(bucket.get(key)).await?;
    if found.is_null() || found.is_undefined() {
        return Ok(Erased::Untouched);
    }
    let etag = get(&found, "etag");
    let text = gunzip(&get(&found, "body")).await?;
    if !erase::mentions(&text, visitor) {
        return Ok(Erased::Untouched);
    }
    let rewrite = erase::rewrite(&text, visitor);
    if rewrite.left == 0 {
        settle(bucket.remove(key)).await?;
        return Ok(Erased::Deleted(rewrite.removed));
    }
    let bytes = gzip(rewrite.kept).await?;
    let options = object(&[
        (
            "httpMetadata",
            object(&[("contentType", "application/gzip".into())]),
        ),
        ("onlyIf", object(&[("etagMatches", etag)])),
    ]);
    let put = settle(bucket.put(key, &bytes, &options)).await?;
    Ok(if put.is_null() || put.is_undefined() {
        Erased::Changed
    } else {
        Erased::Rewritten(rewrite.removed)
    })
}

/// `POST export/erase {"visitor", "cursor"?, "prefix"?, "limit"?}`: erases
/// one visitor id from the export's objects under `prefix` (default
/// `events/`), at most `limit` objects a call (see `export::erase`), and
/// answers with the counts and the cursor to call again with (`done` once
/// the last page is walked). An object another erasure rewrote under this
/// one is tried again, up to three times; if it still changed, the answer's
/// cursor is the one this call got, so the next call walks the page again.
/// The first call (no cursor) also drops the server events waiting in the
/// visitor's inbox (`inbox::clear`). Also returns the audit detail when the
/// call removed anything or finished.
pub async fn erase(req: &mut Request, env: &Env) -> Result<(Response, Option<String>)> {
    let Some(bucket) = bucket(env) else {
        return Ok((
            super::error_reply(503, "no R2 bucket is bound as EDGESEG_R2")?,
            None,
        ));
    };
    let body: Value = match req.json().await {
        Ok(v) => v,
        Err(e) => {
            return Ok((
                super::error_reply(400, &format!("the body is not JSON: {e}"))?,
                None,
            ))
        }
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().unwrap_or(0)),
    };
    let checked = erase::visitor_id(text("visitor").unwrap_or_default()).and_then(|v| {
        Ok((
            v,
            erase::prefix(text("prefix"))?,
            erase::objects_per_call(limit)?,
        ))
    });
    let (visitor, prefix, limit) = match checked {
        Ok(c) => c,
        Err(e) => return Ok((super::error_reply(400, &e.to_string())?, None)),
    };
    let cursor = text("cursor").map(str::to_string);
    // The visitor's waiting server events go on the first call of a walk.
    let inbox = match cursor {
        None => super::inbox::clear(env, &visitor).await,
        Some(_) => Ok(0),
    };
    let (objects, following) = list_page(&bucket, &prefix, limit, cursor.as_deref()).await?;
    let keys: Vec<String> = objects
        .iter()
        .filter_map(|o| get(&o, "key").as_string())
        .collect();
    let (mut rewritten, mut deleted, mut removed, mut changed) = (0, 0, 0, 0);
    for key in &keys {
        let mut outcome = Erased::Changed;
        for _ in 0..3 {
            outcome = erase_object(&bucket, key, &visitor)
                .await
                .map_err(super::js_error)?;
            if !matches!(outcome, Erased::Changed) {
                break;
            }
        }
        match outcome {
            Erased::Untouched => {}
            Erased::Rewritten(n) => (rewritten, removed) = (rewritten + 1, removed + n),
            Erased::Deleted(n) => (deleted, removed) = (deleted + 1, removed + n),
            Erased::Changed => changed += 1,
        }
    }
    let done = changed == 0 && following.is_none();
    let next = if changed > 0 { cursor } else { following };
    let reference = erase::audit_ref(&visitor);
    let inbox_removed = *inbox.as_ref().unwrap_or(&0);
    let detail = (removed > 0 || inbox_removed > 0 || done).then(|| {
        format!(
            "visitor {reference}: {removed} records removed under {prefix} ({} objects read, {rewritten} rewritten, {deleted} deleted){}{}",
            keys.len(),
            match &inbox {
                Ok(0) => String::new(),
                Ok(n) => format!(", {n} waiting server events dropped"),
                Err(e) => format!(", its server events inbox could not be cleared ({e})"),
            },
            if done { "; done" } else { "; more to walk" }
        )
    });
    let reply = super::json_reply(
        200,
        &json!({
            "visitor_ref": reference,
            "prefix": prefix,
            "objects_scanned": keys.len(),
            "objects_rewritten": rewritten,
            "objects_deleted": deleted,
            "records_removed": removed,
            "objects_changed": changed,
            "inbox_events_removed": inbox_removed,
            "inbox_error": inbox.err(),
            "cursor": next,
            "done": done,
        }),
    )?;
    Ok((reply, detail))
}

/// `{body, contentType: "text"}` for `sendBatch`.
fn text_message(body: String) -> JsValue {
    object(&[("body", body.into()), ("contentType", "text".into())])
}

/// The records of one event request (`POST /__edgeseg/event`), for a
/// tracked visitor, one per accepted event the export includes.
pub struct EventExport<'r> {
    source: Option<RecordSource<'r>>,
    /// The page's query (from `Referer`), for the UTM parameters.
    query: Vec<(String, String)>,
    /// The request's millisecond, for the records' `seq`.
    now_ms: u64,
    outbox: Outbox,
}

impl<'r> EventExport<'r> {
    pub fn new(
        rules: &'r crate::rules::CompiledRules,
        headers: &worker::Headers,
        now_ms: u64,
    ) -> Self {
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
            now_ms,
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
            let seq = crate::export::record::seq(self.now_ms, self.outbox.messages.len());
            let id = super::random_bytes();
            if let Some(r) = source.event(id, event, state, &self.query, now, seq) {
                self.outbox.record(&r);
            }
        }
    }

    pub fn send_later(self, env: &Env, ctx: &Context) {
        send_later(env, ctx, self.outbox);
    }
}
