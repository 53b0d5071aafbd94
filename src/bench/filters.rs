//! `streamrec bench filters`: what a filter costs a recommendation. A synthetic shop (Zipf activity, items
//! in 20 categories) is loaded into a scratch engine; then, for the same users in alternation (so both
//! sides share the machine's noise), user recommendations are timed unfiltered, under an INCLUDE filter that
//! keeps one category (95% of the catalogue removed), and under an interaction filter (exclude purchased).
//! Each request binds its filter values and runs the whole answer path, as the runtime API does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};

use crate::engine::{Engine, EngineConfig, Submission};
use crate::filter::FilterExpr;
use crate::filtering::{self, Subject};
use crate::model::record::{Interaction, ItemRecord, Value};
use crate::recommend::{self, UserQuery};

/// Options of `streamrec bench filters`.
#[derive(Args, Debug, Clone)]
pub struct FilterBenchArgs {
    /// Events loaded before measuring.
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    /// Users (Zipf-distributed activity).
    #[arg(long, default_value_t = 30_000)]
    pub users: u64,
    /// Items (Zipf-distributed popularity), spread over 20 categories.
    #[arg(long, default_value_t = 10_000)]
    pub items: u64,
    /// Requests per variant.
    #[arg(long, default_value_t = 5_000)]
    pub requests: usize,
    /// Items per answer.
    #[arg(long, default_value_t = 25)]
    pub num_results: usize,
}

const CATEGORIES: u64 = 20;

/// A filter and the values each request binds it with.
type Variant<'a> = (&'a str, Option<(&'a FilterExpr, &'a HashMap<String, String>)>);

/// Runs the benchmark and prints p50/p99 per variant and their ratios to the unfiltered baseline.
pub fn run(args: FilterBenchArgs) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("streamrec-bench-filters-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut config = EngineConfig::new(&scratch);
    config.fsync = false;
    let engine = Engine::open(config)?;
    let loaded = Instant::now();
    let items: Vec<Submission> = (0..args.items)
        .map(|i| {
            Submission::Item(ItemRecord {
                item_id: i.to_string(),
                creation_timestamp: None,
                fields: vec![("CATEGORY".into(), Value::Categories(vec![format!("c{}", i % CATEGORIES)]))],
            })
        })
        .collect();
    engine.submit_blocking(items)?;
    let stream = crate::bench::zipf_stream(args.events, args.users, args.items, 1.0, 11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for chunk in stream.chunks(100_000) {
        let batch = chunk
            .iter()
            .map(|e| {
                Submission::Interaction(Interaction {
                    user_id: e.user.to_string(),
                    item_id: e.item.to_string(),
                    timestamp: e.timestamp,
                    event_type: Some(if rng.gen_ratio(1, 10) { "purchase" } else { "view" }.into()),
                    event_value: None,
                    impression: Vec::new(),
                    recommendation_id: None,
                    metadata: Vec::new(),
                })
            })
            .collect();
        engine.submit_blocking(batch)?;
    }
    engine.wait_for_acknowledged_blocking(Duration::from_secs(3600))?;
    println!(
        "loaded {} items and {} events in {:.1}s; timing {} requests per variant, {} items each",
        args.items,
        args.events,
        loaded.elapsed().as_secs_f64(),
        args.requests,
        args.num_results
    );
    let category = FilterExpr::parse("INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)")?;
    let purchased = FilterExpr::parse("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"purchase\")")?;
    let category_values = HashMap::from([("CATEGORY".to_string(), "\"c7\"".to_string())]);
    let no_values = HashMap::new();
    let variants: [Variant; 3] = [
        ("unfiltered", None),
        ("one category (95% removed)", Some((&category, &category_values))),
        ("exclude purchased", Some((&purchased, &no_values))),
    ];
    let mut histograms: Vec<Histogram<u64>> = variants.iter().map(|_| Histogram::new(3).expect("histogram")).collect();
    let mut short = vec![0usize; variants.len()];
    // Users with some history: the active end of the Zipf distribution, sampled.
    let users: Vec<String> = (0..args.requests).map(|_| rng.gen_range(0..args.users / 4).to_string()).collect();
    let n = args.num_results;
    for user in &users {
        for (v, (_, filter)) in variants.iter().enumerate() {
            let started = Instant::now();
            let subject = Subject { user: Some(user), ..Default::default() };
            let answer = match filter {
                None => recommend::for_user(&engine, user, &UserQuery::new(n)),
                Some((expr, values)) => {
                    let bound = expr.bind(values)?;
                    filtering::answer(&engine, &subject, Some(&bound), n, |depth| {
                        recommend::for_user(&engine, user, &UserQuery::new(depth))
                    })
                }
            };
            histograms[v].record(started.elapsed().as_nanos() as u64)?;
            if answer.len() < n {
                short[v] += 1;
            }
        }
    }
    let base_p50 = histograms[0].value_at_quantile(0.5) as f64;
    let base_p99 = histograms[0].value_at_quantile(0.99) as f64;
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "variant", "p50 µs", "p99 µs", "max µs", "p99 / base", "short answers"
    );
    for (v, (name, _)) in variants.iter().enumerate() {
        let h = &histograms[v];
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>10.1} {:>12.2} {:>12}",
            name,
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
            h.max() as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / base_p99,
            short[v],
        );
    }
    println!(
        "(p50 ratios: {:.2}, {:.2})",
        histograms[1].value_at_quantile(0.5) as f64 / base_p50,
        histograms[2].value_at_quantile(0.5) as f64 / base_p50
    );
    engine.shutdown();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
