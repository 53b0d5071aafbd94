//! Synthetic interaction streams for benchmarks and examples (pure: a seeded generator, no I/O).

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::types::Interaction;

/// `events` interactions with users and items drawn from Zipf distributions of the given exponent (rank 1
/// is the most active user and the most popular item), two event types, and timestamps spread evenly over
/// 30 days; the same seed gives the same stream.
pub fn zipf_stream(events: u64, users: u64, items: u64, exponent: f64, seed: u64) -> Vec<Interaction> {
    zipf_stream_of(events, (users, exponent), (items, exponent), seed)
}

/// The same with the users' and the items' own `(count, Zipf exponent)` (exponent 0: uniform).
pub fn zipf_stream_of(
    events: u64,
    (users, user_exponent): (u64, f64),
    (items, item_exponent): (u64, f64),
    seed: u64,
) -> Vec<Interaction> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let user_dist = Zipf::new(users.max(1), user_exponent).expect("valid Zipf parameters");
    let item_dist = Zipf::new(items.max(1), item_exponent).expect("valid Zipf parameters");
    (0..events)
        .map(|i| Interaction {
            user: user_dist.sample(&mut rng) as u32 - 1,
            item: item_dist.sample(&mut rng) as u32 - 1,
            event_type: rng.gen_range(0..2),
            timestamp: 1_700_000_000 + (i as i64 * 30 * 86_400) / events.max(1) as i64,
        })
        .collect()
}
