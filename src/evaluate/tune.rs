//! `streamrec tune`: hyperparameter optimisation (random or grid search over each recipe's declared tuning
//! ranges) on a validation split carved from the training part only, two trials at a time; with `--auto`,
//! every user-recommendation recipe competes (Personalize's HPO and AutoML). The winner is then evaluated
//! once on the real test split, which no trial saw.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::dataset::Dataset;
use super::{load, model, parse_params, protocols, registry_name, Protocol, RecipeName};
use crate::cli::CsvArgs;
use crate::recipes::{find, resolve, Range};

/// How candidates are chosen.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Independent draws from each range (log-uniform for wide positive ranges).
    Random,
    /// The grid of each range's low, middle and high values (categorical: every value), in order.
    Grid,
}

/// Options of `streamrec tune`.
#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The interactions file (any layout `import` reads).
    pub file: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// The recipe to tune (ignored with --auto).
    #[arg(long, value_enum, default_value = "user-personalization")]
    pub recipe: RecipeName,
    /// Try every user-recommendation recipe and pick the best.
    #[arg(long)]
    pub auto: bool,
    /// Protocol the objective is measured under (holdout or next).
    #[arg(long, value_enum, default_value = "next")]
    pub protocol: Protocol,
    /// Metric to maximise (a field of the protocol's report, e.g. hit_rate_at_10,
    /// mean_reciprocal_rank_at_10, normalized_discounted_cumulative_gain_at_10).
    #[arg(long, default_value = "hit_rate_at_10")]
    pub objective: String,
    /// Trials per recipe.
    #[arg(long, default_value_t = 16)]
    pub trials: usize,
    /// Search strategy.
    #[arg(long, value_enum, default_value = "random")]
    pub search: Search,
    /// Trials run at once (each engine then uses one worker).
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Seed of the random search.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Fixed hyperparameters, `name=value` (repeatable); they are not searched.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Where to write `trials.csv` and `trials.json`.
    #[arg(long, default_value = "streamrec-tune")]
    pub out: PathBuf,
}

/// One trial's record.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    /// Trial number.
    pub trial: usize,
    /// Recipe.
    pub recipe: String,
    /// Every hyperparameter value.
    pub params: BTreeMap<String, String>,
    /// The validation report.
    pub metrics: serde_json::Value,
    /// The objective's value.
    pub objective: f64,
    /// Wall time.
    pub seconds: f64,
}

/// The trial's hyperparameters: fixed ones as given, tunable ones drawn (random) or enumerated (grid).
fn candidate(
    recipe: &crate::recipes::RecipeDef,
    fixed: &BTreeMap<String, String>,
    search: Search,
    trial: usize,
    rng: &mut impl Rng,
) -> BTreeMap<String, String> {
    let mut chosen = fixed.clone();
    let mut stride = 1;
    for h in recipe.hyperparameters {
        let Some(range) = h.tune else { continue };
        if fixed.contains_key(h.name) {
            continue;
        }
        let value = match search {
            Search::Random => draw(range, rng),
            Search::Grid => {
                let points = grid_points(range);
                let v = points[(trial / stride) % points.len()].clone();
                stride *= points.len();
                v
            }
        };
        chosen.insert(h.name.to_string(), value);
    }
    chosen
}

fn draw(range: Range, rng: &mut impl Rng) -> String {
    match range {
        Range::Integer(min, max) if min > 0 && max / min >= 20 => {
            let x: f64 = rng.gen_range((min as f64).ln()..=(max as f64).ln());
            (x.exp().round() as i64).clamp(min, max).to_string()
        }
        Range::Integer(min, max) => rng.gen_range(min..=max).to_string(),
        Range::Continuous(min, max) if min > 0.0 && max / min >= 100.0 => {
            format!("{:.4}", rng.gen_range(min.ln()..=max.ln()).exp().clamp(min, max))
        }
        Range::Continuous(min, max) => format!("{:.4}", rng.gen_range(min..=max)),
        Range::Categorical(options) => options[rng.gen_range(0..options.len())].to_string(),
        Range::Text => String::new(),
    }
}

fn grid_points(range: Range) -> Vec<String> {
    match range {
        Range::Integer(min, max) => vec![min.to_string(), ((min + max) / 2).to_string(), max.to_string()],
        Range::Continuous(min, max) => vec![format!("{min}"), format!("{}", (min + max) / 2.0), format!("{max}")],
        Range::Categorical(options) => options.iter().map(|o| o.to_string()).collect(),
        Range::Text => vec![String::new()],
    }
}

