//! The incremental graph against the from-scratch reference model, over random event streams with
//! interleaved user deletions and resets, cut into random epochs.

use dataflows::reference::Reference;
use dataflows::run::run_batches;
use dataflows::*;
use proptest::prelude::*;

fn params(max_items: usize, max_age: i64, min_co: isize, k: usize, similarity: Similarity) -> Params {
    Params {
        window: WindowParams { max_items: max_items + 2, max_age_secs: max_age * 2 },
        // A smaller window for co-occurrence, as the engine runs it.
        cooccurrence_window: WindowParams { max_items, max_age_secs: max_age },
        transition_distance: 3,
        user_trim_percentile: 100.0,
        min_cocount: min_co,
        neighbours: k,
        similarity,
        trend_bucket_secs: 10,
        affinity: AffinityParams { half_life_secs: 25, origin: 0, event_type_weights: vec![1.0, 3.0] },
        publish_pair_counts: true,
        publish_neighbour_changes: true,
        publish_neighbour_lists: false,
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (0u32..6, 0u32..12, 0u16..3, 0i64..200).prop_map(|(user, item, event_type, timestamp)| {
            Op::Insert(Interaction { user, item, event_type, timestamp })
        }),
        4 => (0u32..6, 0u32..12, 0u32..3).prop_map(|(user, item, context)| {
            Op::Context(ContextEvent { user, item, context })
        }),
        2 => (0u32..6).prop_map(Op::DeleteUser),
        1 => Just(Op::Clear),
    ]
}

fn similarity() -> impl Strategy<Value = Similarity> {
    prop_oneof![Just(Similarity::Cosine), Just(Similarity::Jaccard), Just(Similarity::Lift)]
}

/// Splits `ops` into consecutive batches at the given cut points.
fn cut(ops: &[Op], cuts: &[usize]) -> Vec<Vec<Op>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (ops.len() + 1)).collect();
    points.sort_unstable();
    let mut batches = Vec::new();
    let mut last = 0;
    for p in points.into_iter().chain([ops.len()]) {
        batches.push(ops[last..p].to_vec());
        last = p;
    }
    batches
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn graph_matches_reference(
        ops in proptest::collection::vec(op(), 0..120),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        max_items in 1usize..6,
        max_age in prop_oneof![Just(1_000i64), 5i64..60],
        min_co in 1isize..3,
        k in 1usize..5,
        sim in similarity(),
        workers in 1usize..3,
        trim in prop_oneof![Just(100.0f64), 30.0f64..100.0],
        (changes, lists) in prop_oneof![Just((true, false)), Just((false, true)), Just((true, true))],
    ) {
        let mut p = params(max_items, max_age, min_co, k, sim);
        p.user_trim_percentile = trim;
        // The neighbour lists as changes, as whole lists (as the engine takes them), or both (checked equal).
        p.publish_neighbour_changes = changes;
        p.publish_neighbour_lists = lists;
        let mut reference = Reference::new(p.clone());
        for op in &ops {
            reference.apply(op);
        }
        let expected = reference.snapshot();
        let actual = run_batches(&p, workers, cut(&ops, &cuts), true);
        prop_assert_eq!(&actual.item_users, &expected.item_users);
        prop_assert_eq!(&actual.item_events, &expected.item_events);
        prop_assert_eq!(&actual.trend, &expected.trend);
        prop_assert_eq!(&actual.recent, &expected.recent);
        prop_assert_eq!(&actual.cooccurrence, &expected.cooccurrence);
        prop_assert_eq!(&actual.affinity, &expected.affinity);
        prop_assert_eq!(&actual.neighbours, &expected.neighbours);
        prop_assert_eq!(&actual.window_counts, &expected.window_counts);
        prop_assert_eq!(&actual.transitions, &expected.transitions);
        prop_assert_eq!(&actual.typed_recent, &expected.typed_recent);
        prop_assert_eq!(&actual.context_counts, &expected.context_counts);
    }
}

#[test]
fn one_epoch_equals_one_epoch_per_event() {
    let p = params(3, 1_000, 1, 3, Similarity::Cosine);
    let ops: Vec<Op> = (0..200u32)
        .map(|i| {
            Op::Insert(Interaction {
                user: i % 7,
                item: (i * 13) % 17,
                event_type: (i % 2) as u16,
                timestamp: (i as i64 * 37) % 300,
            })
        })
        .collect();
    let whole = run_batches(&p, 1, vec![ops.clone()], true);
    let streamed = run_batches(&p, 2, ops.iter().map(|op| vec![*op]).collect(), true);
    assert_eq!(whole, streamed);
    assert!(!whole.neighbours.is_empty());
}

#[test]
fn deleting_a_user_forgets_them_everywhere() {
    let p = params(5, 1_000, 1, 5, Similarity::Cosine);
    let mut ops = vec![
        Op::Insert(Interaction { user: 1, item: 10, event_type: 0, timestamp: 1 }),
        Op::Insert(Interaction { user: 1, item: 11, event_type: 0, timestamp: 2 }),
        Op::Insert(Interaction { user: 2, item: 10, event_type: 0, timestamp: 3 }),
    ];
    let before = run_batches(&p, 1, vec![ops.clone()], true);
    assert_eq!(before.cooccurrence.get(&(10, 11)), Some(&1));
    ops.push(Op::DeleteUser(1));
    let after = run_batches(&p, 1, vec![ops[..3].to_vec(), ops[3..].to_vec()], true);
    assert!(after.cooccurrence.is_empty());
    assert!(after.affinity.keys().all(|(u, _)| *u != 1));
    assert!(!after.recent.contains_key(&1));
    assert_eq!(after.item_users.get(&(10, ANY_EVENT_TYPE)), Some(&1));
    assert_eq!(after.item_users.get(&(11, ANY_EVENT_TYPE)), None);
}

/// A denser stream than the property test draws (more users, items and deletions, several epochs), so that
/// items have many partners, top-K lists are contested, and window counts change under unchanged pairs.
#[test]
fn dense_stream_matches_reference() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for (sim, workers) in [(Similarity::Cosine, 2), (Similarity::Jaccard, 1), (Similarity::Lift, 2)] {
        let p = params(6, 120, 2, 4, sim);
        let ops: Vec<Op> = (0..3_000)
            .map(|i| match rng.gen_range(0..100) {
                0 => Op::DeleteUser(rng.gen_range(0..40)),
                _ => Op::Insert(Interaction {
                    user: rng.gen_range(0..40),
                    item: (rng.gen_range(0..30u32) * rng.gen_range(0..30u32)) % 30,
                    event_type: rng.gen_range(0..3),
                    timestamp: i / 3 + rng.gen_range(0..50),
                }),
            })
            .collect();
        let mut reference = Reference::new(p.clone());
        for op in &ops {
            reference.apply(op);
        }
        let expected = reference.snapshot();
        let batches: Vec<Vec<Op>> = ops.chunks(rng.gen_range(50..400)).map(|c| c.to_vec()).collect();
        let actual = run_batches(&p, workers, batches.clone(), true);
        assert!(expected.neighbours.values().any(|n| n.len() == 4));
        assert_eq!(actual, expected);
        // Whole lists, as the engine takes them, checked against the changes and the reference.
        let lists = Params { publish_neighbour_lists: true, ..p.clone() };
        assert_eq!(run_batches(&lists, workers, batches, true), expected);
    }
}
