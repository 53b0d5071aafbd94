//! Replays a synthetic Zipf-distributed stream through the whole graph and prints events/s.
//!
//! `cargo run --release -p dataflows --example replay_zipf -- EVENTS USERS ITEMS WORKERS EPOCH_SIZE`

use std::time::Instant;

use dataflows::run::run_batches;
use dataflows::*;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numeric argument")).collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (events, users, items, workers, epoch) =
        (arg(0, 2_000_000), arg(1, 100_000), arg(2, 20_000), arg(3, 2), arg(4, 100_000));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let user_dist = Zipf::new(users, 1.0).unwrap();
    let item_dist = Zipf::new(items, 1.0).unwrap();
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
    params.window.max_items = std::env::var("WINDOW").ok().and_then(|w| w.parse().ok()).unwrap_or(20);
    params.cooccurrence_window.max_items = params.window.max_items;
    params.neighbours = 20;
    let start = Instant::now();
    run_batches(&params, workers as usize, batches, false);
    let secs = start.elapsed().as_secs_f64();
    println!("{events} events in {secs:.2}s: {:.0} events/s", events as f64 / secs);
}
