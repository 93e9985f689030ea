//! Reading an export folder: every `*.ndjson.gz` (and plain `*.ndjson`) file
//! below it, in path order (the export's `events/YYYY/MM/DD/HH/` folders make
//! that time order), one record per line.
//!
//! [`stream`] hands each record to a callback and keeps nothing, so a folder
//! of any size is read in the memory of one line; [`read_dir`] collects every
//! record (for tests and small folders). Bad input is never fatal and is
//! counted by kind, because each asks a different thing of the reader:
//! * a file that cannot be opened or decompressed (a corrupt or truncated
//!   gzip) is an **unreadable file**; the lines it gave before the damage
//!   are kept;
//! * a line that is not a record (not JSON, a record cut off mid-line, a line
//!   longer than [`MAX_LINE`]) is a **bad line**;
//! * a record of another schema version is counted apart, since it is
//!   probably good data this reader is too old for.
//!
//! Duplicate ids (the export is at-least-once: a retried batch may be written
//! twice) are dropped by the collector, not here: [`read_dir`] by id, the
//! sampler within each sampled visitor.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::record::{Record, SCHEMA_VERSION};
use super::LearnError;

/// A line longer than this is not a record (a record is a few hundred bytes);
/// reading stops collecting it there, so a file without newlines cannot take
/// all memory.
pub const MAX_LINE: usize = 1 << 20;

/// What a read met, by kind.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Export files found (readable or not).
    pub files: usize,
    /// Files read so far (for a progress line).
    pub files_read: usize,
    /// Files that could not be opened or decompressed to their end.
    pub unreadable_files: usize,
    /// The first of them: `file: why`.
    pub first_unreadable: Option<String>,
    /// Non-empty lines.
    pub lines: usize,
    /// Schema-v1 records (duplicates included).
    pub records: usize,
    /// Lines that were not a record.
    pub bad_lines: usize,
    /// The first of them: `file:line: why`.
    pub first_bad_line: Option<String>,
    /// Records of a schema version this reader does not know.
    pub other_version: usize,
    pub first_other_version: Option<String>,
}

impl Counts {
    /// "2 unreadable files (the first: ...), 3 lines that are not records
    /// (the first at ...)": what was skipped, in words; empty when nothing was.
    pub fn skipped_text(&self) -> String {
        let mut parts = Vec::new();
        if self.unreadable_files > 0 {
            parts.push(format!(
                "{} unreadable {} (the first: {}; the lines before the damage were kept)",
                self.unreadable_files,
                plural(self.unreadable_files, "file", "files"),
                self.first_unreadable.as_deref().unwrap_or("?")
            ));
        }
        if self.bad_lines > 0 {
            parts.push(format!(
                "{} {} not a record, skipped (the first at {})",
                self.bad_lines,
                plural(self.bad_lines, "line", "lines"),
                self.first_bad_line.as_deref().unwrap_or("?")
            ));
        }
        if self.other_version > 0 {
            parts.push(format!(
                "{} {} of another schema version, skipped (the first at {}; a newer edgeseg reads them)",
                self.other_version,
                plural(self.other_version, "record", "records"),
                self.first_other_version.as_deref().unwrap_or("?")
            ));
        }
        parts.join("; ")
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Every record of the folder, collected.
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
    /// Everything the read met, by kind.
    pub counts: Counts,
}

/// Reads every export file under `dir` into memory.
pub fn read_dir(dir: &Path) -> Result<Export, LearnError> {
    let mut out = Export::default();
    let mut seen = HashSet::new();
    let counts = stream(
        dir,
        &mut |r| {
            if seen.insert(r.id.clone()) {
                out.records.push(r);
            } else {
                out.duplicates += 1;
            }
        },
        &mut |_| {},
    )?;
    if out.records.is_empty() {
        return Err(LearnError::NoRecords {
            path: dir.display().to_string(),
        });
    }
    out.records
        .sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
    out.files = counts.files;
    out.lines = counts.lines;
    out.skipped = counts.bad_lines + counts.other_version;
    out.first_skip = counts
        .first_bad_line
        .clone()
        .or_else(|| counts.first_other_version.clone());
    out.counts = counts;
    Ok(out)
}

/// Only the version, to tell a record of another version from a bad line.
#[derive(Deserialize)]
struct Versioned {
    v: u64,
}

/// Reads every export file under `dir` in path order, handing each schema-v1
/// record to `on_record`; `progress` is called after each file. Only a folder
/// that cannot be listed is an error.
pub fn stream(
    dir: &Path,
    on_record: &mut dyn FnMut(Record),
    progress: &mut dyn FnMut(&Counts),
) -> Result<Counts, LearnError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    let mut buf = Vec::new();
    for file in &files {
        read_file(file, &mut counts, &mut buf, on_record);
        counts.files_read += 1;
        progress(&counts);
    }
    Ok(counts)
}

fn read_file(
    file: &Path,
    counts: &mut Counts,
    buf: &mut Vec<u8>,
    on_record: &mut dyn FnMut(Record),
) {
    let unreadable = |counts: &mut Counts, why: String| {
        counts.unreadable_files += 1;
        if counts.first_unreadable.is_none() {
            counts.first_unreadable = Some(format!("{}: {why}", file.display()));
        }
    };
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => return unreadable(counts, e.to_string()),
    };
    let raw: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut reader = BufReader::with_capacity(64 * 1024, raw);
    let mut n = 0;
    loop {
        buf.clear();
        n += 1;
        let read = (&mut reader).take(MAX_LINE as u64).read_until(b'\n', buf);
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                // Corrupt or cut-off compressed data: nothing after it can be
                // trusted, the lines before were whole and are kept.
                return unreadable(counts, format!("{e} (at line {n})"));
            }
        }
        let complete = buf.last() == Some(&b'\n');
        if !complete && buf.len() >= MAX_LINE {
            // Too long: skip to the end of this line.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                {
                    Ok(0) => break,
                    Ok(_) if rest.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                    Err(e) => return unreadable(counts, format!("{e} (at line {n})")),
                }
            }
            counts.lines += 1;
            bad_line(counts, file, n, "longer than 1 MB, not a record".into());
            continue;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        counts.lines += 1;
        match serde_json::from_slice::<Record>(line) {
            Ok(r) if r.v == SCHEMA_VERSION => {
                counts.records += 1;
                on_record(r);
            }
            Ok(r) => other_version(counts, file, n, r.v),
            Err(e) => match serde_json::from_slice::<Versioned>(line) {
                Ok(v) if v.v != SCHEMA_VERSION => other_version(counts, file, n, v.v),
                _ if !complete => bad_line(counts, file, n, format!("cut off ({e})")),
                _ => bad_line(counts, file, n, e.to_string()),
            },
        }
    }
}

fn bad_line(counts: &mut Counts, file: &Path, line: usize, why: String) {
    counts.bad_lines += 1;
    if counts.first_bad_line.is_none() {
        counts.first_bad_line = Some(format!("{}:{line}: {why}", file.display()));
    }
}

fn other_version(counts: &mut Counts, file: &Path, line: usize, v: u64) {
    counts.other_version += 1;
    if counts.first_other_version.is_none() {
        counts.first_other_version = Some(format!(
            "{}:{line}: schema version {v} (this reader knows {SCHEMA_VERSION})",
            file.display()
        ));
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
