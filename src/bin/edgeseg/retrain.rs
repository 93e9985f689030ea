//! `edgeseg retrain`: the Worker's rules in force and recent export, through
//! the admin API, into `edgeseg::learn::retrain`, and a draft back when a
//! retrained model is better. Nothing is saved unless every call to the
//! Worker before the draft succeeded: a refused token or a Worker that is
//! down ends the run with exit 1 before anything is written there.

use std::path::{Path, PathBuf};

use edgeseg::learn::retrain::{self, Planned, Retrained};
use edgeseg::rules::{review, CompiledRules};
use serde_json::{json, Value};

use crate::admin_api::{query_value, AdminApi, ApiError};
use crate::args::Retrain;

/// What to print, and whether the run failed (exit 1) after printing it.
pub struct Output {
    pub stdout: String,
    pub failed: bool,
}

/// The pulled folder: removed at the end unless it was `--keep`.
struct Folder {
    path: PathBuf,
    remove: bool,
}

impl Drop for Folder {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What was pulled.
struct Pulled {
    objects: usize,
    fetched: usize,
    bytes: u64,
    from_day: String,
    to_day: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn run(r: &Retrain) -> Result<Output, String> {
    let api = AdminApi::new(&r.worker, &r.token);
    let live = api.get_json("rules").map_err(|e| e.to_string())?;
    let text = live["text"]
        .as_str()
        .ok_or("GET rules: the answer has no rules text; is --worker an edgeseg Worker?")?;
    let revision = live["revision"].as_u64().unwrap_or(0);
    let rules = CompiledRules::from_json(text).map_err(|errors| {
        format!(
            "the rules in force (revision {revision}) do not compile with this edgeseg (is it older than the Worker?): {}",
            errors.0.first().map_or_else(String::new, ToString::to_string)
        )
    })?;
    let planned = retrain::plan(&rules.document);
    let jobs: Vec<&retrain::Job> = planned
        .iter()
        .filter_map(|p| match p {
            Planned::Job(j) => Some(j),
            _ => None,
        })
        .collect();
    let mut text_out = format!(
        "edgeseg retrain: {} revision {revision} (\"{}\")\n",
        api.base,
        rules.version()
    );
    let mut failures: Vec<String> = Vec::new();
    let mut skipped_json = Vec::new();
    let mut refused_json = Vec::new();
    for p in &planned {
        match p {
            Planned::Skipped { name, why } => {
                text_out.push_str(&format!("Skipped {name}: {why}.\n"));
                skipped_json.push(json!({"name": name, "why": why}));
            }
            Planned::Refused { name, path, why } => {
                let line = format!("{name} is not retrained: {path}: {why}");
                text_out.push_str(&format!("Refused: {line}.\n"));
                failures.push(line);
                refused_json.push(json!({"name": name, "path": path, "why": why}));
            }
            Planned::Job(_) => {}
        }
    }
    if jobs.is_empty() {
        let mut e = if planned.is_empty() {
            format!("the rules in force (revision {revision}) have no logistic, trees or cluster signal to retrain")
        } else {
            format!(
                "no model signal of the rules in force (revision {revision}) can be retrained:\n"
            )
        };
        for p in &planned {
            match p {
                Planned::Skipped { name, why } => e.push_str(&format!("  {name}: {why}\n")),
                Planned::Refused { name, path, why } => {
                    e.push_str(&format!("  {name}: {path}: {why}\n"));
                }
                Planned::Job(_) => {}
            }
        }
        return Err(e.trim_end().to_string());
    }

    let at = now();
    let folder = match &r.keep {
        Some(dir) => Folder {
            path: PathBuf::from(dir),
            remove: false,
        },
        None => Folder {
            path: std::env::temp_dir().join(format!("edgeseg-retrain-{}-{at}", std::process::id())),
            remove: true,
        },
    };
    let pulled = pull(&api, &folder.path, at, r.days, r.json).map_err(|e| e.to_string())?;
    if pulled.objects == 0 {
        return Err(format!(
            "the export has no objects from {} to {} (the last {} days): is settings.export.enabled on in the rules, \
             and an R2 bucket bound as EDGESEG_R2? Or pass a longer --days",
            pulled.from_day, pulled.to_day, r.days
        ));
    }
    let cap = jobs.iter().map(|j| j.sample).max().unwrap_or(1);
    let dir = folder.path.display().to_string();
    let (counts, sample) = crate::train::read_sample(&dir, cap, r.json)?;
    let skipped = counts.skipped_text();
    text_out.push_str(&format!(
        "Export {} to {}: {} objects ({} new, {} bytes), {} records read, {} moments of {} visitors sampled{}.\n\n",
        pulled.from_day,
        pulled.to_day,
        pulled.objects,
        pulled.fetched,
        pulled.bytes,
        counts.records,
        sample.moments.len(),
        sample.visitors.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped: {skipped}")
        }
    ));
    let mut done: Vec<Retrained> = Vec::new();
    let mut failed_json = Vec::new();
    let trained_at = retrain::rfc3339(at);
    for job in &jobs {
        match retrain::retrain(job, &sample, &rules, r.margin, &trained_at) {
            Ok(d) => {
                text_out.push_str(&d.report());
                text_out.push('\n');
                done.push(d);
            }
            Err(e) => {
                let line = format!("{} is not retrained: {e}", job.name);
                text_out.push_str(&format!("{line}.\n\n"));
                failed_json.push(json!({"name": job.name, "why": e.to_string()}));
                failures.push(line);
            }
        }
    }

