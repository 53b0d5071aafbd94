//! Times subsets of the graph over the same Zipf stream as `replay_zipf`, to see where time and memory go.
//!
//! `PARTS=pop,trend,aff,co,nb cargo run --release -p dataflows --example parts_zipf -- 2000000 100000 20000 2 200000`
//!
//! `PARTS` lists the parts to build: `pop` popularity, `trend`, `aff` affinity, `co` co-occurrence, `nb`
//! neighbours (on top of co-occurrence); `pop_old`, `co_old`, `nb_old` select the formulations the graph
//! used before its optimisation (kept below for A/B timing). Unlike `run_batches`, worker 0 feeds every
//! input here, as the old harness did. `VERBOSE=1` prints per-epoch times.
use dataflows::graph;
use dataflows::graph::Coll;
use dataflows::*;
use differential_dataflow::input::Input;
use differential_dataflow::operators::CountTotal;
use std::cmp::Reverse;
use std::time::Instant;

// The pre-optimisation formulations, for A/B timing.
fn old_popularity<'s>(
    events: Coll<'s, Interaction>,
) -> (Coll<'s, ((ItemId, EventTypeId), isize)>, Coll<'s, ((ItemId, EventTypeId), isize)>) {
    let keyed = events.flat_map(|e| [((e.item, e.event_type), e.user), ((e.item, ANY_EVENT_TYPE), e.user)]);
    let item_events = keyed.clone().map(|(key, _)| key).count_total();
    let item_users = keyed.distinct().map(|(key, _)| key).count_total();
    (item_users, item_events)
}
fn old_cooccurrence<'s>(
    recent: Coll<'s, (UserId, RecentEntry)>,
    min_cocount: isize,
) -> Coll<'s, ((ItemId, ItemId), isize)> {
    let windows = recent.map(|(user, entry)| (user, entry.item)).arrange_by_key_named("Arrange: Windows");
    windows
        .clone()
        .join_core(windows, |_user, a, b| (a != b).then_some((*a, *b)))
        .count_total()
        .filter(move |(_, count)| *count >= min_cocount)
}
fn old_neighbours<'s>(
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
            let sim = dataflows::score::similarity(kind, *c, *na, *nb);
            Some((*a, (Reverse(sim.to_bits()), *b)))
        })
        .reduce_named("TopNeighbours", move |_item, ranked, output| {
            for ((Reverse(bits), item), _) in ranked.iter().filter(|(_, n)| *n > 0).take(k) {
                output.push((Neighbour { item: *item, similarity_bits: *bits }, 1));
            }
        })
}
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use timely::dataflow::operators::probe::Handle;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (events, users, items, workers, epoch) = (args[0], args[1], args[2], args[3], args[4]);
    let parts = std::env::var("PARTS").unwrap_or_default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let user_dist = Zipf::new(users, 1.0).unwrap();
    let item_dist = Zipf::new(items, 1.0).unwrap();
    use rand::Rng;
    let ops: Vec<Op> = (0..events)
        .map(|i| {
            Op::Insert(Interaction {
                user: user_dist.sample(&mut rng) as u32 - 1,
                item: item_dist.sample(&mut rng) as u32 - 1,
                event_type: rng.gen_range(0..2),
                timestamp: 1_700_000_000 + (i as i64 * 30 * 86_400) / events as i64,
            })
        })
        .collect();
    let batches: Vec<Vec<Op>> = ops.chunks(epoch as usize).map(|c| c.to_vec()).collect();
    let mut params = Params::default();
    params.window.max_items = 20;
    params.neighbours = 20;
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(batches)));
    let start = Instant::now();
    timely::execute(timely::Config::process(workers as usize), move |worker| {
        let probe = Handle::new();
        let p = params.clone();
        let parts = parts.clone();
        let (mut ein, mut rin) = worker.dataflow::<Epoch, _, _>(|scope| {
            let (ein, events) = scope.new_collection::<Interaction, isize>();
            let (rin, recent) = scope.new_collection::<(UserId, RecentEntry), isize>();
            recent.clone().probe_with(&probe);
            events.clone().probe_with(&probe);
            if parts.contains("pop_old") {
                let (a, b) = old_popularity(events.clone());
                a.probe_with(&probe);
                b.probe_with(&probe);
            } else if parts.contains("pop") {
                let (a, b) = graph::popularity(events.clone());
                a.probe_with(&probe);
                b.probe_with(&probe);
            }
            if parts.contains("trend") {
                graph::trend_buckets(events.clone(), p.trend_bucket_secs).probe_with(&probe);
            }
            if parts.contains("aff") {
                graph::affinity(events.clone(), p.affinity.clone()).probe_with(&probe);
            }
            if parts.contains("co") || parts.contains("nb") {
                let co = if parts.contains("co_old") {
                    old_cooccurrence(recent.clone(), p.min_cocount)
                } else {
                    graph::cooccurrence(recent.clone(), p.min_cocount)
                };
                co.clone().probe_with(&probe);
                if parts.contains("nb") {
                    let wc = recent.clone().map(|(_, e)| e.item).count_total();
                    if parts.contains("nb_old") {
                        old_neighbours(co, wc, p.similarity, p.neighbours).probe_with(&probe);
                    } else {
                        graph::neighbours(co, wc, p.similarity, p.neighbours).probe_with(&probe);
                    }
                }
            }
            (ein, rin)
        });
        let batches = if worker.index() == 0 { shared.lock().unwrap().take().unwrap() } else { Vec::new() };
        let mut feed = EventFeed::new(p.window.clone());
        let mut ch = InputChanges::default();
        let mut n_recent = 0usize;
        for (i, batch) in batches.into_iter().enumerate() {
            let t0 = Instant::now();
            for op in &batch {
                feed.apply(op, &mut ch);
            }
            n_recent += ch.recent.len();
            for (e, d) in ch.events.drain(..) {
                ein.update(e, d);
            }
            for (r, d) in ch.recent.drain(..) {
                rin.update(r, d);
            }
            let t1 = t0.elapsed();
            let next = i as u64 + 1;
            ein.advance_to(next);
            rin.advance_to(next);
            ein.flush();
            rin.flush();
            worker.step_while(|| probe.less_than(&next));
            if std::env::var("VERBOSE").is_ok() {
                eprintln!("epoch {i}: feed {:?} total {:?}", t1, t0.elapsed());
            }
        }
        if worker.index() == 0 {
            eprintln!("recent changes: {n_recent}");
        }
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("{events} events in {secs:.2}s: {:.0} events/s", events as f64 / secs);
}
