//! The recommendation graph: two input collections in, every maintained statistic out.
//!
//! ```text
//! events (Interaction) ──┬─► item popularity: distinct users and event counts per (item, event type | ANY)
//!                        ├─► trend buckets: events per (item, time bucket)
//!                        └─► affinity: decayed user–item score (reduce per (user, item))
//! recent (user, entry) ──┬─► recent windows (as given)
//!                        ├─► window counts per item
//!                        └─► self-join per user → co-occurrence (a < b, mirrored) → top-K candidates by
//!                            co-count (TopNeighbours operator, by a)
//! ```
//!
//! Every diff is an integer count; floats only appear inside the affinity `reduce` as a deterministic
//! function of its sorted input, and leave the graph as an integer ([`Affinity`]), so insert-then-retract
//! always cancels exactly. Similarities are normalised where neighbours are read (see [`Neighbour`]).
//!
//! Everything is standard differential dataflow except [`neighbours`], a timely operator that keeps its
//! own state (see its docs for why): it relies on the epoch being totally ordered, as [`Epoch`] is.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use differential_dataflow::collection::AsCollection;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use differential_dataflow::VecCollection;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

use crate::score;
use crate::types::*;

/// A collection at epoch granularity.
pub type Coll<'s, D> = VecCollection<'s, Epoch, D, isize>;

/// The graph's inputs.
pub struct Inputs<'s> {
    /// Every interaction (`+1`), retracted (`-1`) when its user's data is deleted.
    pub events: Coll<'s, Interaction>,
    /// Changes to the users' recent windows, from [`crate::recent::RecentWindows`].
    pub recent: Coll<'s, (UserId, RecentEntry)>,
}

/// The graph's outputs, each a consolidated collection whose updates say exactly how the statistic changed.
pub struct Outputs<'s> {
    /// Distinct users per `(item, event type)`, and per `(item, ANY_EVENT_TYPE)`.
    pub item_users: Coll<'s, ((ItemId, EventTypeId), isize)>,
    /// Events per `(item, event type)`, and per `(item, ANY_EVENT_TYPE)`.
    pub item_events: Coll<'s, ((ItemId, EventTypeId), isize)>,
    /// Events per `(item, trend bucket)`.
    pub trend: Coll<'s, ((ItemId, i64), isize)>,
    /// Each user's recent window.
    pub recent: Coll<'s, (UserId, RecentEntry)>,
    /// Users whose windows hold both items, for ordered pairs `a != b` with at least `min_cocount`.
    pub cooccurrence: Coll<'s, ((ItemId, ItemId), isize)>,
    /// Each item's top-K neighbour candidates by co-count.
    pub neighbours: Coll<'s, (ItemId, Neighbour)>,
    /// Users whose recent window holds each item (the normaliser of similarities).
    pub window_counts: Coll<'s, (ItemId, isize)>,
    /// Each user's decayed affinity for each item they interacted with.
    pub affinity: Coll<'s, ((UserId, ItemId), Affinity)>,
}

/// Builds the whole graph in `events`' scope.
pub fn build<'s>(inputs: Inputs<'s>, params: &Params) -> Outputs<'s> {
    let Inputs { events, recent } = inputs;
    let (item_users, item_events) = popularity(events.clone());
    let trend = trend_buckets(events.clone(), params.trend_bucket_secs);
    let affinity = affinity(events, params.affinity.clone());
    let cooccurrence = cooccurrence(recent.clone(), params.min_cocount);
    let window_counts = recent.clone().map(|(_, entry)| entry.item).count_total();
    let neighbours = neighbours(cooccurrence.clone(), params.neighbours);
    Outputs { item_users, item_events, trend, recent, cooccurrence, neighbours, window_counts, affinity }
}

/// Distinct users and event counts per item, per event type and over all types.
///
/// The `ANY_EVENT_TYPE` rows are derived from the per-type ones rather than by duplicating every event
/// under a second key: event counts sum the per-type counts' (few) changes, and distinct users per item
/// deduplicate the per-type distinct `(item, user)` rows, which are already fewer than the events. Distinct
/// uses `distinct_total` (one arrangement, no output trace) since epochs are totally ordered.
pub fn popularity<'s>(
    events: Coll<'s, Interaction>,
) -> (Coll<'s, ((ItemId, EventTypeId), isize)>, Coll<'s, ((ItemId, EventTypeId), isize)>) {
    let per_type_events = events.clone().map(|e| (e.item, e.event_type)).count_total();
    let item_events = per_type_events.clone().concat(sum_over_types(per_type_events));

    let type_users = events.map(|e| ((e.item, e.event_type), e.user)).distinct_total();
    let any_users = type_users
        .clone()
        .map(|((item, _), user)| (item, user))
        .distinct_total()
        .map(|(item, _)| (item, ANY_EVENT_TYPE))
        .count_total();
    let item_users = type_users.map(|(key, _)| key).count_total().concat(any_users);
    (item_users, item_events)
}

