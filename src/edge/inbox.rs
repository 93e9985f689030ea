//! The visitor inbox Durable Object (`VisitorInbox`, SQLite-backed, one per
//! visitor, named by the visitor's id): where the site's server events wait
//! for the visitor's next page. A thin adapter over the core's
//! [`Mailbox`], which decides everything (bounds, expiry, idempotency).
//!
//! * `POST /put` with `[Pending, ...]`: stores them (200 with [`Stored`], or
//!   429 when the mailbox is full). One SQLite row written.
//! * `POST /waiting`: what waits now (200 `[...]`). Read from memory while
//!   the object lives, else from storage (nothing is created by a read).
//! * `POST /ack` with `["id", ...]`: removes what a page applied.
//! * The alarm, at the next expiry: drops what expired, and the whole storage
//!   once nothing is left, so a visitor who never returns costs nothing after
//!   7 days.
//!
//! The client half ([`put`], [`waiting_soon`], [`ack_later`]) is what the
//! endpoint and the content path call.

use std::cell::RefCell;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, durable_object, js_sys, Context, Delay, DurableObject, Env, Method, Request,
    RequestInit, Response, Result, State,
};

use super::now_secs;
use crate::server_events::mailbox::{Mailbox, Pending, Stored};

/// Durable Object binding (wrangler.toml).
pub const INBOX_BINDING: &str = "EDGESEG_INBOX";
/// Longest the content path waits for a visitor's inbox: past it the page
/// goes out without the events, which keep waiting for the next one.
pub const PAGE_TIMEOUT_MS: u64 = 1_500;
/// Longest the server events endpoint waits to store a delivery.
pub const PUT_TIMEOUT_MS: u64 = 5_000;

#[durable_object(alarm)]
pub struct VisitorInbox {
    state: State,
    #[allow(dead_code)]
    env: Env,
    mailbox: RefCell<Option<Mailbox>>,
}

#[derive(Deserialize)]
struct Row {
    doc: String,
}

impl DurableObject for VisitorInbox {
    fn new(state: State, env: Env) -> Self {
        VisitorInbox {
            state,
            env,
            mailbox: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if let Err(e) = self.ensure_loaded() {
            console_error!("edgeseg: visitor inbox: {e}");
            return super::error_reply(503, "visitor inbox: reading its storage failed");
        }
        let now = now_secs();
        match req.path().as_str() {
            "/put" => {
                let Ok(events) = serde_json::from_str::<Vec<Pending>>(&req.text().await?) else {
                    return super::error_reply(400, "visitor inbox: expected a list of events");
                };
                let outcome = self.with(|m| m.put(events, now));
                match outcome {
                    Ok(stored) => {
                        if stored.stored > 0 {
                            self.store().await?;
                        }
                        Response::ok(serde_json::to_string(&stored).unwrap_or_default())
                    }
                    Err(full) => super::error_reply(429, &full.to_string()),
                }
            }
            "/waiting" => {
                let events = self.with(|m| m.waiting(now));
                Response::ok(serde_json::to_string(&events).unwrap_or_default())
            }
            "/ack" => {
                let ids: Vec<String> = serde_json::from_str(&req.text().await?).unwrap_or_default();
                if self.with(|m| m.ack(&ids, now)) > 0 {
                    self.store().await?;
                }
                Response::ok("")
            }
            _ => super::error_reply(404, "visitor inbox: no such route"),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if self.ensure_loaded().is_ok() {
            self.with(|m| m.waiting(now_secs()));
            self.store().await?;
        }
        Response::ok("")
    }
}

impl VisitorInbox {
    fn ensure_loaded(&self) -> Result<()> {
        if self.mailbox.borrow().is_some() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        // Read only: the inbox of a visitor nothing was ever sent for must
        // not get storage (a table) just because they were looked up.
        let tables: Vec<Row> = sql
            .exec(
                "SELECT name AS doc FROM sqlite_master WHERE type = 'table' AND name = 'mailbox'",
                None,
            )?
            .to_array()?;
        let rows: Vec<Row> = if tables.is_empty() {
            Vec::new()
        } else {
            sql.exec("SELECT doc FROM mailbox WHERE id = 1", None)?
                .to_array()?
        };
        let mailbox = rows
            .first()
            .map(|r| Mailbox::from_json(&r.doc))
            .unwrap_or_default();
        *self.mailbox.borrow_mut() = Some(mailbox);
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        let mut slot = self.mailbox.borrow_mut();
        f(slot.get_or_insert_with(Mailbox::default))
    }

    /// Writes the mailbox (one row) and sets the alarm for its next expiry;
    /// an empty mailbox deletes the object's storage instead.
    async fn store(&self) -> Result<()> {
        let (empty, doc, next) = self.with(|m| (m.is_empty(), m.to_json(), m.next_expiry()));
        let storage = self.state.storage();
        if empty {
            storage.delete_alarm().await?;
            storage.delete_all().await?;
            *self.mailbox.borrow_mut() = None;
            return Ok(());
        }
        let sql = storage.sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS mailbox (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "INSERT OR REPLACE INTO mailbox (id, doc) VALUES (1, ?)",
            vec![doc.into()],
        )?;
        if let Some(at) = next {
            let offset_ms = (at.saturating_sub(now_secs()) * 1000).max(1000) as i64;
            storage.set_alarm(offset_ms).await?;
        }
        Ok(())
    }
}

/// Calls the inbox of `visitor` (32 hex) with a timeout: `(status, body)`.
async fn call(
    env: &Env,
    visitor: &str,
    action: &str,
    body: String,
    timeout_ms: u64,
) -> std::result::Result<(u16, String), String> {
    let ns = env
        .durable_object(INBOX_BINDING)
        .map_err(|e| format!("no {INBOX_BINDING} Durable Object binding ({e})"))?;
    let stub = ns.get_by_name(visitor).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    init.with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://visitor-inbox/{action}"), &init)
        .map_err(|e| e.to_string())?;
    let request = async move {
        let mut resp = stub.fetch_with_request(req).await?;
        let status = resp.status_code();
        let text = resp.text().await?;
        Ok::<_, worker::Error>((status, text))
    };
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    match select(pin!(request), pin!(timeout)).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(e.to_string()),
        Either::Right(_) => Err(format!("no answer within {timeout_ms} ms")),
    }
}

/// What storing a delivery came to.
pub enum PutOutcome {
    Stored(Stored),
    /// The mailbox is full: the message says so (429).
    Full(String),
}

/// Stores a delivery's events in the visitor's inbox.
pub async fn put(
    env: &Env,
    visitor: &str,
    events: &[Pending],
) -> std::result::Result<PutOutcome, String> {
    let body = serde_json::to_string(events).map_err(|e| e.to_string())?;
    match call(env, visitor, "put", body, PUT_TIMEOUT_MS).await? {
        (200, text) => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0) as usize;
            Ok(PutOutcome::Stored(Stored {
                stored: n("stored"),
                duplicates: n("duplicates"),
                waiting: n("waiting"),
            }))
        }
        (429, text) => {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string))
                .unwrap_or(text);
            Ok(PutOutcome::Full(message))
        }
        (status, text) => Err(format!("the visitor inbox answered {status}: {text}")),
    }
}

