//! Runs the graph to completion over batches of operations: the harness for tests and benchmarks.
//!
//! Each worker turns the operations of the users it owns (by user hash) into input changes with its own
//! [`EventFeed`] and feeds them as one epoch per batch; every worker then steps until the outputs are
//! complete for that epoch. The engine does the same live, with a
//! durable log in front and published indices behind.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::operators::probe::Handle;
use timely::dataflow::operators::Probe;

use crate::feed::{EventFeed, Op};
use crate::inputs::GraphInputs;
use crate::snapshot::Snapshot;
use crate::types::*;

/// Accumulated diffs of one output collection.
type Acc<D> = Arc<Mutex<BTreeMap<D, isize>>>;

#[derive(Default)]
struct Captured {
    item_users: Acc<((ItemId, EventTypeId), isize)>,
    item_events: Acc<((ItemId, EventTypeId), isize)>,
    trend: Acc<((ItemId, i64), isize)>,
    recent: Acc<(UserId, RecentEntry)>,
    cooccurrence: Acc<((ItemId, ItemId), isize)>,
    neighbours: Acc<(ItemId, Neighbour)>,
    /// The latest whole list of each item (from `neighbour_lists`).
    neighbour_lists: Arc<Mutex<BTreeMap<ItemId, NeighbourList>>>,
    window_counts: Acc<(ItemId, isize)>,
    transitions: Acc<(Transition, isize)>,
    context_counts: Acc<((ItemId, ContextId), isize)>,
    typed_recent: Acc<(UserId, RecentEntry)>,
    affinity: Acc<((UserId, ItemId), Affinity)>,
}

/// Feeds `batches` (one epoch each) through the graph on `workers` threads and returns the final outputs
/// when `capture` is set (an empty snapshot otherwise, for timing runs).
pub fn run_batches(params: &Params, workers: usize, batches: Vec<Vec<Op>>, capture: bool) -> Snapshot {
    run(params, workers, batches, capture, 0).0
}

/// Feeds `batches` like [`run_batches`] without capturing outputs, and returns the time the batches from
/// `timed_from` on took: a benchmark can bring the graph to a steady state with a few large epochs first,
/// then time live-sized ones.
pub fn time_batches(params: &Params, workers: usize, batches: Vec<Vec<Op>>, timed_from: usize) -> Duration {
    run(params, workers, batches, false, timed_from).1
}

