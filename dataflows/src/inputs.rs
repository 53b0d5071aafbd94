//! The graph's input sessions, fed from [`InputChanges`]: the one place that knows how changes enter the
//! graph, shared by the engine's workers, the test harness and the examples.

use differential_dataflow::input::InputSession;
use timely::dataflow::Scope;

use crate::feed::{EventFeed, InputChanges, Op};
use crate::graph::{self, Inputs, Outputs};
use crate::types::{ContextId, Epoch, Interaction, ItemId, Params, RecentEntry, Transition, UserId};

/// The six input sessions of one worker's copy of the graph.
pub struct GraphInputs {
    events: InputSession<Epoch, Interaction, isize>,
    recent: InputSession<Epoch, (UserId, RecentEntry), isize>,
    cowindow: InputSession<Epoch, (UserId, RecentEntry), isize>,
    transitions: InputSession<Epoch, Transition, isize>,
    typed_recent: InputSession<Epoch, (UserId, RecentEntry), isize>,
    contexts: InputSession<Epoch, (ItemId, ContextId), isize>,
}

impl Default for GraphInputs {
    fn default() -> Self {
        GraphInputs::new()
    }
}

impl GraphInputs {
    /// New, unconnected sessions.
    pub fn new() -> Self {
        GraphInputs {
            events: InputSession::new(),
            recent: InputSession::new(),
            cowindow: InputSession::new(),
            transitions: InputSession::new(),
            typed_recent: InputSession::new(),
            contexts: InputSession::new(),
        }
    }

    /// Builds the graph in `scope` on these sessions.
    pub fn build<'s>(&mut self, scope: Scope<'s, Epoch>, params: &Params) -> Outputs<'s> {
        let inputs = Inputs {
            events: self.events.to_collection(scope),
            recent: self.recent.to_collection(scope),
            cowindow: self.cowindow.to_collection(scope),
            transitions: self.transitions.to_collection(scope),
            typed_recent: self.typed_recent.to_collection(scope),
            contexts: self.contexts.to_collection(scope),
        };
        graph::build(inputs, params)
    }

    /// Moves `changes` into the sessions at the current epoch (leaving `changes` empty).
    pub fn feed(&mut self, changes: &mut InputChanges) {
        for (e, d) in changes.events.drain(..) {
            self.events.update(e, d);
        }
        for (r, d) in changes.recent.drain(..) {
            self.recent.update(r, d);
        }
        for (r, d) in changes.cowindow.drain(..) {
            self.cowindow.update(r, d);
        }
        for (t, d) in changes.transitions.drain(..) {
            self.transitions.update(t, d);
        }
        for (r, d) in changes.typed_recent.drain(..) {
            self.typed_recent.update(r, d);
        }
        for (c, d) in changes.contexts.drain(..) {
            self.contexts.update(c, d);
        }
    }

    /// Closes the current epoch: every session advances to `next` and flushes.
    pub fn advance_to(&mut self, next: Epoch) {
        self.events.advance_to(next);
        self.recent.advance_to(next);
        self.cowindow.advance_to(next);
        self.transitions.advance_to(next);
        self.typed_recent.advance_to(next);
        self.contexts.advance_to(next);
        self.events.flush();
        self.recent.flush();
        self.cowindow.flush();
        self.transitions.flush();
        self.typed_recent.flush();
        self.contexts.flush();
    }

    /// One worker's share of an epoch: the operations of the users this worker feeds (see [`Op::fed_by`])
    /// go through `feed` into the sessions, which then advance to `next`.
    pub fn apply_epoch(&mut self, feed: &mut EventFeed, ops: &[Op], worker: usize, peers: usize, next: Epoch) {
        let mut changes = InputChanges::default();
        for op in ops.iter().filter(|op| op.fed_by(worker, peers)) {
            feed.apply(op, &mut changes);
        }
        self.feed(&mut changes);
        self.advance_to(next);
    }

    /// Closes the sessions, so the graph can finish.
    pub fn close(self) {
        self.events.close();
        self.recent.close();
        self.cowindow.close();
        self.transitions.close();
        self.typed_recent.close();
        self.contexts.close();
    }
}