    let better: Vec<&Retrained> = done.iter().filter(|d| d.better).collect();
    let export_span = (sample.facts.first_ts, sample.facts.last_ts);
    let message = retrain::message(&done, counts.records, export_span);
    let mut draft = Value::Null;
    if better.is_empty() {
        text_out.push_str(&format!(
            "No draft: no retrained model is better than the one in force by the margin ({}).\n",
            r.margin
        ));
    } else if r.dry_run {
        text_out.push_str(&format!(
            "--dry-run: no draft saved. Its message would be:\n  {message}\n"
        ));
    } else {
        let swaps: Vec<(&str, &Value)> = better
            .iter()
            .map(|d| (d.name.as_str(), &d.signal))
            .collect();
        let new_text = retrain::draft_text(text, &swaps)?;
        // Checked here as the Worker will check it, so a draft it would
        // refuse is reported with its paths instead of a 422.
        if let Err(errors) = review::for_save(&new_text, None) {
            let list: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            return Err(format!(
                "the draft with the retrained models does not validate (nothing saved): {}",
                list.join("; ")
            ));
        }
        let body = json!({"text": new_text, "message": message, "base_revision": revision});
        let (status, answer) = api
            .post_json("rules/drafts", &body)
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!(
                "POST rules/drafts: the Worker answered {status} (nothing saved): {}",
                answer
                    .get("error")
                    .and_then(Value::as_str)
                    .map_or_else(|| answer.to_string(), str::to_string)
            ));
        }
        let n = answer["draft"].as_u64().unwrap_or(0);
        text_out.push_str(&format!(
            "Draft {n} saved from revision {revision}, with the message:\n  {message}\n\
             Nothing is live yet: a publisher previews and publishes it (admin page: Versions; or POST rules/publish {{\"draft\": {n}}}).\n"
        ));
        draft = json!({"draft": n, "message": message, "base_revision": revision});
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    let stdout = if r.json {
        let v = json!({
            "worker": api.base,
            "revision": revision,
            "export": {
                "from": pulled.from_day,
                "to": pulled.to_day,
                "objects": pulled.objects,
                "fetched": pulled.fetched,
                "bytes": pulled.bytes,
                "files": counts.files,
                "records_read": counts.records,
                "unreadable_files": counts.unreadable_files,
                "bad_lines": counts.bad_lines,
                "other_version": counts.other_version,
                "skipped": skipped,
                "moments": sample.moments.len(),
                "visitors": sample.visitors.len(),
            },
            "models": done.iter().map(Retrained::to_json).collect::<Vec<_>>(),
            "skipped": skipped_json,
            "refused": refused_json,
            "failed": failed_json,
            "margin": r.margin,
            "dry_run": r.dry_run,
            "draft": draft,
            "report": text_out,
        });
        let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
        s.push('\n');
        s
    } else {
        text_out
    };
    Ok(Output {
        stdout,
        failed: !failures.is_empty(),
    })
}