fn run(
    params: &Params,
    workers: usize,
    batches: Vec<Vec<Op>>,
    capture: bool,
    timed_from: usize,
) -> (Snapshot, Duration) {
    let started: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let start = started.clone();
    let captured = Arc::new(Captured::default());
    let shared_batches = Arc::new(batches);
    let config = timely::Config::process(workers.max(1));
    let (lists_on, changes_on) = (params.publish_neighbour_lists, params.publish_neighbour_changes);
    let params = params.clone();
    let sink = captured.clone();
    timely::execute(config, move |worker| {
        let probe = Handle::new();
        let sink = sink.clone();
        let mut inputs = GraphInputs::new();
        worker.dataflow::<Epoch, _, _>(|scope| {
            let out = inputs.build(scope, &params);
            if capture {
                accumulate(out.item_users, &sink.item_users, &probe);
                accumulate(out.item_events, &sink.item_events, &probe);
                accumulate(out.trend, &sink.trend, &probe);
                accumulate(out.recent, &sink.recent, &probe);
                accumulate(out.cooccurrence, &sink.cooccurrence, &probe);
                accumulate(out.neighbours, &sink.neighbours, &probe);
                let lists = sink.neighbour_lists.clone();
                timely::dataflow::operators::Inspect::inspect(out.neighbour_lists, move |(item, list)| {
                    lists.lock().unwrap().insert(*item, list.clone());
                })
                .probe_with(&probe);
                accumulate(out.window_counts, &sink.window_counts, &probe);
                accumulate(out.affinity, &sink.affinity, &probe);
                accumulate(out.transitions, &sink.transitions, &probe);
                accumulate(out.context_counts, &sink.context_counts, &probe);
                accumulate(out.typed_recent, &sink.typed_recent, &probe);
            } else {
                out.probe_all(&probe);
            }
        });
        // Every worker replays every batch but feeds only the operations of the users it owns (plus every
        // `Clear`): an `EventFeed`'s state is per user, so the union of the workers' input changes equals a
        // single feed's, and neither the feed's work nor the input exchange funnels through worker 0.
        let (index, peers) = (worker.index(), worker.peers());
        let mut feed = EventFeed::for_params(&params);
        for (epoch, batch) in shared_batches.iter().enumerate() {
            if epoch == timed_from && index == 0 {
                *start.lock().unwrap() = Some(Instant::now());
            }
            let next = epoch as u64 + 1;
            inputs.apply_epoch(&mut feed, batch, index, peers, next);
            worker.step_while(|| probe.less_than(&next));
        }
        inputs.close();
        while worker.step_or_park(None) {}
    })
    .expect("timely workers");
    let elapsed = started.lock().unwrap().map(|t| t.elapsed()).unwrap_or_default();

    if !capture {
        return (Snapshot::default(), elapsed);
    }
    let mut snap = Snapshot {
        item_users: single(take(&captured.item_users)),
        item_events: single(take(&captured.item_events)),
        trend: single(take(&captured.trend)),
        cooccurrence: single(take(&captured.cooccurrence)),
        window_counts: single(take(&captured.window_counts)),
        transitions: single(take(&captured.transitions)),
        context_counts: single(take(&captured.context_counts)),
        ..Snapshot::default()
    };
    for ((user, entry), d) in take(&captured.recent) {
        if d != 0 {
            assert_eq!(d, 1, "a window entry appears once");
            snap.recent.entry(user).or_default().insert(entry);
        }
    }
    for ((user, entry), d) in take(&captured.typed_recent) {
        assert_eq!(d, 1, "a window entry appears once");
        snap.typed_recent.entry((user, entry.event_type)).or_default().insert(entry);
    }
    for ((item, n), d) in take(&captured.neighbours) {
        if d != 0 {
            assert_eq!(d, 1, "a neighbour appears once");
            snap.neighbours.entry(item).or_default().push(n);
        }
    }
    for ((key, a), d) in take(&captured.affinity) {
        if d != 0 {
            assert_eq!(d, 1, "an affinity appears once");
            snap.affinity.insert(key, a);
        }
    }
    snap.sort_neighbours();
    let lists: BTreeMap<ItemId, Vec<Neighbour>> = std::mem::take(&mut *captured.neighbour_lists.lock().unwrap())
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(item, list)| (item, list.to_vec()))
        .collect();
    if lists_on {
        // With both outputs on, the whole lists must be what the changes add up to.
        if changes_on {
            assert_eq!(lists, snap.neighbours, "whole neighbour lists differ from their accumulated changes");
        }
        snap.neighbours = lists;
    }
    (snap, elapsed)
}

/// Whether worker `index` of `peers` feeds `op`: a user's operations go to one worker, chosen by a
/// multiplicative hash of the id (so that consecutive ids spread), and every worker applies `Clear`.
fn take<D: Ord>(acc: &Acc<D>) -> BTreeMap<D, isize> {
    std::mem::take(&mut *acc.lock().unwrap())
}

/// Turns the accumulated `(key, value)` updates of a function-like output into a map `key → value`.
fn single<K: Ord, V>(updates: BTreeMap<(K, V), isize>) -> BTreeMap<K, V> {
    updates
        .into_iter()
        .map(|((k, v), d)| {
            assert_eq!(d, 1, "each key has exactly one value");
            (k, v)
        })
        .collect()
}

fn accumulate<D>(collection: crate::graph::Coll<'_, D>, acc: &Acc<D>, probe: &Handle<Epoch>)
where
    D: timely::ExchangeData + Ord + Clone,
{
    let acc = acc.clone();
    collection
        .inspect(move |(d, _t, r)| {
            let mut map = acc.lock().unwrap();
            let slot = map.entry(d.clone()).or_insert(0);
            *slot += r;
            if *slot == 0 {
                map.remove(d);
            }
        })
        .probe_with(probe);
}
