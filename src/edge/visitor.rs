//! The visitor behind a request: consent, the signed state cookie, and the
//! `Set-Cookie` that carries the new state back.

use worker::{console_error, Env, Headers};

use super::SecretKeys;
use crate::rules::CompiledRules;
use crate::state::cookie;
use crate::state::{Timestamp, VisitorState};

pub struct Visitor {
    pub state: VisitorState,
    /// False when consent says no (GPC, the consent cookie) or no secret is
    /// configured: nothing is stored and nothing per-visitor is counted.
    pub tracked: bool,
    key: Option<std::rc::Rc<SecretKeys>>,
    incoming: Option<String>,
}

impl Visitor {
    pub fn load(headers: &Headers, rules: &CompiledRules, env: &Env, now: Timestamp) -> Visitor {
        let settings = &rules.settings;
        let header = |name: &str| headers.get(name).ok().flatten();
        let cookie_header = header("cookie").unwrap_or_default();
        let gpc = header("sec-gpc").is_some_and(|v| v.trim() == "1");
        let key = super::secret_keys(env);
        if key.is_none() {
            console_error!(
                "edgeseg: the {} secret is not set; visitors are not tracked",
                super::SECRET_NAME
            );
        }
        let consent_denied = settings.consent_cookie.as_deref().is_some_and(|name| {
            cookie::find_cookie(&cookie_header, name)
                .is_some_and(|v| settings.consent_deny_values.iter().any(|d| d == v))
        });
        let tracked = key.is_some() && !(settings.respect_gpc && gpc) && !consent_denied;
        let incoming =
            cookie::find_cookie(&cookie_header, &settings.cookie_name).map(str::to_string);
        let decoded = match (&key, &incoming, tracked) {
            (Some(key), Some(value), true) => cookie::decode(value, &key.cookie).ok(),
            _ => None,
        };
        let mut state = decoded.unwrap_or_else(|| VisitorState::fresh(super::random_bytes(), now));
        super::experiments::apply_confirmed(&mut state);
        Visitor {
            state,
            tracked,
            key,
            incoming,
        }
    }

    /// The `Set-Cookie` value when the state is to be stored and has changed.
    pub fn set_cookie(&self, rules: &CompiledRules) -> Option<String> {
        let key = self.key.as_ref().filter(|_| self.tracked)?;
        let value = cookie::encode(&self.state, &key.cookie);
        (self.incoming.as_deref() != Some(value.as_str())).then(|| {
            super::cookie_header(
                &rules.settings.cookie_name,
                &value,
                rules.settings.cookie_lifetime,
            )
        })
    }
}
