//! `{{attribute}}` placeholders in block content, rendered HTML-escaped.
//!
//! Content is written by marketers (trusted HTML), but values substituted into
//! it come from the request (a `utm_campaign` is whatever the link said), so
//! every substituted value is escaped for both text and attribute contexts.
//! Templates are parsed when the rules are compiled, not per request.

use serde_json::{Map, Value};

/// A parsed content string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Placeholder {
        /// Dotted attribute path, pre-split.
        path: Vec<String>,
        fallback: String,
    },
}

impl Template {
    /// Parses `text`. `{{ name }}`, `{{ query.ref }}` and `{{ name | fallback text }}`
    /// are placeholders; an unclosed `{{` is kept literally.
    pub fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            literal.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + 2 + len];
            let (name, fallback) = match inner.split_once('|') {
                Some((n, f)) => (n.trim(), f.trim()),
                None => (inner.trim(), ""),
            };
            if name.is_empty() {
                literal.push_str(&rest[start..start + 4 + len]);
            } else {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Placeholder {
                    path: name.split('.').map(str::to_string).collect(),
                    fallback: fallback.to_string(),
                });
            }
            rest = &rest[start + 4 + len..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Template { parts }
    }

    /// Attribute paths used by placeholders (dotted), for validation.
    pub fn placeholders(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder { path, .. } => Some(path.join(".")),
            Part::Literal(_) => None,
        })
    }

    /// Renders with values from `attributes`, escaped; a missing or null value
    /// renders the fallback (escaped too, though it is the marketer's text).
    pub fn render(&self, attributes: &Map<String, Value>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Placeholder { path, fallback } => match lookup(attributes, path) {
                    Some(Value::String(s)) => escape_html_into(s, &mut out),
                    Some(Value::Null) | None => escape_html_into(fallback, &mut out),
                    Some(Value::Array(items)) => {
                        let joined: Vec<String> = items.iter().map(value_text).collect();
                        escape_html_into(&joined.join(", "), &mut out)
                    }
                    Some(v) => escape_html_into(&value_text(v), &mut out),
                },
            }
        }
        out
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            // Whole floats print without ".0", like JavaScript.
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 && !n.is_i64() && !n.is_u64() => {
                    format!("{}", f as i64)
                }
                _ => n.to_string(),
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The value at a dotted attribute path (`query.ref`), given as its keys.
pub fn lookup<K: AsRef<str>>(
    attributes: &Map<String, Value>,
    path: impl IntoIterator<Item = K>,
) -> Option<&Value> {
    let mut keys = path.into_iter();
    let mut value = attributes.get(keys.next()?.as_ref())?;
    for key in keys {
        value = value.as_object()?.get(key.as_ref())?;
    }
    Some(value)
}

/// Escapes text for use in HTML text and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(text, &mut out);
    out
}

fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn substitutes_and_escapes_request_values() {
        let t = Template::parse("<h1>Welcome, {{ utm_campaign }} fans</h1>");
        let a = attrs(json!({"utm_campaign": "<script>alert('x')</script>&\""}));
        assert_eq!(
            t.render(&a),
            "<h1>Welcome, &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot; fans</h1>"
        );
    }

    #[test]
    fn fallbacks_paths_and_literals() {
        let t = Template::parse("Hi {{query.name|friend}}! {{count}} {{}} {{ unclosed");
        assert_eq!(
            t.render(&attrs(json!({"count": 3}))),
            "Hi friend! 3 {{}} {{ unclosed"
        );
        assert_eq!(
            t.render(&attrs(json!({"query": {"name": "Ann"}, "count": 2.0}))),
            "Hi Ann! 2 {{}} {{ unclosed"
        );
        assert_eq!(
            t.placeholders().collect::<Vec<_>>(),
            vec!["query.name", "count"]
        );
        assert_eq!(Template::parse("plain").render(&Map::new()), "plain");
    }
}
