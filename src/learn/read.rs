//! Reading an export folder: every `*.ndjson.gz` (and plain `*.ndjson`) file
//! below it, in path order, one record per line.
//!
//! Duplicate ids are dropped (the export is at-least-once: a retried batch may
//! be written twice). A line that is not a schema-v1 record is counted and
//! skipped, never fatal: one bad line must not lose a month of data.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::record::{Record, SCHEMA_VERSION};
use super::LearnError;

/// What was read, and what was skipped.
#[derive(Debug, Default)]
pub struct Export {
    /// Unique records, sorted by time (then id, for a stable order).
    pub records: Vec<Record>,
    pub files: usize,
    pub lines: usize,
    pub duplicates: usize,
    /// Lines that were not a record (bad JSON, missing fields, other version).
    pub skipped: usize,
    /// The first skipped line: `file:line: why`.
    pub first_skip: Option<String>,
}

/// Reads every export file under `dir`.
pub fn read_dir(dir: &Path) -> Result<Export, LearnError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut out = Export::default();
    let mut seen = HashSet::new();
    for file in &files {
        let f = std::fs::File::open(file).map_err(|e| io(file, e))?;
        let reader: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
            Box::new(MultiGzDecoder::new(f))
        } else {
            Box::new(f)
        };
        out.files += 1;
        for (n, line) in BufReader::new(reader).lines().enumerate() {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    // A truncated gzip file: keep what came before.
                    out.skip(file, n + 1, &format!("unreadable ({e})"));
                    break;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            out.lines += 1;
            match serde_json::from_str::<Record>(&line) {
                Ok(r) if r.v != SCHEMA_VERSION => out.skip(
                    file,
                    n + 1,
                    &format!("schema version {} (this reader knows 1)", r.v),
                ),
                Ok(r) => {
                    if seen.insert(r.id.clone()) {
                        out.records.push(r);
                    } else {
                        out.duplicates += 1;
                    }
                }
                Err(e) => out.skip(file, n + 1, &e.to_string()),
            }
        }
    }
    if out.records.is_empty() {
        return Err(LearnError::NoRecords {
            path: dir.display().to_string(),
        });
    }
    out.records
        .sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

impl Export {
    fn skip(&mut self, file: &Path, line: usize, why: &str) {
        self.skipped += 1;
        if self.first_skip.is_none() {
            self.first_skip = Some(format!("{}:{line}: {why}", file.display()));
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> LearnError {
    LearnError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LearnError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".ndjson.gz") || name.ends_with(".ndjson") {
                out.push(path);
            }
        }
    }
    Ok(())
}
