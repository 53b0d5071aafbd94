//! The recommendation graph: two input collections in, every maintained statistic out.
//!
//! ```text
//! events (Interaction) ──┬─► item popularity: distinct users and event counts per (item, event type | ANY)
//!                        ├─► trend buckets: events per (item, time bucket)
//!                        └─► affinity: decayed user–item score (reduce per (user, item))
//! transitions (a, b, d) ───► counts of item b following item a d events later (next-item)
//! contexts (item, ctx) ─────► interactions per item in each context value (context-conditioned answers)
//! recent (user, entry) ────► recent windows (as given: the history recommendations start from)
//! cowindow (user, entry) ─┬─► window counts per item
//!                         └─► self-join per user → co-occurrence (a < b, mirrored) → top-K candidates by
//!                             co-count (TopNeighbours operator, by a)
//! ```
//!
//! Every diff is an integer count; floats only appear inside the affinity `reduce` as a deterministic
//! function of its sorted input, and leave the graph as an integer ([`Affinity`]), so insert-then-retract
//! always cancels exactly. Similarities are normalised where neighbours are read (see [`Neighbour`]).
//!
//! Everything is standard differential dataflow except [`neighbours`], a timely operator that keeps its
//! own state (see its docs for why): it relies on the epoch being totally ordered, as [`Epoch`] is.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// A count per `(item, event type)`.
pub type ItemTypeCounts<'s> = Coll<'s, ((ItemId, EventTypeId), isize)>;

/// The graph's inputs.
pub struct Inputs<'s> {
    /// Every interaction (`+1`), retracted (`-1`) when its user's data is deleted.
    pub events: Coll<'s, Interaction>,
    /// Changes to the users' recent windows (history), from [`crate::recent::RecentWindows`].
    pub recent: Coll<'s, (UserId, RecentEntry)>,
    /// Changes to the users' co-occurrence windows.
    pub cowindow: Coll<'s, (UserId, RecentEntry)>,
    /// Changes to the item-to-next-item steps in users' sequences, from [`crate::feed::EventFeed`].
    pub transitions: Coll<'s, Transition>,
    /// Changes to the users' history windows per event type (entries carry their type).
    pub typed_recent: Coll<'s, (UserId, RecentEntry)>,
    /// One update per context value of each live interaction.
    pub contexts: Coll<'s, (ItemId, ContextId)>,
}

/// The graph's outputs, each a consolidated collection whose updates say exactly how the statistic changed.
pub struct Outputs<'s> {
    /// Distinct users per `(item, event type)`, and per `(item, ANY_EVENT_TYPE)`.
    pub item_users: ItemTypeCounts<'s>,
    /// Events per `(item, event type)`, and per `(item, ANY_EVENT_TYPE)`.
    pub item_events: ItemTypeCounts<'s>,
    /// Events per `(item, trend bucket)`.
    pub trend: Coll<'s, ((ItemId, i64), isize)>,
    /// Each user's recent window.
    pub recent: Coll<'s, (UserId, RecentEntry)>,
    /// Users whose windows hold both items, for ordered pairs `a != b` with at least `min_cocount`.
    pub cooccurrence: Coll<'s, ((ItemId, ItemId), isize)>,
    /// Each item's top-K neighbour candidates by co-count.
    pub neighbours: Coll<'s, (ItemId, Neighbour)>,
    /// Users whose co-occurrence window holds each item (the normaliser of similarities).
    pub window_counts: Coll<'s, (ItemId, isize)>,
    /// Each user's decayed affinity for each item they interacted with.
    pub affinity: Coll<'s, ((UserId, ItemId), Affinity)>,
    /// How often item `b` followed item `a` a given number of events later, over all users' sequences.
    pub transitions: Coll<'s, (Transition, isize)>,
    /// Each user's history window per event type: the entries of type `t` are the newest items of type `t`.
    pub typed_recent: Coll<'s, (UserId, RecentEntry)>,
    /// Live interactions per `(item, context value)`.
    pub context_counts: Coll<'s, ((ItemId, ContextId), isize)>,
}

impl Outputs<'_> {
    /// Attaches `probe` to every output, for callers that only need to know when an epoch is complete.
    pub fn probe_all(self, probe: &timely::dataflow::operators::probe::Handle<Epoch>) {
        self.item_users.probe_with(probe);
        self.item_events.probe_with(probe);
        self.trend.probe_with(probe);
        self.recent.probe_with(probe);
        self.cooccurrence.probe_with(probe);
        self.neighbours.probe_with(probe);
        self.window_counts.probe_with(probe);
        self.affinity.probe_with(probe);
        self.transitions.probe_with(probe);
        self.typed_recent.probe_with(probe);
        self.context_counts.probe_with(probe);
    }
}