/// `(item, ANY_EVENT_TYPE)` totals of per-type counts: each count change `±((item, type), n)` contributes
/// `±n` to the item's total, so only the per-type changes are re-counted, not the events.
fn sum_over_types<'s>(per_type: Coll<'s, ((ItemId, EventTypeId), isize)>) -> Coll<'s, ((ItemId, EventTypeId), isize)> {
    per_type.explode(|((item, _), n)| Some(((item, ANY_EVENT_TYPE), n))).count_total()
}

/// Events per (item, time bucket of width `bucket_secs`).
pub fn trend_buckets<'s>(events: Coll<'s, Interaction>, bucket_secs: Seconds) -> Coll<'s, ((ItemId, i64), isize)> {
    events
        .map(move |e| (e.item, score::trend_bucket(e.timestamp, bucket_secs)))
        .count_total()
}

/// Decayed user–item affinity, recomputed per (user, item) from its integer event counts.
pub fn affinity<'s>(events: Coll<'s, Interaction>, params: AffinityParams) -> Coll<'s, ((UserId, ItemId), Affinity)> {
    events
        .map(|e| ((e.user, e.item), (e.timestamp, e.event_type)))
        .reduce_named("Affinity", move |_key, input, output| {
            if let Some(a) = score::affinity(input.iter().map(|(v, n)| (*v, *n)), &params) {
                output.push((a, 1));
            }
        })
}

/// Co-occurrence counts of ordered item pairs within users' recent windows.
///
/// The count is symmetric (`c(a, b) = c(b, a)`), so only pairs with `a < b` are counted and the result is
/// mirrored afterwards: this halves the self-join's output that `count_total` has to sort and merge, the
/// largest remaining volume in the graph (every window change pairs with every other entry of the window).
pub fn cooccurrence<'s>(
    recent: Coll<'s, (UserId, RecentEntry)>,
    min_cocount: isize,
) -> Coll<'s, ((ItemId, ItemId), isize)> {
    let windows = recent.map(|(user, entry)| (user, entry.item)).arrange_by_key_named("Arrange: Windows");
    windows
        .clone()
        .join_core(windows, |_user, a, b| (a < b).then_some((*a, *b)))
        .count_total()
        .filter(move |(_, count)| *count >= min_cocount)
        .flat_map(|((a, b), count)| [((a, b), count), ((b, a), count)])
}

/// Top-`k` neighbour candidates per item by co-count (ties to the lower item id).
///
/// Why not `reduce`: a hot item co-occurs with thousands of items and its co-counts change in nearly every
/// epoch, so a `reduce` would re-read and re-sort its whole group (and keep a second, sorted copy of every
/// pair in its arrangement) each time. Only the top-`k` lists are outputs, so [`TopNeighbours`] keeps the
/// co-counts as plain sorted vectors (pairs sharded by `a`) and, once an epoch is complete, re-ranks exactly
/// the items whose co-counts changed, emitting only the differences of their lists.
pub fn neighbours<'s>(cooccurrence: Coll<'s, ((ItemId, ItemId), isize)>, k: usize) -> Coll<'s, (ItemId, Neighbour)> {
    type PairUpdate = (((ItemId, ItemId), isize), Epoch, isize);
    type Out = Vec<((ItemId, Neighbour), Epoch, isize)>;
    let by_first = Exchange::new(|update: &PairUpdate| (update.0).0 .0.hashed());
    cooccurrence
        .inner
        .unary_frontier::<CapacityContainerBuilder<Out>, _, _, _>(by_first, "TopNeighbours", move |_capability, _info| {
            let mut state = TopNeighbours::new(k);
            // Updates not yet complete, by time, with a capability to emit at that time.
            let mut pending: BTreeMap<Epoch, (Capability<Epoch>, Vec<PairChange>)> = BTreeMap::new();
            move |(pairs, frontier), output| {
                pairs.for_each(|cap, data| {
                    for (record, time, diff) in data.drain(..) {
                        let slot = pending.entry(time).or_insert_with(|| (cap.delayed(&time, 0), Vec::new()));
                        slot.1.push((record, diff));
                    }
                });
                // Times are totally ordered: apply every completed time, oldest first.
                while let Some(entry) = pending.first_entry() {
                    let time = *entry.key();
                    if frontier.less_equal(&time) {
                        break;
                    }
                    let (capability, changes) = entry.remove();
                    let mut session = output.session(&capability);
                    state.advance(changes, |record, diff| session.give((record, time, diff)));
                }
            }
        })
        .as_collection()
}

/// A change of one co-occurrence count: `((a, b), count)` with its diff.
type PairChange = (((ItemId, ItemId), isize), isize);

/// One worker's share of the neighbour computation: the co-counts of the pairs `(a, b)` whose `a` it owns,
/// and the top-`k` list last emitted for each owned `a`.
///
/// Items are interned to dense local indices so that merging updates indexes vectors instead of hashing.
struct TopNeighbours {
    k: usize,
    /// Local index → item id, and back.
    ids: Vec<ItemId>,
    index: HashMap<ItemId, u32, BuildHasherDefault<IdHasher>>,
    /// Per owned `a`: `(local b, co-count)` sorted by local `b`, only pairs present in `cooccurrence`.
    partners: Vec<Vec<(u32, u32)>>,
    /// Per owned `a`: the list currently emitted, best first.
    top: Vec<Vec<Neighbour>>,
    /// Scratch: the time's pair updates as `(local a, local b, Δco-count, Δpresence)`, merges and ranking.
    updates: Vec<(u32, u32, isize, isize)>,
    merged: Vec<(u32, u32)>,
    candidates: Vec<(Reverse<u32>, ItemId)>,
}

