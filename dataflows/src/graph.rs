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
//!                         └─► UserWindows (by user): pair changes, both directions
//!                             → PartnerLists (by first item): co-occurrence counts, top-K candidates
//! ```
//!
//! Every diff is an integer count; floats only appear inside the affinity `reduce` as a deterministic
//! function of its sorted input, and leave the graph as an integer ([`Affinity`]), so insert-then-retract
//! always cancels exactly. Similarities are normalised where neighbours are read (see [`Neighbour`]).
//!
//! Everything is standard differential dataflow except [`cooccurrence`], two timely operators that keep
//! their own state ([`crate::partners`] says why): they rely on the epoch being totally ordered, as
//! [`Epoch`] is.

use differential_dataflow::collection::AsCollection;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::VecCollection;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};

use crate::keyed::{count_by_key, distinct_by_key, fold_by_key, Pending};
use crate::partners::{PartnerLists, UserWindows};
use crate::score;
use crate::types::*;

/// A collection at epoch granularity.
pub type Coll<'s, D> = VecCollection<'s, Epoch, D, isize>;

/// A count per `(item, event type)`.
pub type ItemTypeCounts<'s> = Coll<'s, ((ItemId, EventTypeId), isize)>;

/// Co-occurrence counts per ordered item pair.
pub type PairCounts<'s> = Coll<'s, ((ItemId, ItemId), isize)>;

/// Replacements of items' whole neighbour lists: `(item, list)` at the time the list became `list`.
pub type NeighbourLists<'s> = timely::dataflow::StreamVec<'s, Epoch, (ItemId, NeighbourList)>;

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
    pub cooccurrence: PairCounts<'s>,
    /// Each item's top-K neighbour candidates by co-count (unless `Params::publish_neighbour_changes` is off).
    pub neighbours: Coll<'s, (ItemId, Neighbour)>,
    /// Each item's top-K neighbour candidates, the whole list each time it changes (if
    /// `Params::publish_neighbour_lists`): not a collection, a stream of replacements in time order.
    pub neighbour_lists: NeighbourLists<'s>,
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
        timely::dataflow::operators::Probe::probe_with(self.neighbour_lists, probe);
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
    let window_counts = count_by_key(cowindow.clone().map(|(_, entry)| entry.item), "WindowCounts");
    let Cooccurrence { pair_counts: cooccurrence, neighbours, neighbour_lists } = cooccurrence(cowindow, params);
    let transitions = count_by_key(transitions, "Transitions");
    let context_counts = count_by_key(contexts, "ContextCounts");
    Outputs {
        item_users,
        item_events,
        trend,
        recent,
        cooccurrence,
        neighbours,
        neighbour_lists,
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
/// and counts are hash-map tallies ([`count_by_key`], [`distinct_by_key`]) since epochs are totally ordered.
pub fn popularity<'s>(events: Coll<'s, Interaction>) -> (ItemTypeCounts<'s>, ItemTypeCounts<'s>) {
    let per_type_events = count_by_key(events.clone().map(|e| (e.item, e.event_type)), "ItemEvents");
    let item_events = per_type_events.clone().concat(sum_over_types(per_type_events));

    let type_users = distinct_by_key(events.map(|e| ((e.item, e.event_type), e.user)), "ItemTypeUsers");
    let any_users = count_by_key(
        distinct_by_key(type_users.clone().map(|((item, _), user)| (item, user)), "ItemUsers")
            .map(|(item, _)| (item, ANY_EVENT_TYPE)),
        "ItemUsersAny",
    );
    let item_users = count_by_key(type_users.map(|(key, _)| key), "ItemTypeUserCounts").concat(any_users);
    (item_users, item_events)
}

/// `(item, ANY_EVENT_TYPE)` totals of per-type counts: each count change `±((item, type), n)` contributes
/// `±n` to the item's total, so only the per-type changes are re-counted, not the events.
fn sum_over_types<'s>(per_type: Coll<'s, ((ItemId, EventTypeId), isize)>) -> Coll<'s, ((ItemId, EventTypeId), isize)> {
    count_by_key(per_type.explode(|((item, _), n)| Some(((item, ANY_EVENT_TYPE), n))), "ItemEventsAny")
}

/// Events per (item, time bucket of width `bucket_secs`).
pub fn trend_buckets<'s>(events: Coll<'s, Interaction>, bucket_secs: Seconds) -> Coll<'s, ((ItemId, i64), isize)> {
    count_by_key(events.map(move |e| (e.item, score::trend_bucket(e.timestamp, bucket_secs))), "TrendBuckets")
}

/// Decayed user–item affinity, recomputed per (user, item) from its integer event counts.
///
/// A [`fold_by_key`] rather than `reduce`: every event touches its key, and `reduce` paid for it with
/// cursor seeks through the input and output traces of every key (a quarter of the graph's time on live
/// epochs); the fold keeps each key's events in a hash map and recomputes from them.
pub fn affinity<'s>(events: Coll<'s, Interaction>, params: AffinityParams) -> Coll<'s, ((UserId, ItemId), Affinity)> {
    fold_by_key(events.map(|e| ((e.user, e.item), (e.timestamp, e.event_type))), "Affinity", move |values| {
        score::affinity(values.iter().map(|(v, n)| (v, *n)), &params)
    })
}

