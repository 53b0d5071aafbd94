//! The `streamrec` command line: import, serve, ask, ingest, replay, quickstart and bench.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::{Engine, EngineConfig, Submission};
use crate::filtering::{self, Subject};
use crate::import::csv::{import_csv, parse_columns, CsvOptions, ImportReport};
use crate::model::record::{unix_now as now, Record};
use crate::model::schema::{DatasetType, Schema};
use crate::recommend::{self, Recommended, UserQuery};

/// streamrec: a self-hosted, incremental recommendation engine.
#[derive(Parser)]
#[command(name = "streamrec", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a sample data set, import it, serve it, and print commands to try.
    Quickstart(crate::quickstart::QuickstartArgs),
    /// Import a CSV file into a dataset (Personalize format, or another layout through a column mapping).
    Import(ImportArgs),
    /// Serve the HTTP API over a data directory.
    Serve(ServeArgs),
    /// Recommend items for a user.
    Recommend(RecommendArgs),
    /// Items similar to an item.
    Similar(SimilarArgs),
    /// The most popular items.
    Popular(AnswerArgs),
    /// The items trending now.
    Trending(AnswerArgs),
    /// Follow a stream of JSON Lines events (stdin or a file being appended to) into a data directory or server.
    Ingest(IngestArgs),
    /// Replay a data file (or a data directory's log) in timestamp order at full speed, optionally only up to
    /// a time, and answer queries as of then.
    Replay(ReplayArgs),
    /// List the recipes and their hyperparameters (defaults, ranges, tuning ranges).
    Recipes,
    /// Offline evaluation of a recipe under the HOLDOUT, NEXT and PERSONALIZE protocols.
    Evaluate(crate::evaluate::EvaluateArgs),
    /// Hyperparameter optimisation (and, with --auto, recipe selection) on a validation split.
    Tune(crate::evaluate::tune::TuneArgs),
    /// Benchmarks: the dataflows on a synthetic Zipf stream, and HTTP ingest/query load.
    Bench(crate::bench::BenchArgs),
}

/// Where the data lives and how the engine runs.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Data directory.
    #[arg(long, default_value = "streamrec-data")]
    pub data_dir: PathBuf,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

impl EngineArgs {
    /// Opens the engine.
    pub fn open(&self) -> anyhow::Result<Engine> {
        let mut config = EngineConfig::new(&self.data_dir);
        config.workers = self.workers;
        Engine::open(config)
    }
}

/// How a CSV file is laid out.
#[derive(Args, Clone, Debug, Default)]
pub struct CsvArgs {
    /// A layout preset: personalize (default), movielens-udata (u.data), movielens-csv (ratings.csv).
    #[arg(long)]
    pub format: Option<String>,
    /// Schema field of each column, in order (`-` skips a column), e.g. USER_ID,ITEM_ID,-,TIMESTAMP.
    #[arg(long)]
    pub columns: Option<String>,
    /// Header renames, e.g. userId=USER_ID,movieId=ITEM_ID.
    #[arg(long)]
    pub rename: Option<String>,
    /// Field delimiter (one character; `\t` for tab).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The file has no header row (give --columns).
    #[arg(long)]
    pub no_header: bool,
    /// Avro schema file (default: Personalize's minimal schema for the dataset type).
    #[arg(long)]
    pub schema: Option<PathBuf>,
}

