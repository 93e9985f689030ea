//! Phase `settings`: cookie, session, consent and retention settings, with
//! durations resolved to seconds.

use super::Compiler;
use crate::access::roles::{Member, RoleTable};
use crate::access::Role;
use crate::consent::TcfPolicy;
use crate::document::DefaultRole;
use crate::error::{DurationLimit, NameOf, RuleErrorKind};
use crate::origin_cache::CachePolicy;
use crate::util::ident::is_cookie_name;

/// Settings with durations resolved to seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSettings {
    pub cookie_name: String,
    pub cookie_lifetime: u64,
    pub refresh_seconds: u32,
    pub session_timeout: u64,
    pub respect_gpc: bool,
    pub consent_cookie: Option<String>,
    pub consent_deny_values: Vec<String>,
    /// How the TCF string maps to consent levels; `None` when it is not read.
    pub tcf: Option<TcfPolicy>,
    pub counter_retention: u64,
    pub origin_cache: CachePolicy,
    /// Who has which admin role (`settings.admin`).
    pub admin: RoleTable,
}

impl Compiler<'_> {
    pub(super) fn settings(&mut self) -> CompiledSettings {
        let s = &self.doc.settings;
        let cookie_lifetime = self.duration("settings.cookie_lifetime".into(), &s.cookie_lifetime);
        let session_timeout = self.duration("settings.session_timeout".into(), &s.session_timeout);
        let counter_retention =
            self.duration("settings.counter_retention".into(), &s.counter_retention);
        if counter_retention < 8 * 86_400 {
            self.err(
                "settings.counter_retention",
                RuleErrorKind::DurationLimit(DurationLimit::CounterRetention),
            );
        }
        if !is_cookie_name(&s.cookie_name) {
            self.err(
                "settings.cookie_name",
                RuleErrorKind::BadName {
                    of: NameOf::Cookie,
                    name: s.cookie_name.clone(),
                },
            );
        }
        if session_timeout == 0 {
            self.err(
                "settings.session_timeout",
                RuleErrorKind::ZeroDuration {
                    what: None,
                    hint: "",
                },
            );
        }
        let origin_cache = self.origin_cache();
        let tcf = self.tcf();
        let admin = self.admin_roles();
        CompiledSettings {
            cookie_name: s.cookie_name.clone(),
            cookie_lifetime,
            refresh_seconds: s.refresh_seconds,
            session_timeout: session_timeout.max(1),
            respect_gpc: s.consent.respect_gpc,
            consent_cookie: s.consent.cookie.clone(),
            consent_deny_values: s.consent.deny_values.clone(),
            tcf,
            counter_retention,
            origin_cache,
            admin,
        }
    }
}

impl Compiler<'_> {
    fn tcf(&mut self) -> Option<TcfPolicy> {
        let t = &self.doc.settings.consent.tcf;
        let cookie = t.cookie.clone()?;
        if !is_cookie_name(&cookie) {
            self.err(
                "settings.consent.tcf.cookie",
                RuleErrorKind::BadName {
                    of: NameOf::Cookie,
                    name: cookie.clone(),
                },
            );
        }
        // The schema bounds purposes to 1-24 and vendors to 1-65535; anything
        // else (never reached) becomes 0, which never has consent.
        let purposes =
            |p: &[u32]| -> Vec<u8> { p.iter().map(|&n| u8::try_from(n).unwrap_or(0)).collect() };
        Some(TcfPolicy {
            cookie,
            store: purposes(&t.store),
            personalize: purposes(&t.personalize),
            measure: purposes(&t.measure),
            vendor: t.vendor.map(|v| u16::try_from(v).unwrap_or(0)),
        })
    }
}

impl Compiler<'_> {
    /// `settings.admin`: every entry an email, group or service token, and
    /// none on two lists (which one was meant is anybody's guess).
    fn admin_roles(&mut self) -> RoleTable {
        let a = &self.doc.settings.admin;
        let mut members: Vec<(Member, Role)> = Vec::new();
        let lists = [
            ("publishers", &a.publishers, Role::Publisher),
            ("editors", &a.editors, Role::Editor),
            ("viewers", &a.viewers, Role::Viewer),
        ];
        for (list, entries, role) in lists {
            for (i, entry) in entries.iter().enumerate() {
                let path = format!("settings.admin.{list}[{i}]");
                let Some(member) = Member::parse(entry) else {
                    self.err(
                        &path,
                        RuleErrorKind::WrongType {
                            expected: Member::EXPECTED,
                            found: format!("{entry:?}"),
                        },
                    );
                    continue;
                };
                if members.iter().any(|(m, _)| m == &member) {
                    self.err(
                        &path,
                        RuleErrorKind::Duplicate {
                            what: "admin role entry (each person or group is on one list)",
                            name: entry.trim().to_string(),
                        },
                    );
                    continue;
                }
                members.push((member, role));
            }
        }
        RoleTable {
            members,
            default_role: match a.default_role {
                DefaultRole::None => None,
                DefaultRole::Viewer => Some(Role::Viewer),
                DefaultRole::Editor => Some(Role::Editor),
            },
        }
    }
}
