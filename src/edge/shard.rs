//! The counter shard Durable Object (`CounterShard`, SQLite-backed): a thin
//! adapter over the core's [`ShardCore`], which decides everything.
//!
//! * `POST /batch/{shard}` with a [`Batch`]: applied in memory at once, then
//!   stored by a **group commit**: the first request waits up to
//!   [`COMMIT_WINDOW_MS`] and writes everything applied meanwhile in one
//!   SQLite transaction (one row per changed hour plus one meta row), and
//!   every request of that window is answered only after it. One commit per
//!   window instead of one per batch keeps SQLite's billed rows written small
//!   (see BENCHMARKS.md). A batch is acknowledged only once stored; if the
//!   object dies before, the isolate gets no answer and re-sends the same id.
//! * `POST /publish/{shard}`: commit, then write every changed day to KV now
//!   (the admin "flush" endpoint and the tests use it).
//! * The alarm: commit, then publish the changed days if the core says a
//!   round is due (`publish_interval_secs`), and set the next alarm.
//!
//! Tables: `hours(hour INTEGER PRIMARY KEY, counts TEXT)` and
//! `meta(id INTEGER PRIMARY KEY, doc TEXT)` (one row, id 1); both hold the
//! core's JSON.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use worker::wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::{
    console_error, durable_object, js_sys, Delay, DurableObject, Env, Request, Response, Result,
    SqlStorageValue, State,
};

use super::now_secs;
use crate::counters::{ApplyOutcome, Batch, CounterSettings, ShardCommit, ShardCore};

/// Longest a batch waits for the group commit that stores it.
pub const COMMIT_WINDOW_MS: u64 = 2_000;

#[durable_object(alarm)]
pub struct CounterShard {
    state: State,
    env: Env,
    core: RefCell<Option<ShardCore>>,
    /// Group commit generations: `pending` is the one batches now join,
    /// `committed` the last one stored, `lost` those whose commit failed.
    pending: Cell<u64>,
    committed: Cell<u64>,
    lost: RefCell<BTreeSet<u64>>,
    publishing: Cell<bool>,
    alarm_known: Cell<bool>,
}

#[derive(Deserialize)]
struct HourRow {
    hour: f64,
    counts: String,
}

#[derive(Deserialize)]
struct MetaRow {
    doc: String,
}

