//! The serving index: the graph's outputs, published by the workers into concurrent maps that request
//! threads read without touching the dataflow.
//!
//! Each output update `(data, diff)` is applied as it leaves the graph (see `workers.rs`). Every key's
//! updates come from the one worker that owns the key, in time order, so a map can hold the current value
//! directly; multi-valued outputs keep `(value, multiplicity)` lists and readers see the positive ones.
//! The index is as fresh as the last applied update; the published frontier (see [`super::Engine`]) says
//! up to which epoch it is complete.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;
use dataflows::{Affinity, EventTypeId, ItemId, NeighbourList, RecentEntry, UserId};
use rustc_hash::{FxBuildHasher, FxHashMap};

/// A concurrent map keyed by dense ids the engine assigns (never by strings from requests), so a fast
/// non-keyed hash is safe: the default SipHash was a visible share of applying output updates.
type IdMap<K, V> = DashMap<K, V, FxBuildHasher>;

/// A multiset of values under one key: values with their multiplicities.
type Multi<V> = Vec<(V, isize)>;

fn apply_multi<V: PartialEq>(list: &mut Multi<V>, value: V, diff: isize) {
    if let Some(pos) = list.iter().position(|(v, _)| *v == value) {
        list[pos].1 += diff;
        if list[pos].1 == 0 {
            list.swap_remove(pos);
        }
    } else {
        list.push((value, diff));
    }
}

/// Applies a window change to one of the per-user window maps, dropping users whose window empties.
fn apply_window(windows: &IdMap<UserId, Multi<RecentEntry>>, user: UserId, entry: RecentEntry, diff: isize) {
    let mut list = windows.entry(user).or_default();
    apply_multi(&mut list, entry, diff);
    let empty = list.is_empty();
    drop(list);
    if empty {
        windows.remove_if(&user, |_, l| l.is_empty());
    }
}

/// Items ranked by distinct users, per event type.
type PopularityRanks = HashMap<EventTypeId, BTreeSet<(Reverse<i64>, ItemId)>>;

/// Everything queries read.
#[derive(Default)]
pub struct ServingIndex {
    item_users: IdMap<(ItemId, EventTypeId), i64>,
    item_events: IdMap<(ItemId, EventTypeId), i64>,
    popular: Mutex<PopularityRanks>,
    trend: Mutex<BTreeMap<i64, FxHashMap<ItemId, i64>>>,
    recent: IdMap<UserId, Multi<RecentEntry>>,
    /// Per user, the history windows of every event type (entries carry their type).
    typed_recent: IdMap<UserId, Multi<RecentEntry>>,
    /// Per item, its candidates best first (co-count descending, then item id), replaced whole by the one
    /// worker that owns the item whenever it changes: readers share the list (an `Arc`) without copying or
    /// sorting it, which they do for every history item of every query.
    neighbours: IdMap<ItemId, NeighbourList>,
    affinity: IdMap<UserId, FxHashMap<ItemId, Multi<Affinity>>>,
    /// Per item `a`: how often each `(b, distance)` followed it.
    transitions: IdMap<ItemId, FxHashMap<(ItemId, u8), i64>>,
    /// Window count per dense item id: read for every candidate of every query, so a plain array.
    window_counts: std::sync::RwLock<Vec<AtomicI64>>,
    clock: AtomicI64,
    /// Live interactions per (item, context value).
    contexts: IdMap<(ItemId, dataflows::ContextId), i64>,
    /// Live interactions per context value, over all items.
    context_totals: IdMap<dataflows::ContextId, i64>,
    /// Live interactions in all.
    total_events: AtomicI64,
}

impl ServingIndex {
    /// Applies a change of an item's distinct-user count.
    pub fn apply_item_users(&self, key: (ItemId, EventTypeId), count: isize, diff: isize) {
        let count = count as i64;
        let mut popular = self.popular.lock().unwrap();
        let ranked = popular.entry(key.1).or_default();
        if diff > 0 {
            ranked.insert((Reverse(count), key.0));
            self.item_users.insert(key, count);
        } else {
            ranked.remove(&(Reverse(count), key.0));
            self.item_users.remove_if(&key, |_, c| *c == count);
        }
    }