impl CsvArgs {
    /// The CSV options these flags describe.
    pub fn options(&self, progress: bool) -> anyhow::Result<CsvOptions> {
        let mut opts = match &self.format {
            Some(name) => CsvOptions::preset(name).with_context(|| {
                format!("unknown --format {name:?}; known: {}", crate::import::csv::PRESETS.join(", "))
            })?,
            None => CsvOptions::default(),
        };
        if let Some(spec) = &self.columns {
            opts.columns = Some(parse_columns(spec));
        }
        if let Some(spec) = &self.rename {
            for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
                let (from, to) = pair.split_once('=').with_context(|| format!("--rename: {pair:?} is not FROM=TO"))?;
                opts.rename.push((from.trim().to_string(), to.trim().to_string()));
            }
        }
        if let Some(d) = &self.delimiter {
            opts.delimiter = match d.as_str() {
                "\\t" | "tab" => b'\t',
                s if s.len() == 1 => s.as_bytes()[0],
                s => bail!("--delimiter: {s:?} is not one character"),
            };
        }
        if self.no_header {
            opts.has_header = false;
        }
        opts.progress = progress;
        Ok(opts)
    }

    /// The schema for a dataset type.
    pub fn schema(&self, ty: DatasetType) -> anyhow::Result<Schema> {
        let schema = match &self.schema {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                Schema::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Schema::default_for(ty),
        };
        schema.validate_for(ty).map_err(|e| anyhow::anyhow!("schema for {ty}: {e}"))?;
        Ok(schema)
    }
}

/// Personalize's import modes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Replace the dataset with the file.
    Full,
    /// Add the file to the dataset.
    Incremental,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// interactions, items or users.
    #[arg(long, default_value = "interactions")]
    dataset: DatasetType,
    /// FULL replaces the dataset, INCREMENTAL adds to it.
    #[arg(long, value_enum, default_value = "incremental")]
    mode: ImportMode,
    #[command(flatten)]
    csv: CsvArgs,
    /// The CSV file.
    file: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    personalize: PersonalizeArgs,
}

/// How the Personalize-compatible API is served.
#[derive(Args, Clone, Debug)]
pub struct PersonalizeArgs {
    /// An access key the Personalize API accepts SigV4 signatures from, `ACCESS_KEY_ID:SECRET_ACCESS_KEY`
    /// (repeatable; also `STREAMREC_ACCESS_KEYS`, comma-separated).
    #[arg(long = "access-key", value_name = "ID:SECRET", env = "STREAMREC_ACCESS_KEYS", value_delimiter = ',')]
    pub access_keys: Vec<String>,
    /// Accept unsigned requests on the Personalize API (local development only: anyone who can reach the
    /// port can then change and read everything).
    #[arg(long)]
    pub no_verify_signatures: bool,
    /// Region in ARNs and in the signatures clients send.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Account id in ARNs.
    #[arg(long, default_value = "000000000000")]
    pub account_id: String,
    /// A directory `file://` data locations of jobs must be under (repeatable; default: anywhere this
    /// process can read and write).
    #[arg(long = "file-root", value_name = "DIR")]
    pub file_roots: Vec<PathBuf>,
}

impl PersonalizeArgs {
    /// The service configuration these flags describe.
    pub fn config(&self, engine_workers: usize) -> anyhow::Result<crate::personalize::PersonalizeConfig> {
        let mut access_keys = std::collections::HashMap::new();
        for pair in &self.access_keys {
            let (id, secret) = pair
                .split_once(':')
                .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                .with_context(|| "--access-key: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY".to_string())?;
            access_keys.insert(id.to_string(), secret.to_string());
        }
        Ok(crate::personalize::PersonalizeConfig {
            region: self.region.clone(),
            account: self.account_id.clone(),
            access_keys,
            verify_signatures: !self.no_verify_signatures,
            engine_workers,
            file_roots: self.file_roots.clone(),
        })
    }

    /// Local development settings: no signature checks.
    pub fn insecure_local() -> PersonalizeArgs {
        PersonalizeArgs {
            access_keys: Vec::new(),
            no_verify_signatures: true,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            file_roots: Vec::new(),
        }
    }
}

#[derive(Args)]
struct RecommendArgs {
    /// The user.
    #[arg(long)]
    user: String,
    /// The request's context, `FIELD=VALUE` (repeatable, e.g. `DEVICE=phone`): answers are conditioned on it.
    #[arg(long, value_name = "FIELD=VALUE")]
    context: Vec<String>,
    #[command(flatten)]
    answer: AnswerArgs,
}

#[derive(Args)]
struct SimilarArgs {
    /// The item.
    #[arg(long)]
    item: String,
    #[command(flatten)]
    answer: AnswerArgs,
}