/// Builds the whole graph in `events`' scope.
pub fn build<'s>(inputs: Inputs<'s>, params: &Params) -> Outputs<'s> {
    let Inputs { events, recent, cowindow, transitions, typed_recent, contexts } = inputs;
    let (item_users, item_events) = popularity(events.clone());
    let trend = trend_buckets(events.clone(), params.trend_bucket_secs);
    let cowindow = if params.user_trim_percentile < 100.0 {
        without_extreme_users(cowindow, events.clone(), params.user_trim_percentile)
    } else {
        cowindow
    };
    let affinity = affinity(events, params.affinity.clone());
    let cooccurrence = cooccurrence(cowindow.clone(), params.min_cocount);
    let window_counts = cowindow.map(|(_, entry)| entry.item).count_total();
    let neighbours = neighbours(cooccurrence.clone(), params.neighbours);
    let transitions = transitions.count_total();
    let context_counts = contexts.count_total();
    Outputs {
        item_users,
        item_events,
        trend,
        recent,
        cooccurrence,
        neighbours,
        window_counts,
        affinity,
        transitions,
        typed_recent,
        context_counts,
    }
}

/// `cowindow` without the users whose event count is above the `percentile`-th percentile of all users'.
///
/// The percentile comes from a histogram of user activity (a handful of distinct counts, not one row per
/// user), reduced under a single key; only a change of the threshold touches every user.
pub fn without_extreme_users<'s>(
    cowindow: Coll<'s, (UserId, RecentEntry)>,
    events: Coll<'s, Interaction>,
    percentile: f64,
) -> Coll<'s, (UserId, RecentEntry)> {
    let activity = events.map(|e| e.user).count_total();
    let threshold = activity.clone().map(|(_, n)| n).count_total().map(|(n, users)| ((), (n, users))).reduce_named(
        "ActivityThreshold",
        move |_, histogram, output| {
            let counts = histogram.iter().map(|((n, users), diff)| (*n, *users * *diff));
            if let Some(t) = score::activity_threshold(counts, percentile) {
                output.push((t, 1));
            }
        },
    );
    let extreme = activity
        .map(|(user, n)| ((), (user, n)))
        .join_map(threshold, |_, (user, n), t| (*user, *n > *t))
        .filter(|(_, extreme)| *extreme)
        .map(|(user, _)| user);
    cowindow.antijoin(extreme)
}

/// Distinct users and event counts per item, per event type and over all types.
///
/// The `ANY_EVENT_TYPE` rows are derived from the per-type ones rather than by duplicating every event
/// under a second key: event counts sum the per-type counts' (few) changes, and distinct users per item
/// deduplicate the per-type distinct `(item, user)` rows, which are already fewer than the events. Distinct
/// uses `distinct_total` (one arrangement, no output trace) since epochs are totally ordered.
pub fn popularity<'s>(events: Coll<'s, Interaction>) -> (ItemTypeCounts<'s>, ItemTypeCounts<'s>) {
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
    events.map(move |e| (e.item, score::trend_bucket(e.timestamp, bucket_secs))).count_total()
}

/// Decayed user–item affinity, recomputed per (user, item) from its integer event counts.
pub fn affinity<'s>(events: Coll<'s, Interaction>, params: AffinityParams) -> Coll<'s, ((UserId, ItemId), Affinity)> {
    events.map(|e| ((e.user, e.item), (e.timestamp, e.event_type))).reduce_named(
        "Affinity",
        move |_key, input, output| {
            if let Some(a) = score::affinity(input.iter().map(|(v, n)| (*v, *n)), &params) {
                output.push((a, 1));
            }
        },
    )
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
/// pair in its arrangement) each time. Only the top-`k` lists are outputs, so [`TopNeighbours`] keeps each
/// item's partners in an ordered set (pairs sharded by `a`) and, once an epoch is complete, re-lists only
/// the items an update could have changed, emitting only the differences of their lists.
pub fn neighbours<'s>(cooccurrence: Coll<'s, ((ItemId, ItemId), isize)>, k: usize) -> Coll<'s, (ItemId, Neighbour)> {
    type PairUpdate = (((ItemId, ItemId), isize), Epoch, isize);
    type Out = Vec<((ItemId, Neighbour), Epoch, isize)>;
    let by_first = Exchange::new(|update: &PairUpdate| (update.0).0 .0.hashed());
    cooccurrence
        .inner
        .unary_frontier::<CapacityContainerBuilder<Out>, _, _, _>(
            by_first,
            "TopNeighbours",
            move |_capability, _info| {
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
                        // A count moving c → c+1 within the list retracts and re-lists its neighbour, and the
                        // boundary entry it pushes out is pulled back in: consolidating the time's changes
                        // before sending drops that churn (often most of them) from everything downstream.
                        let mut changed = Vec::new();
                        state.advance(changes, |record, diff| changed.push((record, diff)));
                        differential_dataflow::consolidation::consolidate(&mut changed);
                        let mut session = output.session(&capability);
                        for (record, diff) in changed {
                            session.give((record, time, diff));
                        }
                    }
                }
            },
        )
        .as_collection()
}

