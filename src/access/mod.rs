//! Who is using the admin, and what they may do.
//!
//! People come through Cloudflare Access: the Worker checks the Access token's
//! signature with the runtime's WebCrypto (the only part here that is not
//! pure, so it stays in `src/edge/`), then [`jwt`] checks its claims and
//! [`roles`] gives the person a role from the published rules. Scripts and CI
//! use the bearer token, which is a named service identity with a role of its
//! own. [`allows`] is the one table of what each role may do; the admin API
//! asks it before every call, so a button the page disables is refused by the
//! server too.

pub mod jwt;
pub mod roles;

use serde::{Deserialize, Serialize};

/// A role, lowest first: each role may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything; validates and simulates (which change nothing).
    Viewer,
    /// Also saves drafts and makes preview links.
    Editor,
    /// Also publishes, rolls back, purges, starts and stops experiments.
    Publisher,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Publisher => "publisher",
        }
    }

    /// `viewer`, `editor` or `publisher` (any case), for configuration.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "publisher" => Some(Role::Publisher),
            _ => None,
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A person signed in through Cloudflare Access.
    Person,
    /// An Access service token (a machine behind Access).
    AccessService,
    /// The `EDGESEG_ADMIN_TOKEN` bearer token.
    Service,
}

/// A verified caller: what revisions, purges and the audit log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// An email for people, `service:<name>` for tokens.
    pub id: String,
    pub kind: IdentityKind,
    pub role: Role,
    /// The Access groups the token named (people only; empty when the
    /// identity provider sends none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Everything the admin API does, grouped by the role it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Rules, revisions, drafts, stats, experiment results, the export list, the audit log.
    Read,
    /// Validate, simulate, the rewrite check: they store nothing.
    Check,
    /// Save a draft (not live).
    SaveDraft,
    /// Sign a preview link (of the live rules or a draft).
    PreviewLink,
    /// Make rules live: publish a draft, or save straight to live.
    Publish,
    /// Make an older revision live again.
    Rollback,
    /// Purge the origin cache.
    Purge,
    /// Operations: flush counters, enqueue export records, erase a visitor from the export.
    Operate,
}

impl Action {
    /// Every action, in the order the admin page lists them.
    pub const ALL: [Action; 8] = [
        Action::Read,
        Action::Check,
        Action::SaveDraft,
        Action::PreviewLink,
        Action::Publish,
        Action::Rollback,
        Action::Purge,
        Action::Operate,
    ];

    /// The name the API and the admin page use.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Check => "check",
            Action::SaveDraft => "save_draft",
            Action::PreviewLink => "preview_link",
            Action::Publish => "publish",
            Action::Rollback => "rollback",
            Action::Purge => "purge",
            Action::Operate => "operate",
        }
    }

    /// What the action is, in words, for refusals and the admin page.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Read => "read rules, versions, drafts and stats",
            Action::Check => "validate and simulate",
            Action::SaveDraft => "save drafts",
            Action::PreviewLink => "make preview links",
            Action::Publish => "publish rules (and so start or stop experiments)",
            Action::Rollback => "roll back to an earlier version",
            Action::Purge => "purge the page cache",
            Action::Operate => {
                "flush counters, send export records and erase a visitor from the export"
            }
        }
    }

    /// The lowest role that may do it: the authorization table.
    pub fn needs(self) -> Role {
        match self {
            Action::Read | Action::Check => Role::Viewer,
            Action::SaveDraft | Action::PreviewLink => Role::Editor,
            Action::Publish | Action::Rollback | Action::Purge | Action::Operate => Role::Publisher,
        }
    }
}

/// Whether `role` may do `action`.
pub fn allows(role: Role, action: Action) -> bool {
    role >= action.needs()
}

