//! Experiment: times subsets of the graph over the Zipf replay (PARTS=pop,trend,aff,co,nb).
use std::time::Instant;
use differential_dataflow::input::Input;
use differential_dataflow::operators::CountTotal;
use dataflows::graph;
use dataflows::*;
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
    let ops: Vec<Op> = (0..events).map(|i| Op::Insert(Interaction {
        user: user_dist.sample(&mut rng) as u32 - 1, item: item_dist.sample(&mut rng) as u32 - 1,
        event_type: rng.gen_range(0..2), timestamp: 1_700_000_000 + (i as i64 * 30 * 86_400) / events as i64 })).collect();
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
            if parts.contains("pop") { let (a, b) = graph::popularity(events.clone()); a.probe_with(&probe); b.probe_with(&probe); }
            if parts.contains("trend") { graph::trend_buckets(events.clone(), p.trend_bucket_secs).probe_with(&probe); }
            if parts.contains("aff") { graph::affinity(events.clone(), p.affinity.clone()).probe_with(&probe); }
            if parts.contains("co") || parts.contains("nb") {
                let co = graph::cooccurrence(recent.clone(), p.min_cocount);
                co.clone().probe_with(&probe);
                if parts.contains("nb") {
                    let wc = recent.clone().map(|(_, e)| e.item).count_total();
                    graph::neighbours(co, wc, p.similarity, p.neighbours).probe_with(&probe);
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
            for op in &batch { feed.apply(op, &mut ch); }
            n_recent += ch.recent.len();
            for (e, d) in ch.events.drain(..) { ein.update(e, d); }
            for (r, d) in ch.recent.drain(..) { rin.update(r, d); }
            let t1 = t0.elapsed();
            let next = i as u64 + 1;
            ein.advance_to(next); rin.advance_to(next); ein.flush(); rin.flush();
            worker.step_while(|| probe.less_than(&next));
            if std::env::var("VERBOSE").is_ok() { eprintln!("epoch {i}: feed {:?} total {:?}", t1, t0.elapsed()); }
        }
        if worker.index() == 0 { eprintln!("recent changes: {n_recent}"); }
    }).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("{events} events in {secs:.2}s: {:.0} events/s", events as f64 / secs);
}