/// A change of one co-occurrence count: `((a, b), count)` with its diff.
type PairChange = (((ItemId, ItemId), isize), isize);

/// One worker's share of the neighbour computation: for each owned item `a`, its partners ordered best
/// first, and the boundary of its top-`k` (the `k`-th entry, once there are `k`).
///
/// Each update retracts or inserts one `(co-count, partner)` entry in an ordered set and emits at most two
/// changes of the top-`k` list (the entry itself, and the one it pushes out or pulls in across the boundary),
/// all in `O(log n)`: the work per epoch follows the number of updates, not the number of pairs, although
/// hot items co-occur with thousands of items and are touched in nearly every epoch.
struct TopNeighbours {
    k: usize,
    /// Item id → local slot of an owned item.
    index: HashMap<ItemId, u32, BuildHasherDefault<IdHasher>>,
    ids: Vec<ItemId>,
    /// Per owned item: partners ordered by co-count descending, then item id ascending.
    partners: Vec<BTreeSet<Entry>>,
    /// Per owned item: its `k`-th entry when it has at least `k` partners (the last one listed).
    boundary: Vec<Option<Entry>>,
}

/// A partner in ranking order: higher co-count first, then lower item id.
type Entry = (Reverse<u32>, ItemId);

fn listed((Reverse(cocount), item): Entry) -> Neighbour {
    Neighbour { item, cocount }
}

impl TopNeighbours {
    fn new(k: usize) -> Self {
        TopNeighbours { k, index: HashMap::default(), ids: Vec::new(), partners: Vec::new(), boundary: Vec::new() }
    }

    fn slot(&mut self, item: ItemId) -> usize {
        if let Some(&local) = self.index.get(&item) {
            return local as usize;
        }
        let local = self.ids.len();
        self.index.insert(item, u32::try_from(local).expect("fewer than 2^32 items"));
        self.ids.push(item);
        self.partners.push(BTreeSet::new());
        self.boundary.push(None);
        local
    }

    /// Applies one complete time's updates and reports the changes of the top-`k` lists to `emit`.
    ///
    /// The input is a function-like collection (one `(key, count)` with multiplicity 1 per live key), so each
    /// update retracts or inserts exactly one entry; the emitted changes add up to the lists' difference.
    fn advance(&mut self, pairs: Vec<PairChange>, mut emit: impl FnMut((ItemId, Neighbour), isize)) {
        if self.k == 0 {
            return;
        }
        for (((a, b), c), diff) in pairs {
            let slot = self.slot(a);
            let entry = (Reverse(u32::try_from(c).expect("co-counts are non-negative and below 2^32")), b);
            if diff > 0 {
                self.insert(slot, entry, &mut emit);
            } else {
                self.remove(slot, entry, &mut emit);
            }
        }
    }

    fn insert(&mut self, slot: usize, entry: Entry, emit: &mut impl FnMut((ItemId, Neighbour), isize)) {
        let (a, set) = (self.ids[slot], &mut self.partners[slot]);
        set.insert(entry);
        match self.boundary[slot] {
            // Fewer than k before: everything is listed.
            None => {
                emit((a, listed(entry)), 1);
                if set.len() == self.k {
                    self.boundary[slot] = set.last().copied();
                }
            }
            // It enters the list and pushes the old k-th entry out.
            Some(last) if entry < last => {
                emit((a, listed(entry)), 1);
                emit((a, listed(last)), -1);
                self.boundary[slot] = set.range(..last).next_back().copied();
            }
            Some(_) => {}
        }
    }

    fn remove(&mut self, slot: usize, entry: Entry, emit: &mut impl FnMut((ItemId, Neighbour), isize)) {
        let (a, set) = (self.ids[slot], &mut self.partners[slot]);
        let was_listed = self.boundary[slot].is_none_or(|last| entry <= last);
        set.remove(&entry);
        if !was_listed {
            return;
        }
        emit((a, listed(entry)), -1);
        if let Some(last) = self.boundary[slot] {
            // The first entry past the old boundary moves up into the list, if there is one.
            let next = set.range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded)).next().copied();
            if let Some(next) = next {
                emit((a, listed(next)), 1);
                self.boundary[slot] = Some(next);
            } else {
                self.boundary[slot] = None;
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
