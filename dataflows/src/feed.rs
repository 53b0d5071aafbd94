//! Turns a stream of operations (interactions, user deletions, full resets) into the graph's input changes.
//!
//! This is the pure half of the engine's sequencer: it owns the state that must live outside the dataflow
//! to produce exact retractions (each user's live events, each user's recent window), so the engine, the
//! tests and the benchmarks all feed the graph through the same code.

use serde::{Deserialize, Serialize};

use crate::recent::{RecentChange, RecentWindows, WindowChange};
use crate::sharded::ShardedMap;
use crate::types::{
    ContextEvent, ContextId, EventTypeId, Interaction, ItemId, Seconds, Transition, UserId, WindowParams,
};

/// One change to a dataset group's interactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// An accepted interaction.
    Insert(Interaction),
    /// Delete every interaction of a user (Personalize's data deletion).
    DeleteUser(UserId),
    /// Delete every interaction (a FULL import replaces the dataset).
    Clear,
    /// A context value of an interaction (sent right after its `Insert`, one per value).
    Context(ContextEvent),
}

impl Op {
    /// Whether worker `index` of `peers` feeds this operation: a user's operations always go to the same
    /// worker, so each worker's [`EventFeed`] sees whole users and the union of the workers' input changes
    /// equals one feed's; a `Clear` goes to every worker.
    pub fn fed_by(&self, index: usize, peers: usize) -> bool {
        let user = match self {
            Op::Insert(event) => event.user,
            Op::Context(context) => context.user,
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
    /// Changes to the `transitions` collection.
    pub transitions: Vec<(Transition, isize)>,
    /// Changes to the `typed_recent` collection (per user and event type windows).
    pub typed_recent: Vec<RecentChange>,
    /// Changes to the `contexts` collection: interactions per (item, context value).
    pub contexts: Vec<((ItemId, ContextId), isize)>,
}

impl InputChanges {
    /// Appends `other`'s changes (all at the same time as these).
    pub fn extend(&mut self, other: InputChanges) {
        self.events.extend(other.events);
        self.recent.extend(other.recent);
        self.cowindow.extend(other.cowindow);
        self.transitions.extend(other.transitions);
        self.typed_recent.extend(other.typed_recent);
        self.contexts.extend(other.contexts);
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.recent.is_empty()
            && self.cowindow.is_empty()
            && self.transitions.is_empty()
            && self.typed_recent.is_empty()
            && self.contexts.is_empty()
    }

    /// Empties every list, keeping the allocations.
    pub fn clear(&mut self) {
        self.events.clear();
        self.recent.clear();
        self.cowindow.clear();
        self.transitions.clear();
        self.typed_recent.clear();
        self.contexts.clear();
    }
}

/// State that turns operations into input changes.
#[derive(Debug, Clone)]
pub struct EventFeed {
    windows: RecentWindows,
    cowindows: RecentWindows,
    /// The history window per user and event type.
    typed: RecentWindows<(UserId, EventTypeId)>,
    typed_changes: Vec<WindowChange<(UserId, EventTypeId)>>,
    /// Each user's live events, sorted by [`sequence_key`].
    live: ShardedMap<UserId, Vec<Interaction>>,
    /// Each user's live context values, to retract with the user.
    live_contexts: ShardedMap<UserId, Vec<ContextEvent>>,
    events: u64,
    max_distance: usize,
}

/// The order of a user's sequence: event time, then item and event type, so ties are deterministic.
pub fn sequence_key(e: &Interaction) -> (Seconds, ItemId, EventTypeId) {
    (e.timestamp, e.item, e.event_type)
}

/// Appends the transitions `(a, b, distance)` between positions `i < j` of `seq` with `j − i ≤ max` and
/// `a ≠ b`, for the pairs `keep` accepts.
fn transitions_of(
    seq: &[Interaction],
    max: usize,
    diff: isize,
    keep: impl Fn(usize, usize) -> bool,
    out: &mut Vec<(Transition, isize)>,
) {
    for j in 0..seq.len() {
        for i in j.saturating_sub(max)..j {
            if seq[i].item != seq[j].item && keep(i, j) {
                out.push(((seq[i].item, seq[j].item, (j - i) as u8), diff));
            }
        }
    }
}

impl EventFeed {
    /// An empty feed with the history window and the co-occurrence window.
    pub fn new(window: WindowParams, cooccurrence_window: WindowParams) -> Self {
        EventFeed {
            typed: RecentWindows::new(window.clone()),
            typed_changes: Vec::new(),
            windows: RecentWindows::new(window),
            cowindows: RecentWindows::new(cooccurrence_window),
            live: ShardedMap::default(),
            live_contexts: ShardedMap::default(),
            events: 0,
            max_distance: 0,
        }
    }

    /// Also maintains item-to-next-item transitions up to `max_distance` steps apart in each user's sequence.
    pub fn with_transitions(mut self, max_distance: usize) -> Self {
        self.max_distance = max_distance.min(u8::MAX as usize);
        self
    }

    /// An empty feed for these graph parameters.
    pub fn for_params(params: &crate::types::Params) -> Self {
        EventFeed::new(params.window.clone(), params.cooccurrence_window.clone())
            .with_transitions(params.transition_distance)
    }

    /// Applies one operation, appending the input changes it causes.
    pub fn apply(&mut self, op: &Op, out: &mut InputChanges) {
        match *op {
            Op::Insert(event) => {
                let seq = self.live.entry(event.user).or_default();
                let p = seq.partition_point(|e| sequence_key(e) <= sequence_key(&event));
                let d = self.max_distance;
                if d > 0 {
                    // Only pairs spanning position p change: they move one step apart. Pairs on one side
                    // of p keep their distance. In-order events (p at the end) span nothing.
                    let lo = p.saturating_sub(d);
                    let window = &seq[lo..(p + d).min(seq.len())];
                    transitions_of(window, d, -1, |i, j| lo + i < p && lo + j >= p, &mut out.transitions);
                }
                seq.insert(p, event);
                if d > 0 {
                    let lo = p.saturating_sub(d);
                    let window = &seq[lo..(p + d + 1).min(seq.len())];
                    transitions_of(window, d, 1, |i, j| lo + i <= p && lo + j >= p, &mut out.transitions);
                }
                self.events += 1;
                out.events.push((event, 1));
                self.windows.insert(&event, &mut out.recent);
                self.cowindows.insert(&event, &mut out.cowindow);
                self.typed.insert_at((event.user, event.event_type), &event, &mut self.typed_changes);
            }
            Op::Context(c) => {
                self.live_contexts.entry(c.user).or_default().push(c);
                out.contexts.push(((c.item, c.context), 1));
            }
            Op::DeleteUser(user) => {
                if let Some(contexts) = self.live_contexts.remove(&user) {
                    out.contexts.extend(contexts.into_iter().map(|c| ((c.item, c.context), -1)));
                }
                if let Some(events) = self.live.remove(&user) {
                    let mut types: Vec<EventTypeId> = events.iter().map(|e| e.event_type).collect();
                    types.sort_unstable();
                    types.dedup();
                    for t in types {
                        self.typed.delete_user((user, t), &mut self.typed_changes);
                    }
                    self.events -= events.len() as u64;
                    transitions_of(&events, self.max_distance, -1, |_, _| true, &mut out.transitions);
                    out.events.extend(events.into_iter().map(|e| (e, -1)));
                }
                self.windows.delete_user(user, &mut out.recent);
                self.cowindows.delete_user(user, &mut out.cowindow);
            }
            Op::Clear => {
                for (_, contexts) in self.live_contexts.drain() {
                    out.contexts.extend(contexts.into_iter().map(|c| ((c.item, c.context), -1)));
                }
                for (_, events) in self.live.drain() {
                    transitions_of(&events, self.max_distance, -1, |_, _| true, &mut out.transitions);
                    out.events.extend(events.into_iter().map(|e| (e, -1)));
                }
                self.events = 0;
                self.windows.clear(&mut out.recent);
                self.cowindows.clear(&mut out.cowindow);
                self.typed.clear(&mut self.typed_changes);
            }
        }
        // A per-type window's entries all carry that type, so `(user, entry)` keeps them apart.
        out.typed_recent.extend(self.typed_changes.drain(..).map(|(((user, _), entry), diff)| ((user, entry), diff)));
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
