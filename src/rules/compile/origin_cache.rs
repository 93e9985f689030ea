//! Phase `origin cache`: `settings.origin_cache`, the policy for sharing
//! origin pages in the edge cache.

use super::Compiler;
use crate::error::{path_index, DurationLimit, NameOf, Needed, RuleErrorKind};
use crate::origin_cache::CachePolicy;
use crate::util::duration::parse_duration;
use crate::util::ident::is_cookie_token;

impl Compiler<'_> {
    pub(super) fn origin_cache(&mut self) -> CachePolicy {
        let s = &self.doc.settings.origin_cache;
        let at = |field: &str| format!("settings.origin_cache.{field}");
        let ttl = self.duration(at("ttl"), &s.ttl);
        let max_ttl = self.duration(at("max_ttl"), &s.max_ttl);
        let stale_while_revalidate =
            self.duration(at("stale_while_revalidate"), &s.stale_while_revalidate);
        let stale_if_error = self.duration(at("stale_if_error"), &s.stale_if_error);
        if ttl == 0 && parse_duration(&s.ttl).is_some() {
            self.err(
                at("ttl"),
                RuleErrorKind::ZeroDuration {
                    what: None,
                    hint: " (to cache nothing, set \"enabled\": false)",
                },
            );
        }
        if ttl > max_ttl {
            self.err(
                at("ttl"),
                RuleErrorKind::DurationLimit(DurationLimit::OverMaxTtl {
                    max_ttl: s.max_ttl.clone(),
                }),
            );
        }
        for (field, value) in [
            ("stale_while_revalidate", stale_while_revalidate),
            ("stale_if_error", stale_if_error),
        ] {
            if value > 7 * 86_400 {
                self.err(
                    at(field),
                    RuleErrorKind::DurationLimit(DurationLimit::StaleOver7Days),
                );
            }
        }
        for (i, name) in s.session_cookies.iter().enumerate() {
            if !is_cookie_token(name.strip_suffix('*').unwrap_or(name)) {
                self.err(
                    path_index(&at("session_cookies"), i),
                    RuleErrorKind::BadName {
                        of: NameOf::SessionCookie,
                        name: name.clone(),
                    },
                );
            }
        }
        for (i, name) in s.ignore_params.iter().enumerate() {
            if name.strip_suffix('*').unwrap_or(name).is_empty() {
                self.err(
                    path_index(&at("ignore_params"), i),
                    RuleErrorKind::Needs(Needed::IgnoredParameter),
                );
            }
        }
        CachePolicy {
            enabled: s.enabled,
            ttl,
            max_ttl,
            stale_while_revalidate,
            stale_if_error,
            session_cookies: s.session_cookies.clone(),
            ignore_params: s.ignore_params.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::origin_cache::CachePolicy;
    use crate::rules::CompiledRules;

    #[test]
    fn the_documents_defaults_compile_to_the_default_policy() {
        let rules = CompiledRules::from_json(r#"{"format": 1, "version": "x"}"#).unwrap();
        assert_eq!(rules.settings.origin_cache, CachePolicy::default());
    }
}
