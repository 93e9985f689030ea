//! Erasure of one visitor from the export (GDPR Article 17, README "What is
//! stored, where, for how long").
//!
//! Erasure rewrites the export's objects: every line that carries the
//! visitor's id is taken out of the object's NDJSON, and the object is put
//! back under its own key without them (or deleted, when nothing is left).
//! R2 keeps no older versions of an object, so after the rewrite the records
//! are gone, not hidden: a list of erased ids applied by readers (a
//! tombstone list) would leave the data in the bucket, and in every copy
//! pulled from it, and would itself be a list of the people who asked.
//!
//! A line is taken out when it contains the id anywhere (its `visitor`
//! field, or a property the site filled with `edgeseg.visitorId`), in lower
//! or upper case: the test of erasure is that the id is nowhere in the
//! bucket afterwards, and a random 128-bit id never appears in another
//! visitor's record by chance. A line that is not valid JSON is judged the
//! same way, by its text.
//!
//! The Worker ([`crate::edge`]'s `export` module) walks the bucket a bounded
//! number of objects per call ([`DEFAULT_OBJECTS_PER_CALL`]) and hands back a
//! cursor; here is only the pure part: checking the id, the rewrite of one
//! object's text, and the reference the audit log keeps instead of the id.

use sha2::{Digest, Sha256};

/// Objects one erase call reads unless it asks for another number.
pub const DEFAULT_OBJECTS_PER_CALL: u32 = 20;
/// Most objects one erase call may read: each is a read and a write, and a
/// Worker invocation may make 1,000 calls to R2.
pub const MAX_OBJECTS_PER_CALL: u32 = 200;

/// Why an erase request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EraseError {
    #[error("visitor: send the 32 hex digits of the visitor id (edgeseg.visitorId on the page, `visitor` in the export), got {0:?}")]
    BadVisitor(String),
    #[error("limit: objects per call must be 1 to {MAX_OBJECTS_PER_CALL}, got {0}")]
    BadLimit(u64),
    #[error("prefix: the export's keys start with events/, got {0:?}")]
    BadPrefix(String),
}

/// The visitor id in the form records carry it (32 lowercase hex digits).
pub fn visitor_id(text: &str) -> Result<String, EraseError> {
    let t = text.trim();
    if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(EraseError::BadVisitor(text.chars().take(64).collect()))
    }
}

/// Objects per call, checked (see [`MAX_OBJECTS_PER_CALL`]).
pub fn objects_per_call(limit: Option<u64>) -> Result<u32, EraseError> {
    match limit {
        None => Ok(DEFAULT_OBJECTS_PER_CALL),
        Some(n) if (1..=u64::from(MAX_OBJECTS_PER_CALL)).contains(&n) => Ok(n as u32),
        Some(n) => Err(EraseError::BadLimit(n)),
    }
}

/// The prefix to walk: `events/` unless the caller narrows it (to a year,
/// a month, a day of the export).
pub fn prefix(asked: Option<&str>) -> Result<String, EraseError> {
    match asked {
        None | Some("") => Ok(super::batch::PREFIX.to_string()),
        Some(p) if p.starts_with(super::batch::PREFIX) && !p.contains("..") => Ok(p.to_string()),
        Some(p) => Err(EraseError::BadPrefix(p.chars().take(200).collect())),
    }
}

/// What erasing one visitor did to one object's NDJSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The object's NDJSON without the visitor's lines (each line still
    /// ends with `\n`); empty when no line is left.
    pub kept: Vec<u8>,
    /// Lines taken out.
    pub removed: usize,
    /// Lines kept.
    pub left: usize,
}

/// Whether the object's text mentions the visitor at all (the Worker
/// rewrites only objects that do).
pub fn mentions(ndjson: &[u8], visitor: &str) -> bool {
    let upper = visitor.to_ascii_uppercase();
    contains(ndjson, visitor.as_bytes()) || contains(ndjson, upper.as_bytes())
}

