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
use std::time::Duration;

use serde_json::{json, Value};

use crate::args::Erase;

/// Longest one call may take (the Worker answers well within its own limits).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
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
    let url = format!("{base}/__edgeseg/admin/api/export/erase");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .new_agent();
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
        let answer = post(&agent, &url, &e.token, &body)?;
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

fn post(agent: &ureq::Agent, url: &str, token: &str, body: &Value) -> Result<Value, String> {
    let mut response = agent
        .post(url)
        .header("authorization", format!("Bearer {token}"))
        .content_type("application/json")
        .send(body.to_string())
        .map_err(|e| format!("cannot reach the Worker at {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("reading the Worker's answer from {url}: {e}"))?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 {
        let why = value
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| text.chars().take(300).collect(), str::to_string);
        let hint = match status {
            401 | 403 => " (check --token: an admin token, or a publisher's)",
            404 => " (is this an edgeseg Worker of this version?)",
            _ => "",
        };
        return Err(format!("the Worker answered {status}: {why}{hint}"));
    }
    if !value.is_object() {
        return Err(format!("the Worker's answer is not JSON: {text:.200}"));
    }
    Ok(value)
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
