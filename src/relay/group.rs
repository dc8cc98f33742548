//! Grouping: events of one rule, site and topic that arrive within the rule's
//! `group_within` of the first are held together and leave as one message when the window
//! closes: one event as itself, several as a summary with the list.

use crate::clock::Instant;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::event::RelayEvent;

/// Events held per group at most; more in one window are counted as dropped.
pub const MAX_PER_GROUP: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    rule: usize,
    site: String,
    topic: String,
}

/// Events with when each arrived.
pub type Held = Vec<(RelayEvent, DateTime<Utc>)>;

struct Group {
    closes: Instant,
    events: Held,
}

/// What [`Groups::add`] did with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Held,
    /// The group is at [`MAX_PER_GROUP`].
    Full,
}

#[derive(Default)]
pub struct Groups {
    open: HashMap<Key, Group>,
}

impl Groups {
    pub fn add(
        &mut self,
        rule: usize,
        event: RelayEvent,
        received: DateTime<Utc>,
        closes: Instant,
    ) -> Added {
        let key = Key {
            rule,
            site: event.site_id.clone().unwrap_or_default(),
            topic: event.topic.clone(),
        };
        let group = self.open.entry(key).or_insert_with(|| Group {
            closes,
            events: Vec::new(),
        });
        if group.events.len() >= MAX_PER_GROUP {
            return Added::Full;
        }
        group.events.push((event, received));
        Added::Held
    }

    /// When the next group closes.
    pub fn next_close(&self) -> Option<Instant> {
        self.open.values().map(|g| g.closes).min()
    }

    /// The groups closed at `now` (all of them with `None`), by rule, oldest first.
    pub fn take_closed(&mut self, now: Option<Instant>) -> Vec<(usize, Held)> {
        let closed: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, g)| now.is_none_or(|now| g.closes <= now))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<(Instant, usize, Vec<_>)> = closed
            .into_iter()
            .filter_map(|k| self.open.remove(&k).map(|g| (g.closes, k.rule, g.events)))
            .collect();
        out.sort_by_key(|(closes, rule, _)| (*closes, *rule));
        out.into_iter().map(|(_, rule, e)| (rule, e)).collect()
    }
}