/// Runs one protocol and returns its report as JSON.
fn measure(
    protocol: Protocol,
    recipe: RecipeName,
    params: &BTreeMap<String, String>,
    data: &Dataset,
    workers: usize,
) -> anyhow::Result<serde_json::Value> {
    let def = find(registry_name(recipe)).expect("registered recipe");
    let values = resolve(def, params).map_err(|e| anyhow::anyhow!(e))?;
    let mut m = model(recipe, &values, data, workers)?;
    Ok(match protocol {
        Protocol::Next => serde_json::to_value(protocols::next(data, m.as_mut())?)?,
        Protocol::Holdout => serde_json::to_value(protocols::holdout(data, m.as_mut())?)?,
        Protocol::Personalize => serde_json::to_value(protocols::personalize(data, m.as_mut(), 42)?)?,
        Protocol::All => bail!("tune one protocol at a time"),
    })
}

/// Runs `streamrec tune`.
pub fn run(args: TuneArgs) -> anyhow::Result<()> {
    let full = load(&args.file, &args.csv)?;
    // The validation data set: the training part of the protocol's split, split again the same way.
    let cut = protocols::cut(&full);
    let validation = Dataset { events: full.events[..cut].to_vec(), ..full.clone() };
    let recipes: Vec<RecipeName> = if args.auto {
        vec![RecipeName::UserPersonalization, RecipeName::Als, RecipeName::NextItem, RecipeName::PopularityCount]
    } else {
        vec![args.recipe]
    };
    let fixed = parse_params(&args.params)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut plan: Vec<(RecipeName, BTreeMap<String, String>)> = Vec::new();
    for &recipe in &recipes {
        let def = find(registry_name(recipe)).expect("registered recipe");
        let fixed_here: BTreeMap<String, String> = fixed
            .iter()
            .filter(|(k, _)| def.hyperparameter(k).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The defaults are always trial 0, so tuning can only improve on them.
        plan.push((recipe, fixed_here.clone()));
        for trial in 1..args.trials.max(1) {
            plan.push((recipe, candidate(def, &fixed_here, args.search, trial, &mut rng)));
        }
    }
    println!(
        "tuning {} trials ({}) on a validation split of {} events (the first {} of {}); objective {} under {:?}",
        plan.len(),
        recipes.iter().map(|r| registry_name(*r)).collect::<Vec<_>>().join(", "),
        validation.events.len(),
        cut,
        full.events.len(),
        args.objective,
        args.protocol
    );
    let progress = indicatif::ProgressBar::new(plan.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} trials, {elapsed} elapsed, ~{eta} left  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let trials: Mutex<Vec<Trial>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let parallel = args.parallel.clamp(1, plan.len().max(1));
    let workers = if parallel > 1 { 1 } else { 2 };
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((recipe, params)) = plan.get(i) else { break };
                let started = Instant::now();
                match measure(args.protocol, *recipe, params, &validation, workers) {
                    Ok(metrics) => {
                        let objective = metrics[&args.objective].as_f64().unwrap_or(f64::NAN);
                        let mut all = trials.lock().unwrap();
                        all.push(Trial {
                            trial: i,
                            recipe: registry_name(*recipe).to_string(),
                            params: params.clone(),
                            metrics,
                            objective,
                            seconds: started.elapsed().as_secs_f64(),
                        });
                        let best = all.iter().map(|t| t.objective).fold(f64::NAN, f64::max);
                        progress.set_message(format!("best {} {best:.4}", args.objective));
                    }
                    Err(e) => {
                        *failure.lock().unwrap() = Some(e);
                    }
                }
                progress.inc(1);
            });
        }
    });
    progress.finish();
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e.context("a trial failed"));
    }
    let mut trials = trials.into_inner().unwrap();
    trials.sort_by_key(|t| t.trial);
    if trials.iter().all(|t| t.objective.is_nan()) {
        bail!("objective {:?} is not a metric of the {:?} protocol", args.objective, args.protocol);
    }
    write_trials(&args.out, &trials)?;
    let best = trials.iter().max_by(|a, b| a.objective.total_cmp(&b.objective)).expect("at least one trial").clone();
    let default_of = |recipe: &str| trials.iter().find(|t| t.recipe == recipe).map(|t| t.objective).unwrap_or(f64::NAN);
    println!(
        "\nwinner: {} {}",
        best.recipe,
        best.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    );
    println!(
        "validation {}: {:.4} (the recipe's defaults: {:.4})",
        args.objective,
        best.objective,
        default_of(&best.recipe)
    );
    let recipe = recipes.iter().copied().find(|r| registry_name(*r) == best.recipe).expect("a tuned recipe");
    let test = measure(args.protocol, recipe, &best.params, &full, 2)?;
    println!(
        "test {} on the full protocol (unseen by every trial): {:.4}",
        args.objective,
        test[&args.objective].as_f64().unwrap_or(f64::NAN)
    );
    println!("trials written to {}/trials.csv and trials.json", args.out.display());
    Ok(())
}

