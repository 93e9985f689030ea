//! Who has which role: the published rules' `settings.admin`, compiled.
//!
//! The lists live in the rules document, not in a KV key of their own, so a
//! change to them is a revision like any other: it has an author, shows in
//! the version history, can be rolled back, and takes effect only when a
//! publisher publishes it. An editor can save a draft that makes them a
//! publisher, but the draft grants nothing until a publisher publishes it.

use super::jwt::{Claimed, Subject};
use super::Role;

/// One entry of a role list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    /// `ann@shop.example` (compared without case).
    Email(String),
    /// `group:marketing`: an Access (identity provider) group.
    Group(String),
    /// `service:<client id>`: an Access service token.
    Service(String),
}

impl Member {
    /// What an entry must look like, for the validation error.
    pub const EXPECTED: &'static str =
        "an email address (ann@shop.example), \"group:NAME\" or \"service:CLIENT_ID\"";

    pub fn parse(entry: &str) -> Option<Member> {
        let e = entry.trim();
        if let Some(g) = e.strip_prefix("group:") {
            let g = g.trim();
            return (!g.is_empty()).then(|| Member::Group(g.to_string()));
        }
        if let Some(s) = e.strip_prefix("service:") {
            let s = s.trim();
            return (!s.is_empty()).then(|| Member::Service(s.to_string()));
        }
        let (local, domain) = e.split_once('@')?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
            && !domain.contains('@');
        ok.then(|| Member::Email(e.to_ascii_lowercase()))
    }

    fn matches(&self, claimed: &Claimed) -> bool {
        match (self, &claimed.subject) {
            (Member::Email(e), Subject::Email(who)) => e == who,
            (Member::Service(s), Subject::ServiceToken(cn)) => s == cn,
            (Member::Group(g), _) => claimed.groups.iter().any(|x| x == g),
            _ => false,
        }
    }
}

/// The compiled role lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleTable {
    /// (member, role); the same member is listed once.
    pub members: Vec<(Member, Role)>,
    /// The role of a person on no list (`None`: refused).
    pub default_role: Option<Role>,
}

impl RoleTable {
    /// The highest role any entry gives the token's subject, else the default.
    pub fn resolve(&self, claimed: &Claimed) -> Option<Role> {
        self.members
            .iter()
            .filter(|(m, _)| m.matches(claimed))
            .map(|&(_, r)| r)
            .max()
            .or(match claimed.subject {
                // A machine is never a "person on no list".
                Subject::ServiceToken(_) => None,
                Subject::Email(_) => self.default_role,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str, groups: &[&str]) -> Claimed {
        Claimed {
            subject: Subject::Email(email.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn table() -> RoleTable {
        RoleTable {
            members: vec![
                (Member::parse("Lead@Shop.Example").unwrap(), Role::Publisher),
                (Member::parse("group:marketing").unwrap(), Role::Editor),
                (Member::parse("service:ci.access").unwrap(), Role::Editor),
            ],
            default_role: Some(Role::Viewer),
        }
    }

    #[test]
    fn entries_parse() {
        assert_eq!(
            Member::parse(" Ann@Shop.Example "),
            Some(Member::Email("ann@shop.example".into()))
        );
        assert_eq!(
            Member::parse("group:Marketing Team"),
            Some(Member::Group("Marketing Team".into()))
        );
        assert_eq!(
            Member::parse("service:abc"),
            Some(Member::Service("abc".into()))
        );
        for bad in [
            "ann",
            "group:",
            "service: ",
            "@shop.example",
            "ann@shop",
            "a b@shop.example",
            "ann@shop.example,bob@shop.example",
            "ann@@shop.example",
        ] {
            assert_eq!(Member::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_highest_role_wins_and_strangers_get_the_default() {
        let t = table();
        assert_eq!(
            t.resolve(&person("lead@shop.example", &["marketing"])),
            Some(Role::Publisher)
        );
        assert_eq!(
            t.resolve(&person("mia@shop.example", &["marketing"])),
            Some(Role::Editor)
        );
        assert_eq!(
            t.resolve(&person("joe@shop.example", &[])),
            Some(Role::Viewer)
        );
        let closed = RoleTable {
            default_role: None,
            ..table()
        };
        assert_eq!(closed.resolve(&person("joe@shop.example", &[])), None);
        let machine = |cn: &str| Claimed {
            subject: Subject::ServiceToken(cn.into()),
            groups: vec![],
        };
        assert_eq!(t.resolve(&machine("ci.access")), Some(Role::Editor));
        assert_eq!(
            t.resolve(&machine("other")),
            None,
            "unlisted service tokens get nothing"
        );
    }
}
