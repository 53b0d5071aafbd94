//! The recommendation graph: two input collections in, every maintained statistic out.
//!
//! ```text
//! events (Interaction) ──┬─► item popularity: distinct users and event counts per (item, event type | ANY)
//!                        ├─► trend buckets: events per (item, time bucket)
//!                        └─► affinity: decayed user–item score (reduce per (user, item))
//! recent (user, entry) ──┬─► recent windows (as given)
//!                        ├─► window counts per item ──────────────┐
//!                        └─► self-join per user → co-occurrence ──┴─► normalised similarity → top-K neighbours
//! ```
//!
//! Every diff is an integer count; floats only appear inside `reduce`/`map` as deterministic functions of
//! their (sorted) inputs, and leave the graph as integers ([`Neighbour::similarity_bits`], [`Affinity`]), so
//! insert-then-retract always cancels exactly.

use std::cmp::Reverse;

use differential_dataflow::operators::CountTotal;
use differential_dataflow::VecCollection;

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
    /// Each item's top-K neighbours by normalised similarity.
    pub neighbours: Coll<'s, (ItemId, Neighbour)>,
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
    let neighbours = neighbours(cooccurrence.clone(), window_counts, params.similarity, params.neighbours);
    Outputs { item_users, item_events, trend, recent, cooccurrence, neighbours, affinity }
}

/// Distinct users and event counts per item, per event type and over all types.
pub fn popularity<'s>(
    events: Coll<'s, Interaction>,
) -> (Coll<'s, ((ItemId, EventTypeId), isize)>, Coll<'s, ((ItemId, EventTypeId), isize)>) {
    let keyed = events.flat_map(|e| {
        [((e.item, e.event_type), e.user), ((e.item, ANY_EVENT_TYPE), e.user)]
    });
    let item_events = keyed.clone().map(|(key, _)| key).count_total();
    let item_users = keyed.distinct().map(|(key, _)| key).count_total();
    (item_users, item_events)
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
pub fn cooccurrence<'s>(recent: Coll<'s, (UserId, RecentEntry)>, min_cocount: isize) -> Coll<'s, ((ItemId, ItemId), isize)> {
    let windows = recent.map(|(user, entry)| (user, entry.item)).arrange_by_key_named("Arrange: Windows");
    windows
        .clone()
        .join_core(windows, |_user, a, b| (a != b).then_some((*a, *b)))
        .count_total()
        .filter(move |(_, count)| *count >= min_cocount)
}

/// Top-`k` neighbours per item by normalised similarity (ties to the lower item id).
pub fn neighbours<'s>(
    cooccurrence: Coll<'s, ((ItemId, ItemId), isize)>,
    window_counts: Coll<'s, (ItemId, isize)>,
    kind: Similarity,
    k: usize,
) -> Coll<'s, (ItemId, Neighbour)> {
    let counts = window_counts.arrange_by_key_named("Arrange: WindowCounts");
    cooccurrence
        .map(|((a, b), c)| (a, (b, c)))
        .join_core(counts.clone(), |a, (b, c), na| Some((*b, (*a, *c, *na))))
        .join_core(counts, move |b, (a, c, na), nb| {
            let sim = score::similarity(kind, *c, *na, *nb);
            Some((*a, (Reverse(sim.to_bits()), *b)))
        })
        .reduce_named("TopNeighbours", move |_item, ranked, output| {
            // Values arrive sorted: highest similarity first, then lowest item id.
            for ((Reverse(bits), item), _) in ranked.iter().filter(|(_, n)| *n > 0).take(k) {
                output.push((Neighbour { item: *item, similarity_bits: *bits }, 1));
            }
        })
}
