//! The full state of every output at one moment, as plain ordered maps: what tests compare.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::*;

/// Every output of [`crate::graph::build`], materialised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Distinct users per (item, event type | ANY).
    pub item_users: BTreeMap<(ItemId, EventTypeId), isize>,
    /// Events per (item, event type | ANY).
    pub item_events: BTreeMap<(ItemId, EventTypeId), isize>,
    /// Events per (item, trend bucket).
    pub trend: BTreeMap<(ItemId, i64), isize>,
    /// Each user's recent window.
    pub recent: BTreeMap<UserId, BTreeSet<RecentEntry>>,
    /// Co-occurrence counts of ordered pairs.
    pub cooccurrence: BTreeMap<(ItemId, ItemId), isize>,
    /// Neighbour candidates per item, most co-occurring first.
    pub neighbours: BTreeMap<ItemId, Vec<Neighbour>>,
    /// Users whose window holds each item.
    pub window_counts: BTreeMap<ItemId, isize>,
    /// Decayed affinity per (user, item).
    pub affinity: BTreeMap<(UserId, ItemId), Affinity>,
    /// Each user's history window per event type.
    pub typed_recent: BTreeMap<(UserId, EventTypeId), BTreeSet<RecentEntry>>,
    /// Item-to-next-item step counts.
    pub transitions: BTreeMap<Transition, isize>,
    /// Live interactions per (item, context value).
    pub context_counts: BTreeMap<(ItemId, ContextId), isize>,
}

impl Snapshot {
    /// Sorts each item's neighbours best first (co-count descending, then item ascending).
    pub fn sort_neighbours(&mut self) {
        for list in self.neighbours.values_mut() {
            list.sort_by(|x, y| y.cocount.cmp(&x.cocount).then(x.item.cmp(&y.item)));
        }
    }
}