    /// Applies a change of an item's event count.
    pub fn apply_item_events(&self, key: (ItemId, EventTypeId), count: isize, diff: isize) {
        let count = count as i64;
        if key.1 == dataflows::ANY_EVENT_TYPE {
            // Retractions and insertions of a count arrive in either order; their weighted sum is exact.
            self.total_events.fetch_add(count * diff as i64, std::sync::atomic::Ordering::Relaxed);
        }
        if diff > 0 {
            self.item_events.insert(key, count);
        } else {
            self.item_events.remove_if(&key, |_, c| *c == count);
        }
    }

    /// Applies a change of an item's count in a trend bucket.
    pub fn apply_trend(&self, (item, bucket): (ItemId, i64), count: isize, diff: isize) {
        let mut trend = self.trend.lock().unwrap();
        let counts = trend.entry(bucket).or_default();
        if diff > 0 {
            counts.insert(item, count as i64);
        } else if counts.get(&item) == Some(&(count as i64)) {
            counts.remove(&item);
            if counts.is_empty() {
                trend.remove(&bucket);
            }
        }
    }

    /// Applies a change of a user's recent window.
    pub fn apply_recent(&self, user: UserId, entry: RecentEntry, diff: isize) {
        apply_window(&self.recent, user, entry, diff);
    }

    /// Applies a change of a user's per-event-type history window.
    pub fn apply_typed_recent(&self, user: UserId, entry: RecentEntry, diff: isize) {
        apply_window(&self.typed_recent, user, entry, diff);
    }

    /// A user's newest items of one event type, oldest first.
    pub fn recent_of_type(&self, user: UserId, event_type: EventTypeId) -> Vec<RecentEntry> {
        let mut entries: Vec<RecentEntry> = self
            .typed_recent
            .get(&user)
            .map(|l| l.iter().filter(|(e, d)| *d > 0 && e.event_type == event_type).map(|(e, _)| *e).collect())
            .unwrap_or_default();
        entries.sort();
        entries
    }

    /// Replaces an item's neighbour list with the one its worker published (an empty list removes it).
    /// Readers holding the old list keep it unchanged.
    pub fn replace_neighbours(&self, item: ItemId, list: NeighbourList) {
        if list.is_empty() {
            self.neighbours.remove(&item);
        } else {
            self.neighbours.insert(item, list);
        }
    }

    /// Applies a change of an item's interaction count in a context value.
    pub fn apply_context(&self, key: (ItemId, dataflows::ContextId), count: isize, diff: isize) {
        let count = count as i64;
        *self.context_totals.entry(key.1).or_default() += count * diff as i64;
        if diff > 0 {
            self.contexts.insert(key, count);
        } else {
            self.contexts.remove_if(&key, |_, c| *c == count);
        }
    }

    /// Live interactions with `item` in context `context`.
    pub fn context_count(&self, item: ItemId, context: dataflows::ContextId) -> i64 {
        self.contexts.get(&(item, context)).map(|c| *c).unwrap_or(0)
    }

    /// The share of all live interactions that happened in `context` (0 when there are none).
    pub fn context_share(&self, context: dataflows::ContextId) -> f64 {
        let total = self.total_events.load(std::sync::atomic::Ordering::Relaxed);
        let in_context = self.context_totals.get(&context).map(|c| *c).unwrap_or(0);
        if total <= 0 {
            0.0
        } else {
            in_context as f64 / total as f64
        }
    }

    /// Applies a change of a transition count.
    pub fn apply_transition(&self, (a, b, distance): dataflows::Transition, count: isize, diff: isize) {
        let mut next = self.transitions.entry(a).or_default();
        if diff > 0 {
            next.insert((b, distance), count as i64);
        } else if next.get(&(b, distance)) == Some(&(count as i64)) {
            next.remove(&(b, distance));
        }
        let empty = next.is_empty();
        drop(next);
        if empty {
            self.transitions.remove_if(&a, |_, m| m.is_empty());
        }
    }