impl TopNeighbours {
    fn new(k: usize) -> Self {
        TopNeighbours {
            k,
            ids: Vec::new(),
            index: HashMap::default(),
            partners: Vec::new(),
            top: Vec::new(),
            updates: Vec::new(),
            merged: Vec::new(),
            candidates: Vec::new(),
        }
    }

    fn intern(&mut self, item: ItemId) -> u32 {
        if let Some(&local) = self.index.get(&item) {
            return local;
        }
        let local = u32::try_from(self.ids.len()).expect("fewer than 2^32 items");
        self.index.insert(item, local);
        self.ids.push(item);
        self.partners.push(Vec::new());
        self.top.push(Vec::new());
        local
    }

    /// Applies one complete time's updates and reports the changes of the top-`k` lists to `emit`.
    ///
    /// The input is a function-like collection (one `(key, count)` with multiplicity 1 per live key), so a
    /// key's count is `Σ count · diff` over its updates and its presence is `Σ diff`, whatever the order.
    fn advance(&mut self, pairs: Vec<PairChange>, mut emit: impl FnMut((ItemId, Neighbour), isize)) {
        let mut updates = std::mem::take(&mut self.updates);
        updates.clear();
        for (((a, b), c), diff) in pairs {
            let (a, b) = (self.intern(a), self.intern(b));
            updates.push((a, b, c * diff, diff));
        }
        updates.sort_unstable_by_key(|&(a, b, _, _)| (a, b));
        let mut start = 0;
        while start < updates.len() {
            let a = updates[start].0;
            let end = start + updates[start..].partition_point(|u| u.0 == a);
            self.merge(a, &updates[start..end]);
            self.rerank(a as usize, &mut emit);
            start = end;
        }
        self.updates = updates;
    }

    /// Merges one owned item's updates (sorted by local `b`) into its partner list.
    fn merge(&mut self, a: u32, updates: &[(u32, u32, isize, isize)]) {
        let a = a as usize;
        // Merge into a scratch vector and copy back, so that each list keeps (and reuses) its own allocation.
        let mut merged = std::mem::take(&mut self.merged);
        merged.clear();
        let mut old = self.partners[a].iter().copied().peekable();
        let mut i = 0;
        while i < updates.len() {
            let b = updates[i].1;
            let (mut delta_c, mut delta_present) = (0isize, 0isize);
            while i < updates.len() && updates[i].1 == b {
                delta_c += updates[i].2;
                delta_present += updates[i].3;
                i += 1;
            }
            while let Some(&(ob, oc)) = old.peek() {
                if ob >= b {
                    break;
                }
                merged.push((ob, oc));
                old.next();
            }
            let (mut c, mut present) = (0isize, 0isize);
            if let Some(&(ob, oc)) = old.peek() {
                if ob == b {
                    (c, present) = (oc as isize, 1);
                    old.next();
                }
            }
            c += delta_c;
            present += delta_present;
            assert!(present == 0 || present == 1, "a co-occurrence pair has one count");
            if present == 1 {
                merged.push((b, u32::try_from(c).expect("co-counts are non-negative and below 2^32")));
            } else {
                debug_assert_eq!(c, 0, "a retracted pair retracts its count");
            }
        }
        merged.extend(old);
        self.partners[a].clear();
        self.partners[a].extend_from_slice(&merged);
        self.merged = merged;
    }

    /// Recomputes an owned item's top-`k` list and emits how it changed.
    fn rerank(&mut self, a: usize, emit: &mut impl FnMut((ItemId, Neighbour), isize)) {
        self.candidates.clear();
        for &(b, c) in &self.partners[a] {
            self.candidates.push((Reverse(c), self.ids[b as usize]));
        }
        // Highest co-count first, then lowest item id: the same order the reference model uses.
        if self.candidates.len() > self.k {
            if self.k == 0 {
                self.candidates.clear();
            } else {
                self.candidates.select_nth_unstable(self.k - 1);
                self.candidates.truncate(self.k);
            }
        }
        self.candidates.sort_unstable();
        let new: Vec<Neighbour> =
            self.candidates.iter().map(|&(Reverse(cocount), item)| Neighbour { item, cocount }).collect();
        let old = std::mem::replace(&mut self.top[a], new);
        let item = self.ids[a];
        for n in &old {
            if !self.top[a].contains(n) {
                emit((item, *n), -1);
            }
        }
        for n in &self.top[a] {
            if !old.contains(n) {
                emit((item, *n), 1);
            }
        }
    }
}

/// Hasher for interning dense integer ids: one multiplication (the std SipHash dominated per-pair work).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
