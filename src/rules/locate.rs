//! Finds where a JSON path (`segments[2].condition["query.page"].$gte`) sits in
//! the source text, so an error can point at a line and column. Best effort: the
//! text is valid JSON (it parsed); when a step is not found, there is no place.

/// A place in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Where the value at `path` is, and its key when the last step is a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub key: Option<Place>,
    pub value: Place,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Finds `path` (as [`crate::RuleError`] writes it; empty for the document) in `text`.
pub fn locate(text: &str, path: &str) -> Option<Found> {
    let steps = parse_path(path)?;
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    let mut key_at = None;
    for step in &steps {
        let (k, v) = match step {
            Step::Key(key) => find_key(text, at, key)?,
            Step::Index(i) => (usize::MAX, find_index(bytes, at, *i)?),
        };
        key_at = (k != usize::MAX).then_some(k);
        at = v;
    }
    if at >= bytes.len() {
        return None;
    }
    Some(Found {
        key: key_at.map(|k| place(text, k)),
        value: place(text, at),
    })
}

/// The byte range of the value at `path` in `text`, so a tool can replace
/// one value and leave every other byte of a marketer's document as it was
/// (`edgeseg retrain` swaps a model this way: the revision's diff is the model).
pub fn value_span(text: &str, path: &str) -> Option<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    for step in &parse_path(path)? {
        at = match step {
            Step::Key(key) => find_key(text, at, key)?.1,
            Step::Index(i) => find_index(bytes, at, *i)?,
        };
    }
    Some(at..value_end(bytes, at)?)
}

/// The line and column of a byte offset.
pub fn place(text: &str, offset: usize) -> Place {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Place {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let b = path.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'-';
    while i < b.len() {
        match b[i] {
            b'[' if b.get(i + 1) == Some(&b'"') => {
                let end = string_end(b, i + 1)?;
                let key: String = serde_json::from_str(&path[i + 1..end]).ok()?;
                if b.get(end) != Some(&b']') {
                    return None;
                }
                steps.push(Step::Key(key));
                i = end + 1;
            }
            b'[' => {
                let close = i + path[i..].find(']')?;
                steps.push(Step::Index(path[i + 1..close].parse().ok()?));
                i = close + 1;
            }
            b'.' if !steps.is_empty() => i += 1,
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                steps.push(Step::Key(path[start..i].to_string()));
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; returns the offset just past the closing one.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// `i` is at the start of a value; returns the offset just past it.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        open @ (b'{' | b'[') => {
            let close = if open == b'{' { b'}' } else { b']' };
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            loop {
                if open == b'{' {
                    j = skip_ws(b, string_end(b, j)?);
                    j = skip_ws(b, j + 1); // past ':'
                }
                j = skip_ws(b, value_end(b, j)?);
                match *b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    c if c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// In the object at `i`, the offsets of `key` and of its value.
fn find_key(text: &str, i: usize, key: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    while b.get(j) == Some(&b'"') {
        let end = string_end(b, j)?;
        let name: String = serde_json::from_str(&text[j..end]).ok()?;
        let colon = skip_ws(b, end);
        let value = skip_ws(b, colon + 1);
        if name == key {
            return Some((j, value));
        }
        j = skip_ws(b, value_end(b, value)?);
        if b.get(j) != Some(&b',') {
            return None;
        }
        j = skip_ws(b, j + 1);
    }
    None
}

/// In the array at `i`, the offset of element `index`.
fn find_index(b: &[u8], i: usize, index: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    for _ in 0..index {
        j = skip_ws(b, value_end(b, j)?);
        if b.get(j) != Some(&b',') {
            return None;
        }
        j = skip_ws(b, j + 1);
    }
    (b.get(j) != Some(&b']')).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "segments": [
    {"id": "a", "priority": 1},
    {
      "id": "b",
      "priority": "three"
    }
  ],
  "blocks": {"hero \"main\"": {"content": {"vip buyers": {"inner_html": 5}}}},
  "signals": {"views.10m": {"within": 10}}
}"#;

    fn at(path: &str) -> Option<(usize, usize)> {
        locate(DOC, path).map(|f| (f.value.line, f.value.column))
    }

    #[test]
    fn finds_keys_and_indexes() {
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("segments[1].priority"), Some((6, 19)));
        assert_eq!(
            locate(DOC, "segments[1].priority").unwrap().key,
            Some(Place { line: 6, column: 7 })
        );
        assert_eq!(at("segments[0].priority"), Some((3, 29)));
        assert_eq!(at("segments[1]"), Some((4, 5)));
        assert_eq!(
            at(r#"blocks["hero \"main\""].content["vip buyers"].inner_html"#),
            Some((9, 73))
        );
        assert_eq!(at(r#"signals["views.10m"].within"#), Some((10, 39)));
    }

    #[test]
    fn value_spans_cover_exactly_the_value() {
        let span = |p: &str| value_span(DOC, p).map(|r| &DOC[r]);
        assert_eq!(span("segments[1].priority"), Some("\"three\""));
        assert_eq!(
            span("segments[1]"),
            Some("{\n      \"id\": \"b\",\n      \"priority\": \"three\"\n    }")
        );
        assert_eq!(span(r#"signals["views.10m"]"#), Some(r#"{"within": 10}"#));
        assert_eq!(span(r#"signals["views.10m"].within"#), Some("10"));
        assert_eq!(span("signals.nope"), None);
    }

    #[test]
    fn missing_steps_have_no_place() {
        assert_eq!(at("segments[2]"), None);
        assert_eq!(at("segments[0].nope"), None);
        assert_eq!(at("settings"), None);
    }
}
