//! `edgeseg export erase --worker URL --token TOKEN VISITOR`: erases one
//! visitor id from the export in R2 through the Worker's admin API
//! (`POST api/export/erase`, README "Erasure").
//!
//! The Worker reads a bounded number of objects per call and answers with a
//! cursor; this command calls again with it until the Worker says `done`,
//! printing a line per call (a long export takes many), so the caller sees
//! progress and a failure names the call it stopped at. Each call that
//! removed records is in the audit log.

use std::io::Write;

use serde_json::{json, Value};

use crate::admin_api::{AdminApi, ApiError};
use crate::args::Erase;

/// Calls before giving up on an export that keeps changing under the walk.
const MAX_CALLS: usize = 100_000;

/// Runs the erasure; the summary to print, or why it failed (exit 1).
pub fn erase(e: &Erase) -> Result<String, String> {
    edgeseg::export::erase::visitor_id(&e.visitor).map_err(|err| err.to_string())?;
    let base = e.worker.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(format!(
            "--worker: give the Worker's URL, like https://shop.example, got {:?}",
            e.worker
        ));
    }
    let api = AdminApi::new(base, &e.token);
    let mut cursor: Option<String> = None;
    let mut total = Totals::default();
    let mut err = std::io::stderr().lock();
    for call in 1..=MAX_CALLS {
        let mut body = json!({ "visitor": e.visitor.trim() });
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        if let Some(p) = &e.prefix {
            body["prefix"] = json!(p);
        }
        if let Some(n) = e.limit {
            body["limit"] = json!(n);
        }
        let answer = post(&api, &body)?;
        total.add(&answer);
        if !e.json {
            let _ = writeln!(
                err,
                "call {call}: {} objects read, {} records removed ({} so far)",
                num(&answer, "objects_scanned"),
                num(&answer, "records_removed"),
                total.records,
            );
        }
        if answer.get("done").and_then(Value::as_bool) == Some(true) {
            total.calls = call;
            total.reference = answer
                .get("visitor_ref")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            return Ok(total.report(e));
        }
        cursor = answer
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    Err(format!(
        "the Worker was not done after {MAX_CALLS} calls; run the command again"
    ))
}

/// One erase call through the CLI's one admin client; a 404 hints at an
/// older Worker, since the route is new.
fn post(api: &AdminApi, body: &Value) -> Result<Value, String> {
    match api.post_json("export/erase", body) {
        Ok((200, v)) if v.is_object() => Ok(v),
        Ok((status, v)) => {
            let why = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            let hint = if status == 404 {
                " (is this an edgeseg Worker of this version?)"
            } else {
                ""
            };
            Err(format!("the Worker answered {status}: {why}{hint}"))
        }
        Err(ApiError::Failed {
            status: 404,
            message,
            ..
        }) => Err(format!(
            "the Worker answered 404: {message} (is this an edgeseg Worker of this version?)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[derive(Default)]
struct Totals {
    calls: usize,
    objects: u64,
    rewritten: u64,
    deleted: u64,
    records: u64,
    inbox: u64,
    reference: String,
}

impl Totals {
    fn add(&mut self, answer: &Value) {
        self.objects += num(answer, "objects_scanned");
        self.rewritten += num(answer, "objects_rewritten");
        self.deleted += num(answer, "objects_deleted");
        self.records += num(answer, "records_removed");
        self.inbox += num(answer, "inbox_events_removed");
        if let Some(e) = answer.get("inbox_error").and_then(Value::as_str) {
            eprintln!("warning: the visitor's server events inbox was not cleared: {e}");
        }
    }

    fn report(&self, e: &Erase) -> String {
        if e.json {
            let v = json!({
                "visitor_ref": self.reference,
                "calls": self.calls,
                "objects_scanned": self.objects,
                "objects_rewritten": self.rewritten,
                "objects_deleted": self.deleted,
                "records_removed": self.records,
                "inbox_events_removed": self.inbox,
                "done": true,
            });
            return format!("{v}\n");
        }
        format!(
            "erased: {} records of visitor {} removed from the export ({} objects read, {} rewritten, {} deleted, {} calls), {} waiting server events dropped; the audit log has it as erase_export {}\n",
            self.records,
            e.visitor.trim(),
            self.objects,
            self.rewritten,
            self.deleted,
            self.calls,
            self.inbox,
            self.reference,
        )
    }
}
