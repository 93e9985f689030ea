//! Did-you-mean: the closest known name to a misspelt one.

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub fn suggest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let found_lower = found.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&found_lower, &c.to_ascii_lowercase());
        let limit = (c.len().max(found.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// ` (did you mean "NAME"?)` after a message, or nothing without a suggestion.
pub fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean \"{s}\"?)"),
        None => String::new(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_close_typos_only() {
        let known = ["priority", "condition", "hold_for", "enter_after"];
        assert_eq!(suggest("prority", known), Some("priority".into()));
        assert_eq!(suggest("conditon", known), Some("condition".into()));
        assert_eq!(suggest("banana", known), None);
    }

    #[test]
    fn did_you_mean_is_empty_without_a_suggestion() {
        assert_eq!(did_you_mean(Some("views")), " (did you mean \"views\"?)");
        assert_eq!(did_you_mean(None), "");
    }
}