fn write_trials(dir: &std::path::Path, trials: &[Trial]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("trials.json"), serde_json::to_string_pretty(trials)?)?;
    let mut names: Vec<&String> = trials.iter().flat_map(|t| t.params.keys()).collect();
    names.sort();
    names.dedup();
    let mut metrics: Vec<String> = trials
        .iter()
        .flat_map(|t| t.metrics.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default())
        .collect();
    metrics.sort();
    metrics.dedup();
    let mut w = csv::Writer::from_path(dir.join("trials.csv"))?;
    let mut header = vec!["trial".to_string(), "recipe".to_string(), "objective".to_string(), "seconds".to_string()];
    header.extend(names.iter().map(|n| n.to_string()));
    header.extend(metrics.iter().cloned());
    w.write_record(&header)?;
    for t in trials {
        let mut row = vec![t.trial.to_string(), t.recipe.clone(), t.objective.to_string(), format!("{:.2}", t.seconds)];
        row.extend(names.iter().map(|n| t.params.get(*n).cloned().unwrap_or_default()));
        row.extend(metrics.iter().map(|m| t.metrics[m].to_string()));
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_candidates_stay_in_their_tuning_ranges_and_keep_fixed_values() {
        let recipe = find("user-personalization").unwrap();
        let fixed = BTreeMap::from([("window".to_string(), "42".to_string())]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for trial in 0..200 {
            let c = candidate(recipe, &fixed, Search::Random, trial, &mut rng);
            assert_eq!(c["window"], "42");
            resolve(recipe, &c).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
            for h in recipe.hyperparameters.iter().filter(|h| h.name != "window") {
                match (h.tune, c.get(h.name)) {
                    (Some(Range::Integer(lo, hi)), Some(v)) => assert!((lo..=hi).contains(&v.parse::<i64>().unwrap())),
                    (Some(Range::Continuous(lo, hi)), Some(v)) => {
                        let v: f64 = v.parse().unwrap();
                        assert!(v >= lo - 1e-4 && v <= hi + 1e-4, "{} = {v}", h.name);
                    }
                    (Some(Range::Categorical(options)), Some(v)) => assert!(options.contains(&v.as_str())),
                    (None, v) => assert!(v.is_none(), "{} is not tuned", h.name),
                    (range, v) => panic!("{}: {range:?} {v:?}", h.name),
                }
            }
        }
    }

    #[test]
    fn grid_enumerates_every_combination_once() {
        let recipe = find("trending-now").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let intervals: Vec<String> = (0..4)
            .map(|t| candidate(recipe, &BTreeMap::new(), Search::Grid, t, &mut rng)["interval"].clone())
            .collect();
        assert_eq!(intervals, vec!["30m", "1h", "3h", "1d"]);
        assert_eq!(grid_points(Range::Integer(10, 20)), vec!["10", "15", "20"]);
    }
}

/// The outcome of [`optimise`]: the winning recipe and hyperparameters, and its validation objective.
#[derive(Clone, Debug)]
pub struct Tuned {
    /// Registry name of the winning recipe.
    pub recipe: &'static str,
    /// Its hyperparameters (given, tuned and defaulted).
    pub params: BTreeMap<String, String>,
    /// The objective on the validation split.
    pub objective: f64,
}

/// Hyperparameter optimisation as a solution version runs it (Personalize's `performHPO` / `performAutoML`):
/// random search over each recipe's *query* tuning ranges (graph parameters stay at `fixed` or their
/// defaults, because a dataset group serves every solution from one dataflow), `trials` per recipe, on the
/// validation split carved from the training part of the PERSONALIZE protocol, maximising `objective`.
/// Trial 0 of each recipe is its defaults. Stops early (keeping the best so far) once `stop` is set.
pub fn optimise(
    recipes: &[&'static str],
    fixed: &BTreeMap<String, String>,
    data: &Dataset,
    trials: usize,
    objective: &str,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Tuned> {
    let cut = protocols::cut(data);
    let validation = Dataset { events: data.events[..cut].to_vec(), ..data.clone() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut best: Option<Tuned> = None;
    for &name in recipes {
        let def = find(name).with_context(|| format!("recipe {name}"))?;
        let recipe = RecipeName::from_registry(name).with_context(|| format!("{name} cannot be trained offline"))?;
        let mut fixed_here: BTreeMap<String, String> = fixed
            .iter()
            .filter(|(k, _)| def.hyperparameter(k).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for h in def.hyperparameters.iter().filter(|h| h.scope == crate::recipes::Scope::Graph) {
            fixed_here.entry(h.name.to_string()).or_insert_with(|| h.default.to_string());
        }
        for trial in 0..trials.max(1) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let params = if trial == 0 {
                fixed_here.clone()
            } else {
                candidate(def, &fixed_here, Search::Random, trial, &mut rng)
            };
            let metrics = measure(Protocol::Personalize, recipe, &params, &validation, 1)?;
            let value = metrics.get(objective).and_then(|v| v.as_f64()).with_context(|| {
                format!(
                    "objective {objective:?} is not a metric (use e.g. normalized_discounted_cumulative_gain_at_10)"
                )
            })?;
            if best.as_ref().is_none_or(|b| value > b.objective) {
                best = Some(Tuned { recipe: def.name, params, objective: value });
            }
        }
    }
    best.context("no trial ran")
}
