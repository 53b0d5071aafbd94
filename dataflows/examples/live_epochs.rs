//! Times small epochs on top of a loaded graph: what the server's latency depends on when it runs live.
//!
//! `cargo run --release -p dataflows --example live_epochs -- BASE USERS ITEMS WINDOW NEIGHBOURS EPOCHS EPOCH_SIZE WORKERS`
//! (defaults `200000 20000 5000 100 50 200 2000 2`).
//!
//! Loads `BASE` Zipf-distributed events in one epoch, then feeds `EPOCHS` epochs of `EPOCH_SIZE` events each
//! (the same stream continued), and prints the median, p99 and maximum wall time per small epoch, measured
//! on worker 0 from the start of feeding the epoch until the probe on every output has passed it. Replay
//! throughput hides costs that are proportional to the graph's total state rather than to the change, since
//! a large epoch amortises them; small epochs expose them.
//!
//! Workers feed the operations of the users they own, as [`dataflows::run::run_batches`] and the engine do.

use std::time::{Duration, Instant};

use dataflows::inputs::GraphInputs;
use dataflows::synthetic::zipf_stream;
use dataflows::*;
use timely::dataflow::operators::probe::Handle;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numeric argument")).collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (base, users, items, window, neighbours) =
        (arg(0, 200_000), arg(1, 20_000), arg(2, 5_000), arg(3, 100), arg(4, 50));
    let (epochs, epoch_size, workers) = (arg(5, 200), arg(6, 2_000), arg(7, 2));

    let total = base + epochs * epoch_size;
    let ops: Vec<Op> = zipf_stream(total, users, items, 1.0, 7).into_iter().map(Op::Insert).collect();
    let mut batches: Vec<Vec<Op>> = vec![ops[..base as usize].to_vec()];
    batches.extend(ops[base as usize..].chunks(epoch_size as usize).map(|c| c.to_vec()));
    let batches = std::sync::Arc::new(batches);

    let mut params = Params::default();
    params.window.max_items = window as usize;
    params.cooccurrence_window.max_items = window as usize;
    params.neighbours = neighbours as usize;

    let times = timely::execute(timely::Config::process(workers as usize), move |worker| {
        let probe = Handle::new();
        let mut inputs = GraphInputs::new();
        worker.dataflow::<Epoch, _, _>(|scope| inputs.build(scope, &params).probe_all(&probe));
        let (index, peers) = (worker.index(), worker.peers());
        let mut feed = EventFeed::for_params(&params);
        let mut times = Vec::with_capacity(batches.len());
        for (epoch, batch) in batches.iter().enumerate() {
            let start = Instant::now();
            let next = epoch as u64 + 1;
            inputs.apply_epoch(&mut feed, batch, index, peers, next);
            worker.step_while(|| probe.less_than(&next));
            times.push(start.elapsed());
        }
        times
    })
    .expect("timely workers")
    .join()
    .into_iter()
    .next()
    .expect("worker 0")
    .expect("worker 0 finished");

    let (load, small) = times.split_first().expect("the base epoch");
    let mut sorted = small.to_vec();
    sorted.sort_unstable();
    let quantile = |q: f64| sorted.get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!("base: {base} events in {:.2}s", load.as_secs_f64());
    println!(
        "{} epochs of {epoch_size} events: median {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
        sorted.len(),
        ms(quantile(0.5)),
        ms(quantile(0.99)),
        ms(sorted.last().copied()),
        ms(Some(small.iter().sum::<Duration>() / small.len().max(1) as u32)),
    );
}