impl DurableObject for CounterShard {
    fn new(state: State, env: Env) -> Self {
        CounterShard {
            state,
            env,
            core: RefCell::new(None),
            pending: Cell::new(0),
            committed: Cell::new(0),
            lost: RefCell::new(BTreeSet::new()),
            publishing: Cell::new(false),
            alarm_known: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (action, shard) = (parts.next().unwrap_or(""), parts.next());
        let Some(shard) = shard.and_then(|s| s.parse::<u32>().ok()) else {
            return super::error_reply(404, "counter shard: no such route");
        };
        if let Err(e) = self.ensure_loaded(shard) {
            console_error!("edgeseg: counter shard {shard}: {e}");
            return super::error_reply(503, &e.to_string());
        }
        match action {
            "batch" => {
                let text = req.text().await?;
                match Batch::from_json(&text) {
                    Ok(batch) => self.apply(batch).await,
                    Err(e) => super::error_reply(400, &e),
                }
            }
            "publish" => {
                let report = self.publish(true).await;
                super::json_reply(200, &report)
            }
            // For the stats: how fresh what this shard published is.
            "freshness" => {
                let settings = self.settings();
                let f = self.with_core(|c| c.freshness(now_secs(), &settings));
                super::json_reply(200, &f.map_or(serde_json::Value::Null, |f| f.to_json()))
            }
            _ => super::error_reply(404, "counter shard: no such route"),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_known.set(false);
        if self.core.borrow().is_none() {
            // Woken after a restart: the meta row knows which shard this is.
            if let Err(e) = self.ensure_loaded(0) {
                console_error!("edgeseg: counter shard alarm: {e}");
                return Response::ok("");
            }
        }
        self.publish(false).await;
        Response::ok("")
    }
}

impl CounterShard {
    fn settings(&self) -> CounterSettings {
        super::counters::settings_from_env(&self.env)
    }

    /// Loads the stored state once per instance (after a restart, from SQLite).
    fn ensure_loaded(&self, shard: u32) -> std::result::Result<(), String> {
        if self.core.borrow().is_some() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        let load = || -> Result<(Vec<HourRow>, Vec<MetaRow>)> {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS hours (hour INTEGER PRIMARY KEY, counts TEXT NOT NULL)",
                None,
            )?;
            sql.exec(
                "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
                None,
            )?;
            let hours = sql
                .exec("SELECT hour, counts FROM hours", None)?
                .to_array()?;
            let meta = sql
                .exec("SELECT doc FROM meta WHERE id = 1", None)?
                .to_array()?;
            Ok((hours, meta))
        };
        let (hours, meta) = load().map_err(|e| format!("reading its storage failed: {e}"))?;
        let core = ShardCore::load(
            shard,
            hours.into_iter().map(|r| (r.hour as u64, r.counts)),
            meta.first().map(|m| m.doc.as_str()),
        )
        .map_err(|e| e.to_string())?;
        *self.core.borrow_mut() = Some(core);
        Ok(())
    }

    fn with_core<T>(&self, f: impl FnOnce(&mut ShardCore) -> T) -> Option<T> {
        self.core.borrow_mut().as_mut().map(f)
    }

    async fn apply(&self, batch: Batch) -> Result<Response> {
        let now = now_secs();
        let Some(outcome) = self.with_core(|c| c.apply(&batch, now)) else {
            return super::error_reply(503, "counter shard not loaded");
        };
        let uncommitted = self.with_core(|c| c.has_uncommitted()).unwrap_or(false);
        // The generation this answer depends on: a duplicate may be of a batch
        // applied in the current, not yet stored generation.
        let gen = if uncommitted {
            if self.pending.get() <= self.committed.get() {
                self.pending.set(self.committed.get() + 1);
            }
            self.pending.get()
        } else {
            self.committed.get()
        };
        if self.committed.get() < gen {
            Delay::from(Duration::from_millis(COMMIT_WINDOW_MS)).await;
            if self.committed.get() < gen {
                self.commit(now_secs());
            }
        }
        if self.lost.borrow().contains(&gen) {
            return super::error_reply(
                503,
                "counter shard: storing the batch failed; send it again",
            );
        }
        self.ensure_alarm().await;
        let outcome = match outcome {
            ApplyOutcome::Applied => "applied",
            ApplyOutcome::Duplicate => "duplicate",
        };
        super::json_reply(200, &json!({ "outcome": outcome, "seq": batch.seq }))
    }

    /// Stores what changed since the last commit, in one transaction. On
    /// failure the in-memory state is dropped (reloaded from storage on the
    /// next request) and the generation's batches are answered 503.
    fn commit(&self, now: u64) -> bool {
        let settings = self.settings();
        let gen = self.pending.get().max(self.committed.get());
        let Some(commit) = self.with_core(|c| c.take_commit(now, &settings)).flatten() else {
            self.committed.set(gen);
            return true;
        };
        let ok = match self.store(commit) {
            Ok(()) => true,
            Err(e) => {
                console_error!("edgeseg: counter shard commit failed, reloading: {e:?}");
                self.lost.borrow_mut().insert(gen);
                *self.core.borrow_mut() = None;
                false
            }
        };
        self.committed.set(gen);
        ok
    }

    fn store(&self, commit: ShardCommit) -> std::result::Result<(), JsValue> {
        let storage = self.state.storage();
        let sql = storage.sql();
        let write = move || -> std::result::Result<(), JsValue> {
            let err = |e: worker::Error| JsValue::from_str(&e.to_string());
            for (hour, counts) in commit.upserts {
                sql.exec(
                    "INSERT OR REPLACE INTO hours (hour, counts) VALUES (?, ?)",
                    vec![SqlStorageValue::Integer(hour as i64), counts.into()],
                )
                .map_err(err)?;
            }
            for hour in commit.deletes {
                sql.exec(
                    "DELETE FROM hours WHERE hour = ?",
                    vec![SqlStorageValue::Integer(hour as i64)],
                )
                .map_err(err)?;
            }
            sql.exec(
                "INSERT OR REPLACE INTO meta (id, doc) VALUES (1, ?)",
                vec![commit.meta.into()],
            )
            .map_err(err)?;
            Ok(())
        };
        // `storage.transactionSync(fn)`: one SQLite transaction, rolled back if
        // `fn` throws (workers-rs 0.8 has no binding for it).
        let raw: &JsValue = storage.as_raw().as_ref();
        let tx: js_sys::Function =
            js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))?.dyn_into()?;
        tx.call1(raw, &Closure::once_into_js(write)).map(|_| ())
    }

    async fn ensure_alarm(&self) {
        if self.alarm_known.get() {
            return;
        }
        let storage = self.state.storage();
        match storage.get_alarm().await {
            Ok(Some(_)) => self.alarm_known.set(true),
            Ok(None) => {
                let now = now_secs();
                let settings = self.settings();
                if let Some(at) = self
                    .with_core(|c| c.next_publish_at(now, &settings))
                    .flatten()
                {
                    let offset_ms = (at.saturating_sub(now) * 1000).max(1) as i64;
                    match storage.set_alarm(offset_ms).await {
                        Ok(()) => self.alarm_known.set(true),
                        Err(e) => {
                            console_error!("edgeseg: counter shard: setting the alarm failed: {e}")
                        }
                    }
                }
            }
            Err(e) => console_error!("edgeseg: counter shard: reading the alarm failed: {e}"),
        }
    }

    /// One publishing round (one at a time per object, so two writes of the
    /// same day never race): commit, plan, write each changed day, record
    /// what was written, commit again, set the next alarm.
    async fn publish(&self, force: bool) -> serde_json::Value {
        while self.publishing.get() {
            Delay::from(Duration::from_millis(50)).await;
        }
        self.publishing.set(true);
        let settings = self.settings();
        let now = now_secs();
        self.commit(now);
        let writes = self
            .with_core(|c| c.plan_publish(now, &settings, force))
            .unwrap_or_default();
        let mut written = 0;
        let mut failed = Vec::new();
        match self.env.kv(super::KV_BINDING) {
            Ok(kv) => {
                for w in &writes {
                    let put = match kv.put(&w.key, &w.value) {
                        Ok(p) => p.expiration_ttl(w.ttl_secs).execute().await,
                        Err(e) => Err(e),
                    };
                    match put {
                        Ok(()) => {
                            written += 1;
                            self.with_core(|c| c.published(w.day, w.version));
                        }
                        Err(e) => {
                            failed.push(format!("{}: {e}", w.key));
                            self.with_core(|c| c.publish_failed());
                        }
                    }
                }
            }
            Err(e) => failed.push(format!("no {} binding: {e}", super::KV_BINDING)),
        }
        for f in &failed {
            console_error!("edgeseg: counter shard publish: {f}");
        }
        self.commit(now_secs());
        self.publishing.set(false);
        let next = self
            .with_core(|c| c.next_publish_at(now_secs(), &settings))
            .flatten();
        if let Some(at) = next {
            let offset_ms = (at.saturating_sub(now_secs()) * 1000).max(1000) as i64;
            match self.state.storage().set_alarm(offset_ms).await {
                Ok(()) => self.alarm_known.set(true),
                Err(e) => console_error!("edgeseg: counter shard: setting the alarm failed: {e}"),
            }
        }
        let stats = self.with_core(|c| c.stats().clone()).unwrap_or_default();
        json!({
            "written": written,
            "failed": failed,
            "unpublished_days": self.with_core(|c| c.unpublished_days().len()).unwrap_or(0),
            "stats": stats,
        })
    }
}
