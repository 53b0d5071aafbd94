//! Criterion benchmarks: the incremental graph against the from-scratch reference model on the same
//! synthetic Zipf stream (compare the two in one run: the machines are shared and noisy), and the latency
//! of a user recommendation read from a warm engine.
//!
//! `cargo bench --bench dataflows`; the 2M-event figures come from `streamrec bench dataflows`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataflows::{Op, Params};
use streamrec::bench::zipf_stream;
use streamrec::engine::{Engine, EngineConfig, Submission};
use streamrec::model::record::Interaction;
use streamrec::recommend::{for_user, UserQuery};

const EVENTS: u64 = 100_000;

fn params() -> Params {
    let mut p = streamrec::engine::default_params();
    p.window.max_items = 20;
    p.neighbours = 20;
    p
}

fn replay(c: &mut Criterion) {
    let events = zipf_stream(EVENTS, 5_000, 2_000, 1.0, 7);
    let mut group = c.benchmark_group("replay_100k_zipf");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS));
    for workers in [1, 2] {
        group.bench_with_input(BenchmarkId::new("graph", workers), &workers, |b, &workers| {
            b.iter(|| {
                let batches: Vec<Vec<Op>> =
                    events.chunks(20_000).map(|c| c.iter().map(|e| Op::Insert(*e)).collect()).collect();
                dataflows::run::run_batches(&params(), workers, batches, false)
            })
        });
    }
    group.bench_function("reference", |b| {
        b.iter(|| {
            let mut reference = dataflows::reference::Reference::new(params());
            for e in &events {
                reference.apply(&Op::Insert(*e));
            }
            reference.snapshot()
        })
    });
    group.finish();
}

fn query(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("streamrec-criterion-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(EngineConfig::new(&dir)).expect("engine");
    let submissions: Vec<Submission> = zipf_stream(EVENTS, 5_000, 2_000, 1.0, 7)
        .into_iter()
        .map(|e| {
            Submission::Interaction(Interaction {
                user_id: e.user.to_string(),
                item_id: e.item.to_string(),
                timestamp: e.timestamp,
                event_type: None,
                event_value: None,
                impression: Vec::new(),
                recommendation_id: None,
                metadata: Vec::new(),
            })
        })
        .collect();
    engine.submit_blocking(submissions).expect("ingest");
    engine.wait_for_acknowledged_blocking(std::time::Duration::from_secs(600)).expect("published");
    let mut group = c.benchmark_group("query");
    let mut user = 0u32;
    group.bench_function("recommend_25_for_user", |b| {
        b.iter(|| {
            user = (user + 1) % 5_000;
            for_user(&engine, &user.to_string(), &UserQuery::new(25))
        })
    });
    group.bench_function("popular_25", |b| b.iter(|| streamrec::recommend::popular(&engine, 25, None)));
    group.finish();
    engine.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Training the als recipe on a MovieLens-100k-shaped matrix (943 × 1682, 100k Zipf interactions), 1 vs 2
/// threads, and one user's fold-in.
fn als(c: &mut Criterion) {
    use streamrec::recipes::als::{AlsModel, AlsParams, Interactions};
    let mut data = Interactions::new(943, 1682);
    for e in zipf_stream(100_000, 943, 1682, 1.0, 3) {
        data.add(e.user, e.item, 1.0);
    }
    data.finalize();
    let mut group = c.benchmark_group("als_ml100k_shape");
    group.sample_size(10);
    for threads in [1, 2] {
        let params = AlsParams { threads, ..AlsParams::default() };
        group.bench_with_input(BenchmarkId::new("train_64_factors_15_iterations", threads), &params, |b, p| {
            b.iter(|| AlsModel::train(&data, p))
        });
    }
    let model = AlsModel::train(&data, &AlsParams::default());
    let history = data.user_items(0).to_vec();
    group.bench_function("fold_in_one_user", |b| b.iter(|| model.fold_in(&history)));
    group.finish();
}

criterion_group!(benches, replay, query, als);
criterion_main!(benches);
