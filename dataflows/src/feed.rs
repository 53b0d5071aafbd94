//! Turns a stream of operations (interactions, user deletions, full resets) into the graph's input changes.
//!
//! This is the pure half of the engine's sequencer: it owns the state that must live outside the dataflow
//! to produce exact retractions (each user's live events, each user's recent window), so the engine, the
//! tests and the benchmarks all feed the graph through the same code.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::recent::{RecentChange, RecentWindows};
use crate::types::{Interaction, UserId, WindowParams};

/// One change to a dataset group's interactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// An accepted interaction.
    Insert(Interaction),
    /// Delete every interaction of a user (Personalize's data deletion).
    DeleteUser(UserId),
    /// Delete every interaction (a FULL import replaces the dataset).
    Clear,
}

impl Op {
    /// Whether worker `index` of `peers` feeds this operation: a user's operations always go to the same
    /// worker, so each worker's [`EventFeed`] sees whole users and the union of the workers' input changes
    /// equals one feed's; a `Clear` goes to every worker.
    pub fn fed_by(&self, index: usize, peers: usize) -> bool {
        let user = match self {
            Op::Insert(event) => event.user,
            Op::DeleteUser(user) => *user,
            Op::Clear => return true,
        };
        (u64::from(user).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % peers.max(1) == index
    }
}

/// The graph's input changes for a batch of operations.
#[derive(Debug, Default, Clone)]
pub struct InputChanges {
    /// Changes to the `events` collection.
    pub events: Vec<(Interaction, isize)>,
    /// Changes to the `recent` collection.
    pub recent: Vec<RecentChange>,
    /// Changes to the `cowindow` collection.
    pub cowindow: Vec<RecentChange>,
}

impl InputChanges {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.recent.is_empty() && self.cowindow.is_empty()
    }

    /// Empties every list, keeping the allocations.
    pub fn clear(&mut self) {
        self.events.clear();
        self.recent.clear();
        self.cowindow.clear();
    }
}

/// State that turns operations into input changes.
#[derive(Debug, Clone)]
pub struct EventFeed {
    windows: RecentWindows,
    cowindows: RecentWindows,
    live: HashMap<UserId, Vec<Interaction>>,
    events: u64,
}

impl EventFeed {
    /// An empty feed with the history window and the co-occurrence window.
    pub fn new(window: WindowParams, cooccurrence_window: WindowParams) -> Self {
        EventFeed {
            windows: RecentWindows::new(window),
            cowindows: RecentWindows::new(cooccurrence_window),
            live: HashMap::new(),
            events: 0,
        }
    }

    /// An empty feed for these graph parameters.
    pub fn for_params(params: &crate::types::Params) -> Self {
        EventFeed::new(params.window.clone(), params.cooccurrence_window.clone())
    }

    /// Applies one operation, appending the input changes it causes.
    pub fn apply(&mut self, op: &Op, out: &mut InputChanges) {
        match *op {
            Op::Insert(event) => {
                self.live.entry(event.user).or_default().push(event);
                self.events += 1;
                out.events.push((event, 1));
                self.windows.insert(&event, &mut out.recent);
                self.cowindows.insert(&event, &mut out.cowindow);
            }
            Op::DeleteUser(user) => {
                if let Some(events) = self.live.remove(&user) {
                    self.events -= events.len() as u64;
                    out.events.extend(events.into_iter().map(|e| (e, -1)));
                }
                self.windows.delete_user(user, &mut out.recent);
                self.cowindows.delete_user(user, &mut out.cowindow);
            }
            Op::Clear => {
                for (_, events) in self.live.drain() {
                    out.events.extend(events.into_iter().map(|e| (e, -1)));
                }
                self.events = 0;
                self.windows.clear(&mut out.recent);
                self.cowindows.clear(&mut out.cowindow);
            }
        }
    }

    /// The recent windows.
    pub fn windows(&self) -> &RecentWindows {
        &self.windows
    }

    /// A user's live interactions, in arrival order.
    pub fn user_events(&self, user: UserId) -> &[Interaction] {
        self.live.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of live interactions.
    pub fn len(&self) -> u64 {
        self.events
    }

    /// Whether there are no live interactions.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Number of users with live interactions.
    pub fn users(&self) -> usize {
        self.live.len()
    }
}
