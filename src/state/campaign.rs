//! The visit's campaign: the `utm_*` parameters a visit arrived with, kept in
//! the cookie for the rest of the visit, so that the second page of a visit
//! from a newsletter still knows it came from that newsletter.
//!
//! Without it, `utm_campaign` exists only on the landing page: a segment that
//! holds for the visit (`hold_for`) kept its content on later pages, but a
//! `{{utm_campaign|limited time}}` in that content said "limited time" there
//! (issue 23). The rules are the ones GA uses for sessions:
//!
//! * a page whose URL has any `utm_*` parameter starts the visit's campaign
//!   anew: all five are replaced by that page's (a parameter it lacks is gone);
//! * a page without any keeps the visit's campaign, and its `utm_*`
//!   attributes are the visit's;
//! * a new session (after `settings.session_timeout`) starts without one.
//!
//! A value over [`MAX_VALUE_BYTES`] is not remembered (that page still sees
//! it): the cookie has room for other things, and a cut name would match no
//! condition. `query.utm_*` stays the request's own.

use super::VisitorState;

/// The campaign parameters, in the order the cookie stores them (by index).
pub const UTM_PARAMS: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

/// The longest value remembered, in bytes.
pub const MAX_VALUE_BYTES: usize = 128;

/// One remembered parameter: its index in [`UTM_PARAMS`] and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmValue {
    pub param: u8,
    pub value: String,
}

/// The visit's campaign from this page's query (`(name, value)` pairs in
/// order; the first of a repeated name counts, as for the attributes). A
/// page without `utm_*` parameters changes nothing.
pub fn remember(state: &mut VisitorState, query: &[(String, String)]) {
    if !in_query(query) {
        return;
    }
    state.campaign.clear();
    for (param, name) in (0u8..).zip(UTM_PARAMS) {
        if let Some((_, v)) = query.iter().find(|(k, _)| k == name) {
            if v.len() <= MAX_VALUE_BYTES {
                state.campaign.push(UtmValue {
                    param,
                    value: v.clone(),
                });
            }
        }
    }
}

/// Forgets the campaign (a new session starts).
pub fn forget(state: &mut VisitorState) {
    state.campaign.clear();
}

/// Whether a query carries any campaign parameter.
pub fn in_query(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| UTM_PARAMS.contains(&k.as_str()))
}

/// The remembered `(attribute name, value)` pairs.
pub fn attributes(state: &VisitorState) -> impl Iterator<Item = (&'static str, &str)> {
    state.campaign.iter().filter_map(|u| {
        UTM_PARAMS
            .get(usize::from(u.param))
            .map(|name| (*name, u.value.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_page_with_utm_replaces_the_whole_campaign_and_one_without_keeps_it() {
        let mut s = VisitorState::fresh([1; 16], 100);
        remember(
            &mut s,
            &q(&[("utm_source", "news"), ("utm_campaign", "spring")]),
        );
        remember(&mut s, &q(&[("page", "2")]));
        let got: Vec<_> = attributes(&s).collect();
        assert_eq!(
            got,
            vec![("utm_source", "news"), ("utm_campaign", "spring")]
        );
        remember(&mut s, &q(&[("utm_medium", "cpc")]));
        assert_eq!(
            attributes(&s).collect::<Vec<_>>(),
            vec![("utm_medium", "cpc")]
        );
        forget(&mut s);
        assert_eq!(attributes(&s).count(), 0);
    }

    #[test]
    fn long_values_and_repeats() {
        let mut s = VisitorState::fresh([1; 16], 100);
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        remember(
            &mut s,
            &q(&[
                ("utm_campaign", "first"),
                ("utm_campaign", "second"),
                ("utm_content", &long),
            ]),
        );
        assert_eq!(
            attributes(&s).collect::<Vec<_>>(),
            vec![("utm_campaign", "first")]
        );
        assert!(in_query(&q(&[("utm_term", "")])));
        assert!(!in_query(&q(&[("utm", "x")])));
    }
}