/// Co-occurrence counts of ordered item pairs within users' co-occurrence windows (mirrored: `c(a, b)` and
/// `c(b, a)`, pairs with at least `min_cocount`; empty unless `publish_counts`), and each item's top-`k` neighbour candidates by co-count
/// (ties to the lower item id).
///
/// Two timely operators over [`crate::partners`]: the windows, sharded by user, turn each window change into
/// pair changes; the lists, sharded by the pair's first item, count them and keep each item's best partners.
/// Each applies a time only once it is complete, oldest first (epochs are totally ordered), and emits the
/// consolidated changes of that time, so the outputs are ordinary collections.
///
/// Why not `join` + `count_total` + `reduce`: see [`crate::partners`]. In short, hot items co-occur with
/// thousands of items and their co-counts change in nearly every (small, live) epoch; a `reduce` would
/// re-sort a hot item's whole group each time, and a trace of pair counts costs a sort and a merge per change.
pub fn cooccurrence<'s>(cowindow: Coll<'s, (UserId, RecentEntry)>, params: &Params) -> Cooccurrence<'s> {
    let (min_cocount, k, publish_counts) = (params.min_cocount, params.neighbours, params.publish_pair_counts);
    let (publish_changes, publish_lists) = (params.publish_neighbour_changes, params.publish_neighbour_lists);
    type WindowUpdate = ((UserId, RecentEntry), Epoch, isize);
    type PairUpdate = ((ItemId, ItemId), Epoch, isize);
    let by_user = Exchange::new(|update: &WindowUpdate| (update.0).0.hashed());
    let pairs = cowindow.inner.unary_frontier::<CapacityContainerBuilder<Vec<PairUpdate>>, _, _, _>(
        by_user,
        "UserWindows",
        move |_capability, _info| {
            let mut windows = UserWindows::new();
            let mut pending = Pending::default();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for ((user, entry), time, diff) in data.drain(..) {
                        pending.push(time, || vec![cap.delayed(&time, 0)], ((user, entry.item), diff));
                    }
                });
                while let Some((time, capabilities, changes)) = pending.pop_complete(|t| frontier.less_equal(t)) {
                    let mut session = output.session(&capabilities[0]);
                    windows.apply(changes, |(pair, diff)| session.give((pair, time, diff)));
                }
            }
        },
    );

    let by_first = Exchange::new(|update: &PairUpdate| (update.0).0.hashed());
    let mut builder = OperatorBuilder::new("PartnerLists".to_string(), pairs.scope());
    let mut input = builder.new_input(pairs, by_first);
    let (counts_out, counts) = builder.new_output::<Vec<(((ItemId, ItemId), isize), Epoch, isize)>>();
    let (lists_out, lists) = builder.new_output::<Vec<((ItemId, Neighbour), Epoch, isize)>>();
    let (whole_out, whole) = builder.new_output::<Vec<(ItemId, NeighbourList)>>();
    let mut counts_out = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(counts_out);
    let mut lists_out = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(lists_out);
    let mut whole_out = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(whole_out);
    builder.build(move |initial| {
        // Every output is produced at the times of the input: hold nothing from the start.
        drop(initial);
        let mut state = PartnerLists::new(k, min_cocount).publishing(publish_changes, publish_lists);
        let mut pending = Pending::default();
        move |frontiers| {
            input.for_each(|cap, data| {
                for (pair, time, diff) in data.drain(..) {
                    let capabilities = || (0..3).map(|output| cap.delayed(&time, output)).collect();
                    pending.push(time, capabilities, (pair, diff));
                }
            });
            while let Some((time, capabilities, changes)) = pending.pop_complete(|t| frontiers[0].less_equal(t)) {
                let mut counts_active = counts_out.activate();
                let mut counted = counts_active.session(&capabilities[0]);
                let mut lists_active = lists_out.activate();
                let mut listed = lists_active.session(&capabilities[1]);
                let mut whole_active = whole_out.activate();
                let mut relisted = whole_active.session(&capabilities[2]);
                state.apply(
                    changes,
                    |record, diff| {
                        if publish_counts {
                            counted.give((record, time, diff))
                        }
                    },
                    |record, diff| listed.give((record, time, diff)),
                    |item, list| relisted.give((item, list)),
                );
            }
        }
    });
    Cooccurrence { pair_counts: counts.as_collection(), neighbours: lists.as_collection(), neighbour_lists: whole }
}

/// What [`cooccurrence`] produces.
pub struct Cooccurrence<'s> {
    /// Co-counts of ordered pairs (empty unless `Params::publish_pair_counts`).
    pub pair_counts: PairCounts<'s>,
    /// Changes of the items' top-K lists (empty unless `Params::publish_neighbour_changes`).
    pub neighbours: Coll<'s, (ItemId, Neighbour)>,
    /// The items' top-K lists, whole, each time one changes (empty unless `Params::publish_neighbour_lists`).
    pub neighbour_lists: NeighbourLists<'s>,
}