/// Starts reading what waits for `visitor` at once (the request runs while
/// the caller awaits something else, such as the origin); [`waited`] reads
/// the answer. A promise rather than a joined future: joining inlined the
/// whole origin fetch a second time into the bundle.
pub fn waiting_soon(env: &Env, visitor: String) -> js_sys::Promise {
    let env = env.clone();
    wasm_bindgen_futures::future_to_promise(async move {
        Ok(
            match call(&env, &visitor, "waiting", String::new(), PAGE_TIMEOUT_MS).await {
                Ok((200, text)) => JsValue::from_str(&text),
                Ok((status, text)) => {
                    console_error!("edgeseg: the visitor inbox answered {status}: {text}");
                    JsValue::NULL
                }
                Err(e) => {
                    console_error!("edgeseg: reading the visitor inbox failed: {e}");
                    JsValue::NULL
                }
            },
        )
    })
}

/// The events of a [`waiting_soon`]; none when the inbox could not be read
/// in time (they keep waiting; the failure is logged).
pub async fn waited(promise: js_sys::Promise) -> Vec<Pending> {
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_string())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// After the page has gone out: removes the events it applied.
pub fn ack_later(env: &Env, ctx: &Context, visitor: String, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let body = serde_json::to_string(&ids).unwrap_or_default();
        if let Err(e) = call(&env, &visitor, "ack", body, PUT_TIMEOUT_MS).await {
            console_error!("edgeseg: acknowledging server events failed (they apply again on the next page): {e}");
        }
    });
}

/// Erasure (`POST api/export/erase`): drops every server event waiting for
/// `visitor`, and says how many. Through the inbox's own `/waiting` and
/// `/ack`, so the delivery ids stay remembered (a resent delivery is still
/// a duplicate, not stored again); an event a page is applying this very
/// moment (leased) is applied by that page. Without the binding: none.
pub async fn clear(env: &Env, visitor: &str) -> std::result::Result<usize, String> {
    if env.durable_object(INBOX_BINDING).is_err() {
        return Ok(0);
    }
    let (status, text) = call(env, visitor, "waiting", String::new(), PUT_TIMEOUT_MS).await?;
    if status != 200 {
        return Err(format!("the visitor inbox answered {status}: {text}"));
    }
    let ids: Vec<String> = serde_json::from_str::<Vec<Pending>>(&text)
        .map_err(|e| format!("the visitor inbox's answer is not a list of events: {e}"))?
        .into_iter()
        .map(|p| p.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let body = serde_json::to_string(&ids).unwrap_or_default();
    match call(env, visitor, "ack", body, PUT_TIMEOUT_MS).await? {
        (200, _) => Ok(ids.len()),
        (status, text) => Err(format!("the visitor inbox answered {status}: {text}")),
    }
}