    /// Calls `f` with every `(next item, distance, count)` recorded after `item`.
    pub fn for_each_transition(&self, item: ItemId, mut f: impl FnMut(ItemId, u8, i64)) {
        if let Some(next) = self.transitions.get(&item) {
            for (&(b, d), &c) in next.iter() {
                f(b, d, c);
            }
        }
    }

    /// Applies a change of the number of users whose window holds an item.
    pub fn apply_window_count(&self, item: ItemId, count: isize, diff: isize) {
        let slot = item as usize;
        if self.window_counts.read().unwrap().len() <= slot {
            let mut counts = self.window_counts.write().unwrap();
            while counts.len() <= slot {
                counts.push(AtomicI64::new(0));
            }
        }
        let counts = self.window_counts.read().unwrap();
        if diff > 0 {
            counts[slot].store(count as i64, Ordering::Relaxed);
        } else {
            let _ = counts[slot].compare_exchange(count as i64, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Users whose recent window holds each of `items` (0 for unknown items), in order.
    pub fn window_counts(&self, items: impl Iterator<Item = ItemId>) -> Vec<i64> {
        let counts = self.window_counts.read().unwrap();
        items.map(|i| counts.get(i as usize).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)).collect()
    }

    /// Applies a change of a user's affinity for an item.
    pub fn apply_affinity(&self, (user, item): (UserId, ItemId), affinity: Affinity, diff: isize) {
        let mut items = self.affinity.entry(user).or_default();
        let list = items.entry(item).or_default();
        apply_multi(list, affinity, diff);
        if list.is_empty() {
            items.remove(&item);
        }
        let empty = items.is_empty();
        drop(items);
        if empty {
            self.affinity.remove_if(&user, |_, m| m.is_empty());
        }
    }

    /// Moves the event-time clock forward (the newest event time seen).
    pub fn observe_time(&self, timestamp: i64) {
        self.clock.fetch_max(timestamp, Ordering::Relaxed);
    }

    /// The newest event time seen, or 0.
    pub fn clock(&self) -> i64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Distinct users of an item for an event type (or `ANY_EVENT_TYPE`).
    pub fn item_users(&self, item: ItemId, event_type: EventTypeId) -> i64 {
        self.item_users.get(&(item, event_type)).map(|c| *c).unwrap_or(0)
    }

    /// Events of an item for an event type (or `ANY_EVENT_TYPE`).
    pub fn item_events(&self, item: ItemId, event_type: EventTypeId) -> i64 {
        self.item_events.get(&(item, event_type)).map(|c| *c).unwrap_or(0)
    }

    /// Items by distinct users, most first (ties to the lower id), skipping those `skip` rejects.
    pub fn popular(
        &self,
        event_type: EventTypeId,
        n: usize,
        mut skip: impl FnMut(ItemId) -> bool,
    ) -> Vec<(ItemId, i64)> {
        let popular = self.popular.lock().unwrap();
        popular
            .get(&event_type)
            .map(|ranked| {
                ranked.iter().filter(|(_, item)| !skip(*item)).take(n).map(|(Reverse(c), item)| (*item, *c)).collect()
            })
            .unwrap_or_default()
    }

    /// Walks items by distinct users, most first (ties to the lower id), until `visit` returns false: the
    /// back-fill of a filtered answer stops as soon as it has enough items, however long the catalogue.
    pub fn walk_popular(&self, event_type: EventTypeId, mut visit: impl FnMut(ItemId, i64) -> bool) {
        let popular = self.popular.lock().unwrap();
        if let Some(ranked) = popular.get(&event_type) {
            for (Reverse(count), item) in ranked.iter() {
                if !visit(*item, *count) {
                    break;
                }
            }
        }
    }

    /// The distinct-user count at a popularity rank (0 = most popular), for an event type or ANY.
    pub fn popularity_at_rank(&self, event_type: EventTypeId, rank: usize) -> Option<i64> {
        let popular = self.popular.lock().unwrap();
        popular.get(&event_type).and_then(|ranked| ranked.iter().nth(rank)).map(|(Reverse(c), _)| *c)
    }

    /// Number of items with a popularity count for an event type or ANY.
    pub fn ranked_items(&self, event_type: EventTypeId) -> usize {
        self.popular.lock().unwrap().get(&event_type).map(|r| r.len()).unwrap_or(0)
    }

    /// The per-item counts of the trend buckets `from..=to`.
    pub fn trend_buckets(&self, from: i64, to: i64) -> BTreeMap<i64, HashMap<ItemId, i64>> {
        let trend = self.trend.lock().unwrap();
        trend.range(from..=to).map(|(b, m)| (*b, m.iter().map(|(i, c)| (*i, *c)).collect())).collect()
    }

    /// A user's recent window, oldest first.
    pub fn recent(&self, user: UserId) -> Vec<RecentEntry> {
        let mut entries: Vec<RecentEntry> = self
            .recent
            .get(&user)
            .map(|l| l.iter().filter(|(_, d)| *d > 0).map(|(e, _)| *e).collect())
            .unwrap_or_default();
        entries.sort();
        entries
    }

    /// An item's neighbour candidates (most co-occurring first, ties to the lower id).
    pub fn neighbours(&self, item: ItemId) -> NeighbourList {
        self.neighbours.get(&item).map(|l| l.clone()).unwrap_or_else(|| NeighbourList::from([]))
    }

    /// A user's affinity for every item they interacted with (the items they have seen).
    pub fn affinities(&self, user: UserId) -> HashMap<ItemId, Affinity> {
        self.affinity
            .get(&user)
            .map(|m| {
                m.iter().filter_map(|(item, l)| l.iter().find(|(_, d)| *d > 0).map(|(a, _)| (*item, *a))).collect()
            })
            .unwrap_or_default()
    }

    /// Calls `f` with every user and the items they interacted with (a snapshot per user), for training
    /// models outside the dataflow.
    pub fn for_each_history(&self, mut f: impl FnMut(UserId, &mut dyn Iterator<Item = ItemId>)) {
        for entry in self.affinity.iter() {
            let mut items = entry.value().iter().filter(|(_, l)| l.iter().any(|(_, d)| *d > 0)).map(|(i, _)| *i);
            f(*entry.key(), &mut items);
        }
    }

    /// Sizes of the index, for `/v1/stats`.
    pub fn sizes(&self) -> IndexSizes {
        IndexSizes {
            users_with_history: self.affinity.len(),
            users_with_window: self.recent.len(),
            items_with_neighbours: self.neighbours.len(),
            items_counted: self.item_users.len(),
        }
    }
}

/// Sizes of the serving index.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IndexSizes {
    /// Users with at least one interaction.
    pub users_with_history: usize,
    /// Users with a recent window.
    pub users_with_window: usize,
    /// Items that have neighbours.
    pub items_with_neighbours: usize,
    /// (item, event type) popularity entries.
    pub items_counted: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataflows::Neighbour;

    #[test]
    fn neighbour_lists_are_replaced_whole_and_readers_keep_theirs() {
        let index = ServingIndex::default();
        let first: NeighbourList = vec![Neighbour { item: 2, cocount: 5 }, Neighbour { item: 3, cocount: 1 }].into();
        index.replace_neighbours(1, first.clone());
        let held = index.neighbours(1);
        index.replace_neighbours(1, vec![Neighbour { item: 3, cocount: 6 }].into());
        assert_eq!(&*held, &*first, "a reader's list does not change under it");
        assert_eq!(&*index.neighbours(1), &[Neighbour { item: 3, cocount: 6 }]);
        index.replace_neighbours(1, NeighbourList::from([]));
        assert!(index.neighbours(1).is_empty());
        assert_eq!(index.sizes().items_with_neighbours, 0);
    }
}
