//! Phase `events`: the declared events (plus the built-in ones) and the key
//! each is stored under; references to events from the other phases.

use std::collections::BTreeMap;

use super::Compiler;
use crate::error::{path_key, Bound, NameOf, Reserved, RuleErrorKind};
use crate::signals::engagement;
use crate::util::duration::parse_duration;
use crate::util::hash::key_hash;
use crate::util::ident::is_identifier;

impl Compiler<'_> {
    pub(super) fn events(&mut self) -> BTreeMap<String, u32> {
        let mut events = BTreeMap::new();
        events.insert("page_view".to_string(), key_hash("event:page_view"));
        // Sent by the page script when a visitor leaves a page (see
        // `signals::engagement`); accepted whether or not a signal reads it.
        events.insert(
            engagement::EVENT.to_string(),
            key_hash(&format!("event:{}", engagement::EVENT)),
        );
        for (name, spec) in &self.doc.events {
            let path = path_key("events", name);
            if name == "page_view" || name == engagement::EVENT {
                self.err(
                    path.clone(),
                    RuleErrorKind::Reserved(Reserved::Event(name.clone())),
                );
            } else if !is_identifier(name) {
                self.err(
                    path.clone(),
                    RuleErrorKind::BadName {
                        of: NameOf::Event,
                        name: name.clone(),
                    },
                );
            }
            self.duration(path_key(&path, "remember"), &spec.remember);
            for (prop, bounds) in &spec.props {
                let at = path_key(&path_key(&path, "props"), prop);
                if prop.is_empty() || prop.chars().count() > crate::util::ident::MAX_STRING_CHARS {
                    self.err(
                        at.clone(),
                        RuleErrorKind::OutOfBounds(Bound::PropertyNameLength),
                    );
                }
                match (bounds.min, bounds.max) {
                    (None, None) => {
                        self.err(at, RuleErrorKind::OutOfBounds(Bound::PropBoundsEmpty))
                    }
                    (Some(min), Some(max)) if min > max => self.err(
                        at,
                        RuleErrorKind::OutOfBounds(Bound::PropBoundsOrder {
                            min: min.to_string(),
                            max: max.to_string(),
                        }),
                    ),
                    _ => {}
                }
            }
            events.insert(name.clone(), key_hash(&format!("event:{name}")));
        }
        events
    }

    pub(super) fn event_ref(
        &mut self,
        events: &BTreeMap<String, u32>,
        path: String,
        name: &str,
    ) -> Option<u32> {
        match events.get(name) {
            Some(k) => Some(*k),
            None => {
                self.unknown(path, "event", name, events.keys().map(String::as_str));
                None
            }
        }
    }

    pub(super) fn remember(&self, event: &str) -> u64 {
        self.doc
            .events
            .get(event)
            .and_then(|e| parse_duration(&e.remember))
            .unwrap_or(30 * 86_400)
    }
}