/// What every command that prints an answer takes: the data directory, how many items, the output form,
/// and a filter.
#[derive(Args)]
struct AnswerArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// How many items.
    #[arg(short = 'n', long, default_value_t = 25)]
    num_results: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

impl AnswerArgs {
    /// Opens the engine, answers with `recipe` (asked for as many candidates as the filter needs) under the
    /// filter, and prints the answer.
    fn print(&self, subject: Subject, recipe: impl FnOnce(&Engine, usize) -> Vec<Recommended>) -> anyhow::Result<()> {
        let filter = self.filter.bind()?;
        let engine = self.engine.open()?;
        let items =
            filtering::answer(&engine, &subject, filter.as_ref(), self.num_results, |depth| recipe(&engine, depth));
        print_items(&items, self.json)
    }
}

/// A business rule on an answer.
#[derive(Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// A Personalize filter expression, applied before truncation
    /// (e.g. 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")').
    #[arg(long)]
    pub filter: Option<String>,
    /// A value of the filter's `$NAME` parameter: `NAME='"a","b"'` (repeatable).
    #[arg(long = "filter-value", value_name = "NAME=VALUES")]
    pub filter_values: Vec<String>,
}

impl FilterArgs {
    /// The filter, bound to its values.
    pub fn bind(&self) -> anyhow::Result<Option<crate::filter::BoundFilter>> {
        let values = crate::evaluate::parse_params(&self.filter_values)?.into_iter().collect();
        crate::filtering::bind_inline(self.filter.as_deref(), &values).map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Send to a running server (e.g. http://127.0.0.1:8080) instead of opening the data directory.
    #[arg(long)]
    server: Option<String>,
    /// Keep reading as the file grows (like `tail -f`); stop with Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Events per write.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// The JSON Lines file (default: standard input).
    file: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    csv: CsvArgs,
    /// Only events at or before this time (epoch seconds).
    #[arg(long)]
    until: Option<i64>,
    /// Users to recommend for once replayed.
    #[arg(long)]
    user: Vec<String>,
    /// Items to list similar items for once replayed.
    #[arg(long)]
    item: Vec<String>,
    /// How many items per answer.
    #[arg(short = 'n', long, default_value_t = 10)]
    num_results: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Replay the live interactions of this data directory's log instead of a file.
    #[arg(long, conflicts_with = "file")]
    from_data_dir: Option<PathBuf>,
    /// The interactions file.
    #[arg(required_unless_present = "from_data_dir")]
    file: Option<PathBuf>,
}

/// Runs the command line.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STREAMREC_LOG")
                .unwrap_or_else(|_| "streamrec=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Quickstart(args) => crate::quickstart::run(args),
        Command::Import(args) => {
            let engine = args.engine.open()?;
            let report = import_file(&engine, &args.file, args.dataset, args.mode, &args.csv, true)?;
            println!("{report}");
            engine.shutdown();
            Ok(())
        }
        Command::Serve(args) => {
            let config = args.personalize.config(args.engine.workers)?;
            let engine = args.engine.open()?;
            serve_blocking(engine, config, args.listen, None)
        }
        Command::Recommend(args) => {
            let context: Vec<(String, String)> = crate::evaluate::parse_params(&args.context)?.into_iter().collect();
            args.answer.print(Subject { user: Some(&args.user), ..Default::default() }, |engine, depth| {
                recommend::with_context(engine, &context, depth, |depth| {
                    recommend::for_user(engine, &args.user, &UserQuery::new(depth))
                })
            })
        }
        Command::Similar(args) => {
            args.answer.print(Subject { item: Some(&args.item), ..Default::default() }, |engine, depth| {
                recommend::similar(engine, &args.item, depth, 0.0, 100.0)
            })
        }
        Command::Popular(args) => {
            args.print(Subject::default(), |engine, depth| recommend::popular(engine, depth, None))
        }
        Command::Trending(args) => {
            args.print(Subject::default(), |engine, depth| recommend::trending(engine, depth, 3_600))
        }
        Command::Ingest(args) => ingest(args),
        Command::Replay(args) => replay(args),
        Command::Bench(args) => crate::bench::run(args),
        Command::Evaluate(args) => crate::evaluate::run(args),
        Command::Tune(args) => crate::evaluate::tune::run(args),
        Command::Recipes => {
            print!("{}", crate::recipes::describe());
            Ok(())
        }
    }
}

/// Serves an engine until interrupted.
pub fn serve_blocking(
    engine: Engine,
    personalize: crate::personalize::PersonalizeConfig,
    listen: SocketAddr,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    if !personalize.verify_signatures {
        tracing::warn!(
            "the Personalize API accepts unsigned requests (--no-verify-signatures): local development only"
        );
    } else if personalize.access_keys.is_empty() {
        tracing::warn!("no --access-key is configured: the Personalize API will refuse every request");
    }
    let personalize = crate::personalize::Personalize::open(&engine.config().data_dir, personalize)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let als = Arc::new(crate::recipes::als_service::AlsService::new(Default::default()));
    let state = Arc::new(crate::api::AppState { engine, als: als.clone(), personalize });
    // The als recipe's item factors retrain in the background while events arrive.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retrainer = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("als-retrain".into())
            .spawn(move || als.run_schedule(state, Duration::from_secs(60), stop))?
    };
    let served = runtime.block_on(crate::api::serve(state.clone(), listen, ready));
    drop(runtime);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = retrainer.join();
    served?;
    if let Ok(state) = Arc::try_unwrap(state) {
        state.engine.shutdown();
    }
    Ok(())
}