/// The refusal for an identity whose role is too low (a 403): says who, what
/// they tried and who can, so the person knows whom to ask.
pub fn refusal(identity: &Identity, action: Action) -> String {
    let who = match action.needs() {
        Role::Publisher => "a publisher",
        Role::Editor => "an editor or a publisher",
        Role::Viewer => "a viewer",
    };
    let article = if identity.role == Role::Editor {
        "an"
    } else {
        "a"
    };
    let mut message = format!(
        "{} is {article} {} and may not {}: that needs {who}",
        identity.id,
        identity.role.name(),
        action.describe()
    );
    if action == Action::Publish && identity.role == Role::Editor {
        message.push_str("; save it as a draft and ask a publisher to publish it");
    }
    message
}

/// Why a state-changing admin request is refused as coming from another
/// site, or `None` when it may go on (README, "Picking blocks on the page").
///
/// Behind Cloudflare Access the admin API is authenticated by a cookie, which
/// a browser also sends with a request that some other page's script makes:
/// a site page framed by "Pick on page" runs sandboxed, with an opaque origin
/// (`Origin: null`), and so does any third-party script in it. A write is
/// therefore accepted only when the browser says it comes from the site's own
/// origin: `Sec-Fetch-Site` absent, `same-origin` or `none` (typed by the
/// person), and `Origin` absent or equal to `site`. Tools (curl, CI) send
/// neither header and authenticate with the bearer token, which no other
/// page can read.
pub fn cross_site_write(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    site: &str,
) -> Option<String> {
    if let Some(s) = fetch_site.map(str::trim) {
        if !s.eq_ignore_ascii_case("same-origin") && !s.eq_ignore_ascii_case("none") {
            return Some(format!(
                "refused: this change was sent from another site (Sec-Fetch-Site: {s}); \
make it from the admin page at {site}/__edgeseg/admin/"
            ));
        }
    }
    match origin.map(str::trim) {
        Some(o) if !o.eq_ignore_ascii_case(site) => Some(format!(
            "refused: this change was sent from another origin ({o}); make it from the \
admin page at {site}/__edgeseg/admin/"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_from_another_origin_are_refused() {
        let site = "https://shop.example";
        assert_eq!(cross_site_write(None, None, site), None, "curl, CI");
        assert_eq!(
            cross_site_write(Some(site), Some("same-origin"), site),
            None
        );
        assert_eq!(cross_site_write(None, Some("none"), site), None);
        // A sandboxed frame's script: opaque origin.
        let refused = cross_site_write(Some("null"), Some("cross-site"), site).unwrap();
        assert!(refused.contains("another site"), "{refused}");
        assert!(cross_site_write(Some("null"), None, site)
            .unwrap()
            .contains("(null)"));
        assert!(cross_site_write(Some("https://evil.example"), None, site).is_some());
        assert!(cross_site_write(None, Some("same-site"), site).is_some());
    }

    fn who(role: Role) -> Identity {
        Identity {
            id: "ann@shop.example".into(),
            kind: IdentityKind::Person,
            role,
            groups: Vec::new(),
        }
    }

    /// The whole table, written out: a change to it shows up here.
    #[test]
    fn the_authorization_table() {
        let table: Vec<(Action, [bool; 3])> = Action::ALL
            .iter()
            .map(|&a| {
                (
                    a,
                    [Role::Viewer, Role::Editor, Role::Publisher].map(|r| allows(r, a)),
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                (Action::Read, [true, true, true]),
                (Action::Check, [true, true, true]),
                (Action::SaveDraft, [false, true, true]),
                (Action::PreviewLink, [false, true, true]),
                (Action::Publish, [false, false, true]),
                (Action::Rollback, [false, false, true]),
                (Action::Purge, [false, false, true]),
                (Action::Operate, [false, false, true]),
            ]
        );
    }

    #[test]
    fn refusals_say_who_may() {
        assert_eq!(
            refusal(&who(Role::Viewer), Action::Purge),
            "ann@shop.example is a viewer and may not purge the page cache: that needs a publisher"
        );
        assert!(
            refusal(&who(Role::Editor), Action::Publish).ends_with("ask a publisher to publish it")
        );
        assert!(refusal(&who(Role::Viewer), Action::SaveDraft).contains("an editor or a publisher"));
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!(Role::parse(" Publisher "), Some(Role::Publisher));
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Publisher);
    }
}
