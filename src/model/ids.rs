//! Interning of external string ids to dense integers.
//!
//! Every user, item and event type name is given the next dense id the first time it is seen. The
//! assignment is made durable by the sequencer, which logs an `Intern` record before any record that uses
//! the new id, so a replay rebuilds the same mapping.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Which kind of name an id belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdSpace {
    /// `USER_ID` values.
    User,
    /// `ITEM_ID` values.
    Item,
    /// `EVENT_TYPE` values (the empty name stands for "no event type").
    EventType,
    /// Context values of interactions, `FIELD=value` (last, so older logs still decode).
    Context,
}

/// A bidirectional map between names and dense ids `0..len`.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The id of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name of `id`.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|n| &**n)
    }

    /// The id of `name`, assigning the next one if it is new; the flag says whether it was new.
    pub fn intern(&mut self, name: &str) -> (u32, bool) {
        if let Some(id) = self.get(name) {
            return (id, false);
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        (id, true)
    }

    /// Re-applies a logged assignment; fails if it contradicts the current mapping (a corrupt log).
    pub fn restore(&mut self, id: u32, name: &str) -> Result<(), String> {
        match self.get(name) {
            Some(existing) if existing == id => Ok(()),
            Some(existing) => Err(format!("name {name:?} is already id {existing}, log says {id}")),
            None if id as usize == self.names.len() => {
                self.intern(name);
                Ok(())
            }
            None => Err(format!("log assigns id {id} to {name:?} but the next id is {}", self.names.len())),
        }
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name has been interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The three interners of a dataset group.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    /// Users.
    pub users: Interner,
    /// Items.
    pub items: Interner,
    /// Event types.
    pub event_types: Interner,
    /// Context values (`DEVICE=phone`).
    pub contexts: Interner,
}

impl Ids {
    /// The interner of one id space.
    pub fn space_mut(&mut self, space: IdSpace) -> &mut Interner {
        match space {
            IdSpace::User => &mut self.users,
            IdSpace::Item => &mut self.items,
            IdSpace::EventType => &mut self.event_types,
            IdSpace::Context => &mut self.contexts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_and_stable() {
        let mut i = Interner::default();
        assert_eq!(i.intern("a"), (0, true));
        assert_eq!(i.intern("b"), (1, true));
        assert_eq!(i.intern("a"), (0, false));
        assert_eq!(i.name(1), Some("b"));
        let mut replayed = Interner::default();
        replayed.restore(0, "a").unwrap();
        replayed.restore(1, "b").unwrap();
        assert_eq!(replayed.get("b"), Some(1));
        assert!(replayed.restore(5, "c").is_err());
        assert!(replayed.restore(1, "a").is_err());
    }
}