/// Prints recommended items as a table or JSON.
pub fn print_items(items: &[Recommended], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&serde_json::json!({ "itemList": items }))?)?;
        return Ok(());
    }
    writeln!(out, "{:>4}  {:<20} {:>10}  reason", "rank", "item", "score")?;
    for (rank, item) in items.iter().enumerate() {
        let reason = match &item.reason {
            recommend::Reason::BecauseOf { item_id } => format!("because of {item_id}"),
            recommend::Reason::Popular => "popular".to_string(),
            recommend::Reason::Trending => "trending".to_string(),
            recommend::Reason::Exploration => "exploration".to_string(),
            recommend::Reason::Unscored => "unscored".to_string(),
            recommend::Reason::Factors => "latent factors".to_string(),
        };
        writeln!(out, "{:>4}  {:<20} {:>10.4}  {reason}", rank + 1, item.item_id, item.score)?;
    }
    Ok(())
}

/// Imports one CSV file into an engine (see [`crate::import::import_into`]) with the command line's layout.
pub fn import_file(
    engine: &Engine,
    path: &Path,
    dataset: DatasetType,
    mode: ImportMode,
    csv: &CsvArgs,
    progress: bool,
) -> anyhow::Result<ImportReport> {
    let schema = csv.schema(dataset)?;
    let opts = csv.options(progress)?;
    crate::import::import_into(engine, path, &schema, dataset, mode == ImportMode::Full, &opts)
}

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let name = args.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "<stdin>".into());
    let sink: Box<dyn FnMut(Vec<serde_json::Value>) -> anyhow::Result<()>> = match &args.server {
        Some(url) => {
            let url = format!("{}/v1/events", url.trim_end_matches('/'));
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let client = reqwest::Client::new();
            Box::new(move |events| {
                runtime.block_on(async {
                    let resp = client.post(&url).json(&serde_json::json!({ "events": events })).send().await?;
                    if !resp.status().is_success() {
                        bail!("{url}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                    }
                    Ok(())
                })
            })
        }
        None => {
            let engine = args.engine.open()?;
            Box::new(move |events| {
                let now = now();
                let records = events
                    .into_iter()
                    .filter_map(|v| crate::api::native::validate_event(v, now).ok())
                    .map(Submission::Interaction)
                    .collect();
                engine.submit_blocking(records).map(drop)
            })
        }
    };
    let stats = follow_json_lines(input, &name, args.follow, args.batch.max(1), sink)?;
    eprintln!("ingested {} events, rejected {}", stats.0, stats.1);
    Ok(())
}

/// Reads JSON Lines events, reporting bad lines as `name:line: field: why`, and hands batches to `sink`.
/// With `follow`, waits for more input at end of file instead of stopping.
fn follow_json_lines(
    mut input: Box<dyn BufRead>,
    name: &str,
    follow: bool,
    batch_size: usize,
    mut sink: Box<dyn FnMut(Vec<serde_json::Value>) -> anyhow::Result<()>>,
) -> anyhow::Result<(u64, u64)> {
    let (mut accepted, mut rejected, mut line_no) = (0u64, 0u64, 0u64);
    let mut batch = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = input.read_line(&mut line).with_context(|| format!("reading {name}"))?;
        if read == 0 || !line.ends_with('\n') && follow {
            if !batch.is_empty() {
                accepted += batch.len() as u64;
                sink(std::mem::take(&mut batch))?;
            }
            if !follow {
                break;
            }
            // A partial last line is kept until its newline arrives.
            if read > 0 {
                let mut rest = line.clone();
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let mut more = String::new();
                    input.read_line(&mut more)?;
                    rest.push_str(&more);
                    if rest.ends_with('\n') {
                        break;
                    }
                }
                line = rest;
            } else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        line_no += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let parsed: Result<serde_json::Value, String> = serde_json::from_str(text).map_err(|e| e.to_string());
        match parsed.and_then(|v| {
            crate::api::native::validate_event(v.clone(), now()).map(|_| v).map_err(|(f, r)| format!("{f}: {r}"))
        }) {
            Ok(v) => batch.push(v),
            Err(reason) => {
                rejected += 1;
                eprintln!("{name}:{line_no}: {reason}");
            }
        }
        if batch.len() >= batch_size {
            accepted += batch.len() as u64;
            sink(std::mem::take(&mut batch))?;
        }
    }
    Ok((accepted, rejected))
}

fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let keep = |i: &crate::model::record::Interaction| args.until.is_none_or(|until| i.timestamp <= until);
    let mut events = Vec::new();
    match (&args.from_data_dir, &args.file) {
        (Some(dir), _) => events.extend(crate::engine::export_interactions(dir)?.into_iter().filter(|i| keep(i))),
        (None, Some(file)) => {
            let schema = args.csv.schema(DatasetType::Interactions)?;
            let opts = args.csv.options(true)?;
            let report = import_csv(file, &schema, DatasetType::Interactions, &opts, &mut |record| {
                if let Record::Interaction(i) = record {
                    if keep(&i) {
                        events.push(i);
                    }
                }
                Ok(())
            })?;
            eprintln!("{report}");
        }
        (None, None) => bail!("give an interactions file or --from-data-dir"),
    }
    // Timestamp order, ties in file order (the sort is stable).
    events.sort_by_key(|e| e.timestamp);
    let scratch = std::env::temp_dir().join(format!("streamrec-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let started = std::time::Instant::now();
    let mut config = EngineConfig::new(&scratch);
    config.fsync = false; // a scratch engine: its log is deleted below
    let engine = Engine::open(config)?;
    let count = events.len();
    for chunk in events.chunks(200_000) {
        engine.submit_blocking(chunk.iter().cloned().map(Submission::Interaction).collect())?;
    }
    engine.wait_for_acknowledged_blocking(Duration::from_secs(3600))?;
    eprintln!("replayed {count} events in {:.2}s", started.elapsed().as_secs_f64());
    for user in &args.user {
        println!("recommendations for user {user}:");
        print_items(&recommend::for_user(&engine, user, &UserQuery::new(args.num_results)), args.json)?;
    }
    for item in &args.item {
        println!("similar to item {item}:");
        print_items(&recommend::similar(&engine, item, args.num_results, 0.0, 100.0), args.json)?;
    }
    engine.shutdown();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
