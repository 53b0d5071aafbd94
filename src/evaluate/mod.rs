//! Offline evaluation: `streamrec evaluate` runs a recipe through the protocols of
//! `shared/baselines/PROTOCOLS.md` (HOLDOUT, NEXT, PERSONALIZE) and prints Personalize's metrics, next to
//! baseline figures when given.

pub mod dataset;
pub mod metrics;
pub mod models;
pub mod protocols;
pub mod tune;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::cli::CsvArgs;
use crate::engine::EngineConfig;
use crate::model::record::Record;
use crate::model::schema::DatasetType;
use crate::recipes::HyperValues;
use crate::recommend::UserQuery;
use dataset::Dataset;
use metrics::OfflineMetrics;
use models::{AlsEvaluator, EngineModel, PopularityBaseline};
use protocols::Model;

/// Which protocol(s) to run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Global temporal split, top 25 per test user.
    Holdout,
    /// Prequential: recommend before each test event, then feed it.
    Next,
    /// Personalize's user split.
    Personalize,
    /// All three.
    All,
}

/// Which recipe to evaluate.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeName {
    /// History × item neighbours, recency-weighted.
    UserPersonalization,
    /// Distinct users per item.
    PopularityCount,
    /// Items similar to the user's newest item.
    Sims,
    /// Items trending now.
    TrendingNow,
    /// The catalogue reordered for the user.
    PersonalizedRanking,
    /// The next item after the user's recent history, by item-to-next-item transitions.
    NextItem,
    /// Implicit matrix factorisation (conjugate gradient), users folded in per event.
    Als,
    /// The plain popularity baseline (no engine), to check the protocols against the baseline figures.
    BaselinePop,
}

/// Options of `streamrec evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The interactions file (any layout `import` reads).
    pub file: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Protocol.
    #[arg(long, value_enum, default_value = "all")]
    pub protocol: Protocol,
    /// Recipe.
    #[arg(long, value_enum, default_value = "user-personalization")]
    pub recipe: RecipeName,
    /// A hyperparameter of the recipe, `name=value` (repeatable); see `streamrec recipes`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Baseline figures to print alongside (e.g. ../shared/baselines/ml-100k.json).
    #[arg(long)]
    pub baselines: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Seed of the PERSONALIZE user split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Loads interactions from any file `import` reads.
pub fn load(file: &std::path::Path, csv: &CsvArgs) -> anyhow::Result<Dataset> {
    let schema = csv.schema(DatasetType::Interactions)?;
    let opts = csv.options(false)?;
    let mut rows = Vec::new();
    let report = crate::import::csv::import_csv(file, &schema, DatasetType::Interactions, &opts, &mut |r| {
        if let Record::Interaction(i) = r {
            rows.push(i);
        }
        Ok(())
    })
    .with_context(|| format!("reading {}", file.display()))?;
    if report.rejected > 0 {
        eprintln!("{report}");
    }
    Ok(Dataset::from_interactions(rows))
}

/// Parses `name=value` pairs.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').with_context(|| format!("{p:?} is not NAME=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Builds the model of a recipe with resolved hyperparameters.
pub fn model(
    recipe: RecipeName,
    values: &HyperValues,
    data: &Dataset,
    workers: usize,
) -> anyhow::Result<Box<dyn Model>> {
    match recipe {
        RecipeName::BaselinePop => return Ok(Box::new(PopularityBaseline::default())),
        RecipeName::Als => {
            let params = crate::recipes::als::AlsParams::from_recipe(values);
            return Ok(Box::new(AlsEvaluator::new(params, values.number("retrain_every") as usize, data)));
        }
        _ => {}
    }
    let dir = std::env::temp_dir().join(format!("streamrec-evaluate-{}-{}", std::process::id(), rand::random::<u32>()));
    let mut config = EngineConfig::new(dir);
    config.workers = workers;
    config.params = values.graph_params(&config.params);
    let query = UserQuery::from_recipe(values, 25).map_err(|e| anyhow::anyhow!(e))?;
    let interval = crate::recommend::interval_secs(values.text("interval")).unwrap_or(3_600);
    let session = crate::recommend::SessionQuery::from_recipe(values, 25);
    let engine_model = EngineModel::new(config, recipe, query, interval, data)?;
    // Only next-item has session hyperparameters; the others keep the session defaults.
    Ok(Box::new(if recipe == RecipeName::NextItem { engine_model.with_session_query(session) } else { engine_model }))
}

impl RecipeName {
    /// The evaluable recipe of a registry name (`user-personalization`, ...).
    pub fn from_registry(name: &str) -> Option<RecipeName> {
        use RecipeName::*;
        [UserPersonalization, PopularityCount, Sims, TrendingNow, PersonalizedRanking, NextItem, Als]
            .into_iter()
            .find(|r| registry_name(*r) == name)
    }
}

/// The PERSONALIZE protocol's metrics of a recipe with these hyperparameters on `data`: what
/// GetSolutionMetrics reports for a solution version.
pub fn solution_metrics(recipe: &str, values: &HyperValues, data: &Dataset) -> anyhow::Result<OfflineMetrics> {
    let name = RecipeName::from_registry(recipe).with_context(|| format!("{recipe} cannot be evaluated offline"))?;
    let mut m = model(name, values, data, 1)?;
    protocols::personalize(data, m.as_mut(), 42)
}