/// The object's NDJSON without the lines that carry `visitor` (the id as
/// [`visitor_id`] gives it). Blank lines are dropped; the rest keep their
/// order and bytes.
pub fn rewrite(ndjson: &[u8], visitor: &str) -> Rewrite {
    let upper = visitor.to_ascii_uppercase();
    let mut out = Rewrite {
        kept: Vec::with_capacity(ndjson.len()),
        removed: 0,
        left: 0,
    };
    for line in ndjson.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if contains(line, visitor.as_bytes()) || contains(line, upper.as_bytes()) {
            out.removed += 1;
        } else {
            out.left += 1;
            out.kept.extend_from_slice(line);
            out.kept.push(b'\n');
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the audit log keeps of an erased id: the first 16 hex digits of its
/// SHA-256. Enough to answer "was this id erased, and when?" for someone who
/// has the id; the log itself does not hand out the ids of those who asked.
pub fn audit_ref(visitor: &str) -> String {
    let digest = Sha256::digest(visitor.as_bytes());
    crate::state::hex(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff";
    const B: &str = "ffeeddccbbaa99887766554433221100";

    fn line(visitor: &str, n: u32) -> String {
        format!(r#"{{"v":1,"id":"{n:032x}","ts":{n},"visitor":"{visitor}","props":{{}}}}"#)
    }

    #[test]
    fn only_the_visitors_lines_go() {
        let text = [line(A, 1), line(B, 2), line(A, 3), line(B, 4)].join("\n") + "\n";
        assert!(mentions(text.as_bytes(), A));
        let r = rewrite(text.as_bytes(), A);
        assert_eq!((r.removed, r.left), (2, 2));
        assert_eq!(
            String::from_utf8(r.kept).unwrap(),
            format!("{}\n{}\n", line(B, 2), line(B, 4))
        );
        // Nothing of A's left: the object is deleted rather than rewritten.
        let only_a = format!("{}\n{}\n", line(A, 1), line(A, 2));
        let r = rewrite(only_a.as_bytes(), A);
        assert_eq!((r.removed, r.left, r.kept.len()), (2, 0, 0));
        // An object without A is not touched.
        let only_b = format!("{}\n", line(B, 9));
        assert!(!mentions(only_b.as_bytes(), A));
        assert_eq!(rewrite(only_b.as_bytes(), A).kept, only_b.as_bytes());
    }

    #[test]
    fn the_id_anywhere_in_a_line_and_in_any_case_takes_it_out() {
        let in_prop = format!(
            r#"{{"visitor":"{B}","props":{{"ref":"{}"}}}}"#,
            A.to_ascii_uppercase()
        );
        let broken = format!("{{\"visitor\":\"{A}\",\"trunc");
        let text = format!("{in_prop}\n{broken}\n\n{}\n", line(B, 1));
        let r = rewrite(text.as_bytes(), A);
        assert_eq!((r.removed, r.left), (2, 1));
        assert!(!mentions(&r.kept, A));
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(
            visitor_id(&format!(" {} ", A.to_ascii_uppercase())),
            Ok(A.into())
        );
        for bad in [
            "",
            "0011",
            &format!("{A}0"),
            "g0112233445566778899aabbccddeeff",
        ] {
            assert!(
                matches!(visitor_id(bad), Err(EraseError::BadVisitor(_))),
                "{bad}"
            );
        }
        assert_eq!(objects_per_call(None), Ok(DEFAULT_OBJECTS_PER_CALL));
        assert_eq!(objects_per_call(Some(200)), Ok(200));
        assert_eq!(objects_per_call(Some(0)), Err(EraseError::BadLimit(0)));
        assert_eq!(objects_per_call(Some(201)), Err(EraseError::BadLimit(201)));
        assert_eq!(prefix(None).unwrap(), "events/");
        assert_eq!(prefix(Some("events/2026/12/")).unwrap(), "events/2026/12/");
        assert!(prefix(Some("rules")).is_err());
        assert!(prefix(Some("events/../rules")).is_err());
        assert!(EraseError::BadVisitor("x".into())
            .to_string()
            .contains("edgeseg.visitorId"));
    }

    #[test]
    fn the_audit_keeps_a_reference_not_the_id() {
        let r = audit_ref(A);
        assert_eq!(r.len(), 16);
        assert!(!A.contains(&r));
        assert_eq!(r, audit_ref(A));
        assert_ne!(r, audit_ref(B));
    }
}