/// `events/YYYY/MM/DD/` of the day holding `ts`.
fn day_prefix(ts: u64) -> String {
    let (y, m, d, ..) = edgeseg::duration::utc_parts(ts);
    format!("events/{y:04}/{m:02}/{d:02}/")
}

/// Copies the export's objects of the last `days` days (one listing per
/// day) into `dir`, keeping their keys; an object already there with the
/// same size is not fetched again.
fn pull(api: &AdminApi, dir: &Path, now: u64, days: u64, quiet: bool) -> Result<Pulled, ApiError> {
    let first = now.saturating_sub(days * 86_400);
    let mut pulled = Pulled {
        objects: 0,
        fetched: 0,
        bytes: 0,
        from_day: day_prefix(first)["events/".len()..]
            .trim_end_matches('/')
            .replace('/', "-"),
        to_day: day_prefix(now)["events/".len()..]
            .trim_end_matches('/')
            .replace('/', "-"),
    };
    let malformed = |why: &str| ApiError::Malformed {
        what: "GET export".into(),
        why: why.into(),
    };
    let mut listed = std::collections::HashSet::new();
    for d in 0..=days {
        let prefix = day_prefix(first + d * 86_400);
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("export?prefix={}", query_value(&prefix));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", query_value(c)));
            }
            let page = api.get_json(&path)?;
            let objects = page["objects"]
                .as_array()
                .ok_or_else(|| malformed("no list of objects"))?;
            for o in objects {
                let key = o["key"]
                    .as_str()
                    .ok_or_else(|| malformed("an object without a key"))?;
                // Keys become local paths: only plain names under events/.
                let parts: Vec<&str> = key.split('/').collect();
                if parts[0] != "events"
                    || parts
                        .iter()
                        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
                {
                    return Err(malformed(&format!(
                        "an object key that is not a plain export key: {key:?}"
                    )));
                }
                let file = parts.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
                listed.insert(file.clone());
                pulled.objects += 1;
                let size = o["size"].as_f64().map(|s| s as u64);
                let have = std::fs::metadata(&file).ok().map(|m| m.len());
                if have.is_some() && have == size {
                    continue;
                }
                match api.get_to_file(&format!("export/object?key={}", query_value(key)), &file) {
                    Ok(n) => {
                        pulled.fetched += 1;
                        pulled.bytes += n;
                    }
                    // Gone between the listing and the fetch (an erasure
                    // rewrites objects): nothing to read, not a failure.
                    Err(ApiError::Failed { status: 404, .. }) => pulled.objects -= 1,
                    Err(e) => return Err(e),
                }
            }
            cursor = page["cursor"]
                .as_str()
                .filter(|_| page["truncated"].as_bool() == Some(true))
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
    }
    // A kept folder holds exactly the window's objects as R2 has them now:
    // older days, and objects R2 no longer has (an erasure rewrote them),
    // are not trained on.
    let removed = prune(&dir.join("events"), &listed);
    if !quiet {
        if removed > 0 {
            eprintln!("edgeseg retrain: removed {removed} files from {} that are outside the window or no longer in R2", dir.display());
        }
        eprintln!(
            "edgeseg retrain: {} export objects from {} to {}, {} fetched ({} bytes)",
            pulled.objects, pulled.from_day, pulled.to_day, pulled.fetched, pulled.bytes
        );
    }
    Ok(pulled)
}

/// Removes the export files (`*.ndjson.gz`, `*.ndjson`) under `dir` that
/// are not in `keep`; how many. Nothing else in the folder is touched.
fn prune(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            removed += prune(&path, keep);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".ndjson.gz") || n.ends_with(".ndjson"))
            && !keep.contains(&path)
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