/// The registry name of an evaluable recipe.
pub fn registry_name(recipe: RecipeName) -> &'static str {
    match recipe {
        RecipeName::UserPersonalization => "user-personalization",
        RecipeName::PopularityCount | RecipeName::BaselinePop => "popularity-count",
        RecipeName::Als => "als",
        RecipeName::Sims => "sims",
        RecipeName::TrendingNow => "trending-now",
        RecipeName::PersonalizedRanking => "personalized-ranking",
        RecipeName::NextItem => "next-item",
    }
}

/// Runs `streamrec evaluate`.
pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let data = load(&args.file, &args.csv)?;
    let def = crate::recipes::find(registry_name(args.recipe)).expect("registered recipe");
    let values = crate::recipes::resolve(def, &parse_params(&args.params)?).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "{}: {} events, {} users, {} items; recipe {:?}",
        args.file.display(),
        data.events.len(),
        data.users.len(),
        data.items.len(),
        args.recipe
    );
    println!("hyperparameters: {}", values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    let baselines: Option<serde_json::Value> = match &args.baselines {
        Some(p) => Some(serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?),
        None => None,
    };
    let mut results = serde_json::Map::new();
    let wants = |p: Protocol| args.protocol == p || args.protocol == Protocol::All;
    if wants(Protocol::Holdout) {
        let started = Instant::now();
        let m = protocols::holdout(&data, model(args.recipe, &values, &data, 2)?.as_mut())?;
        println!("\nHOLDOUT ({} test users, {:.1}s)", m.evaluated_users, started.elapsed().as_secs_f64());
        print_offline(&m, baselines.as_ref(), "holdout");
        results.insert("holdout".into(), serde_json::to_value(&m)?);
    }
    if wants(Protocol::Next) {
        let started = Instant::now();
        let m = protocols::next(&data, model(args.recipe, &values, &data, 2)?.as_mut())?;
        println!(
            "\nNEXT ({} evaluated events, skipped: {} new user, {} new item, {} repeat; {:.1}s; {:.2} ms per recommendation, {:.2} ms per event)",
            m.evaluated_events,
            m.skipped_new_user,
            m.skipped_new_item,
            m.skipped_repeat,
            started.elapsed().as_secs_f64(),
            m.seconds_per_recommendation * 1e3,
            m.seconds_per_event * 1e3
        );
        println!("{:<28} {:>8}", "", "streamrec");
        println!(
            "{:<28} {:>8.4}{}",
            "hit_rate_at_10",
            m.hit_rate_at_10,
            baseline_row(baselines.as_ref(), "next", "hr@10")
        );
        println!(
            "{:<28} {:>8.4}{}",
            "mean_reciprocal_rank_at_10",
            m.mean_reciprocal_rank_at_10,
            baseline_row(baselines.as_ref(), "next", "mrr@10")
        );
        results.insert("next".into(), serde_json::to_value(&m)?);
    }
    if wants(Protocol::Personalize) {
        let m = protocols::personalize(&data, model(args.recipe, &values, &data, 2)?.as_mut(), args.seed)?;
        println!("\nPERSONALIZE ({} test users, seed {})", m.evaluated_users, args.seed);
        print_offline(&m, None, "personalize");
        results.insert("personalize".into(), serde_json::to_value(&m)?);
    }
    if let Some(path) = &args.json_out {
        let params: BTreeMap<&str, &str> = values.iter().collect();
        let doc = json!({ "file": args.file, "recipe": format!("{:?}", args.recipe), "hyperparameters": params, "results": results });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The baseline columns for one metric: `  POP 0.1234  ITEMKNN …`.
fn baseline_row(baselines: Option<&serde_json::Value>, protocol: &str, key: &str) -> String {
    let Some(models) = baselines.and_then(|b| b["models"].as_object()) else { return String::new() };
    models.iter().filter_map(|(name, m)| m[protocol][key].as_f64().map(|v| format!("  {name} {v:.4}"))).collect()
}

fn print_offline(m: &metrics::OfflineMetrics, baselines: Option<&serde_json::Value>, protocol: &str) {
    let rows = [
        ("coverage", m.coverage, "coverage@25"),
        ("mean_reciprocal_rank_at_25", m.mean_reciprocal_rank_at_25, "mrr@25"),
        ("normalized_discounted_cumulative_gain_at_5", m.normalized_discounted_cumulative_gain_at_5, "ndcg@5"),
        ("normalized_discounted_cumulative_gain_at_10", m.normalized_discounted_cumulative_gain_at_10, "ndcg@10"),
        ("normalized_discounted_cumulative_gain_at_25", m.normalized_discounted_cumulative_gain_at_25, "ndcg@25"),
        ("precision_at_5", m.precision_at_5, "p@5"),
        ("precision_at_10", m.precision_at_10, "p@10"),
        ("precision_at_25", m.precision_at_25, "p@25"),
        ("recall_at_10", m.recall_at_10, "r@10"),
        ("recall_at_25", m.recall_at_25, "r@25"),
        ("hit_rate_at_10", m.hit_rate_at_10, "hr@10"),
    ];
    println!("{:<45} {:>8}", "", "streamrec");
    for (name, value, key) in rows {
        println!("{name:<45} {value:>8.4}{}", baseline_row(baselines, protocol, key));
    }
}
