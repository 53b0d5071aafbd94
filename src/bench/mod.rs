//! `streamrec bench`: load generators whose figures are reported next to a baseline measured in the same run.
//!
//! - `bench dataflows`: a synthetic Zipf stream through every dataflow (the graph), against the reference
//!   model computing the same outputs from scratch; each runs in its own child process so that peak memory
//!   (VmHWM) is measured separately.
//! - `bench http`: a server on loopback with a durable log; sustained ingest throughput, freshness (from an
//!   event's acknowledgement to a recommendation that reflects it), and query latency at several
//!   concurrencies during ingest.
//! - `bench filters` ([`filters`]): user recommendations under filters against unfiltered ones.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
pub mod filters;

use clap::{Args, Subcommand, ValueEnum};
use dataflows::{Op, Params};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineConfig, Submission};

/// Options of `streamrec bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchKind,
}

#[derive(Subcommand, Debug)]
enum BenchKind {
    /// Replay a synthetic Zipf stream through all dataflows, and through the reference model.
    Dataflows(StreamArgs),
    /// Run one side of `bench dataflows` in this process and print a JSON result line.
    #[command(hide = true)]
    DataflowsChild(ChildArgs),
    /// HTTP ingest throughput, freshness and query latency on loopback.
    Http(HttpArgs),
    /// Latency of user recommendations under filters (one removing 95% of the catalogue) against unfiltered.
    Filters(filters::FilterBenchArgs),
}

/// The synthetic stream.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct StreamArgs {
    /// Events.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Users (Zipf-distributed activity).
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Items (Zipf-distributed popularity).
    #[arg(long, default_value_t = 20_000)]
    pub items: u64,
    /// Zipf exponent of both.
    #[arg(long, default_value_t = 1.0)]
    pub exponent: f64,
    /// Zipf exponent of items' popularity, if not `--exponent` (`--exponent 0 --item-exponent 0.67` is close
    /// to `bench http`'s load: uniform users, popularity falling as rank^-2/3).
    #[arg(long)]
    pub item_exponent: Option<f64>,
    /// Timely workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Events per epoch.
    #[arg(long, default_value_t = 200_000)]
    pub epoch: usize,
    /// Recent window length (items per user).
    #[arg(long, default_value_t = 20)]
    pub window: usize,
    /// Neighbours per item.
    #[arg(long, default_value_t = 20)]
    pub neighbours: usize,
    /// Events fed first, in one untimed epoch, to bring the graph to a steady state (windows full) before
    /// the timed `--events` (`bench dataflows-child` only).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Graph,
    Reference,
}

#[derive(Args, Debug)]
struct ChildArgs {
    #[arg(long, value_enum)]
    model: Model,
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Serialize, Deserialize, Debug)]
struct ChildResult {
    seconds: f64,
    events_per_second: f64,
    peak_rss_bytes: u64,
    generate_seconds: f64,
}

pub use dataflows::synthetic::zipf_stream;
use dataflows::synthetic::zipf_stream_of;

/// The engine's params, with the outputs it serves from, at the stream's window and list sizes.
fn stream_params(s: &StreamArgs) -> Params {
    let mut p = crate::engine::served(crate::engine::default_params());
    p.window.max_items = s.window;
    p.cooccurrence_window.max_items = s.window;
    p.neighbours = s.neighbours;
    p
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Runs a benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Dataflows(stream) => bench_dataflows(stream),
        BenchKind::DataflowsChild(child) => {
            let result = dataflows_child(child.model, &child.stream);
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        BenchKind::Http(http) => bench_http(http),
        BenchKind::Filters(args) => filters::run(args),
    }
}

fn dataflows_child(model: Model, s: &StreamArgs) -> ChildResult {
    let generated = Instant::now();
    let item_exponent = s.item_exponent.unwrap_or(s.exponent);
    let mut events = zipf_stream_of(s.events + s.warmup, (s.users, s.exponent), (s.items, item_exponent), 7);
    let timed = events.split_off(s.warmup as usize);
    let warmup = std::mem::replace(&mut events, timed);
    let generate_seconds = generated.elapsed().as_secs_f64();
    let params = stream_params(s);
    let started = Instant::now();
    let (seconds, timed_events) = match model {
        Model::Graph => {
            let first: Vec<Vec<Op>> =
                (!warmup.is_empty()).then(|| warmup.iter().map(|e| Op::Insert(*e)).collect()).into_iter().collect();
            let timed_from = first.len();
            let batches: Vec<Vec<Op>> = first
                .into_iter()
                .chain(events.chunks(s.epoch.max(1)).map(|c| c.iter().map(|e| Op::Insert(*e)).collect()))
                .collect();
            drop(events);
            (dataflows::run::time_batches(&params, s.workers, batches, timed_from).as_secs_f64(), s.events)
        }
        Model::Reference => {
            let mut reference = dataflows::reference::Reference::new(params);
            for e in warmup.iter().chain(&events) {
                reference.apply(&Op::Insert(*e));
            }
            drop(events);
            std::hint::black_box(reference.snapshot());
            // The reference recomputes from scratch, so its warm-up is not separable: it is timed with the rest.
            (started.elapsed().as_secs_f64(), s.events + s.warmup)
        }
    };
    ChildResult {
        seconds,
        events_per_second: timed_events as f64 / seconds,
        peak_rss_bytes: peak_rss_bytes(),
        generate_seconds,
    }
}

fn bench_dataflows(s: StreamArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    println!(
        "bench dataflows: {} events, {} users, {} items, Zipf {}, {} workers, {}-event epochs, window {}, {} neighbours",
        s.events, s.users, s.items, s.exponent, s.workers, s.epoch, s.window, s.neighbours
    );
    let mut results = Vec::new();
    for model in ["graph", "reference"] {
        let out = std::process::Command::new(&exe)
            .args(["bench", "dataflows-child", "--model", model])
            .args(["--events", &s.events.to_string(), "--users", &s.users.to_string(), "--items", &s.items.to_string()])
            .args([
                "--exponent",
                &s.exponent.to_string(),
                "--workers",
                &s.workers.to_string(),
                "--epoch",
                &s.epoch.to_string(),
            ])
            .args(["--window", &s.window.to_string(), "--neighbours", &s.neighbours.to_string()])
            .args(s.item_exponent.map(|e| format!("--item-exponent={e}")))
            .output()
            .context("running the benchmark child")?;
        if !out.status.success() {
            bail!("{model} run failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let result: ChildResult = serde_json::from_str(text.lines().last().unwrap_or("")).context("child output")?;
        results.push((model, result));
    }
    println!("{:<10} {:>10} {:>14} {:>14}", "model", "seconds", "events/s", "peak RSS MiB");
    for (model, r) in &results {
        println!(
            "{:<10} {:>10.2} {:>14.0} {:>14.0}",
            model,
            r.seconds,
            r.events_per_second,
            r.peak_rss_bytes as f64 / (1 << 20) as f64
        );
    }
    let (graph, reference) = (&results[0].1, &results[1].1);
    println!(
        "graph/reference: {:.2}x the throughput, {:.2}x the peak memory (the reference recomputes once, at the end; \
         the graph keeps every output current after every epoch)",
        graph.events_per_second / reference.events_per_second,
        graph.peak_rss_bytes as f64 / reference.peak_rss_bytes.max(1) as f64
    );
    Ok(())
}

/// Options of `bench http`.
#[derive(Args, Debug)]
pub struct HttpArgs {
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Events per POST.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent ingest connections without `--rate` (with it, POSTs go out on schedule, at most 16 per
    /// connection outstanding).
    #[arg(long, default_value_t = 8)]
    pub ingest_clients: usize,
    /// Concurrent freshness probes (each posts one event and then asks for its user's recommendations): more
    /// probes, more samples in the phase, so its p99 is a percentile rather than the slowest sample.
    #[arg(long, default_value_t = 4)]
    pub probes: usize,
    /// Query concurrencies to measure (during ingest).
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub query_clients: Vec<usize>,
    /// Events loaded before measuring.
    #[arg(long, default_value_t = 200_000)]
    pub preload: u64,
    /// Data directory (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Offered ingest rate in events/s, sent on schedule whatever the acknowledgements do (0: as fast as
    /// acknowledgements return on `--ingest-clients` connections).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Timely workers of the server's engine.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// The synthetic shop of `bench http`: users uniformly active, item popularity heavily skewed (an item's
/// rank is `items · u³` for uniform `u`: the top 0.1% of items get 10% of the events).
struct Load {
    users: u64,
    items: u64,
    /// Event time of the first live event: right after the preloaded history, so that live events extend
    /// users' windows rather than expire them (a jump in event time would retract every window at once).
    live_from: i64,
}

impl Load {
    fn draw(&self, rng: &mut impl Rng) -> (u64, u64) {
        let user = rng.gen_range(0..self.users);
        let item = (rng.gen_range(0.0f64..1.0).powi(3) * self.items as f64) as u64;
        (user, item)
    }
}

fn event_json(rng: &mut impl Rng, load: &Load, ts: i64) -> serde_json::Value {
    let (user, item) = load.draw(rng);
    serde_json::json!({ "userId": format!("u{user}"), "itemId": format!("i{item}"), "eventType": "view", "timestamp": ts })
}

fn bench_http(args: HttpArgs) -> anyhow::Result<()> {
    let scratch = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("streamrec-bench-{}", std::process::id())));
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let mut config = EngineConfig::new(&scratch);
    config.workers = args.workers;
    let engine = Engine::open(config)?;
    let base_ts = 1_700_000_000;
    let load = Load { users: 20_000, items: 5_000, live_from: base_ts + args.preload as i64 + 1 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut preload = Vec::new();
    for i in 0..args.preload {
        let v = event_json(&mut rng, &load, base_ts + i as i64);
        preload.push(Submission::Interaction(
            crate::api::native::validate_event(v, 0).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        ));
        if preload.len() == 50_000 {
            engine.submit_blocking(std::mem::take(&mut preload))?;
        }
    }
    engine.submit_blocking(preload)?;
    engine.wait_for_acknowledged_blocking(Duration::from_secs(600))?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let insecure = crate::cli::PersonalizeArgs::insecure_local().config(2)?;
    let server = std::thread::spawn(move || {
        crate::cli::serve_blocking(engine, insecure, "127.0.0.1:0".parse().unwrap(), Some(ready_tx))
    });
    let addr = ready_rx.blocking_recv().context("server did not start")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(http_phases(addr, &args, load));
    // Stop the server the way an operator would.
    let _ = std::process::Command::new("kill").args(["-INT", &std::process::id().to_string()]).status();
    let _ = server.join();
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result
}

/// The ingest load: POSTs of `batch` events each, either on a fixed schedule (open loop: a slow server
/// does not slow the offered load, so a shortfall shows up as fewer acknowledged events and longer
/// acknowledgement times, as in wrk2) or as fast as acknowledgements return on `connections` connections.
struct Ingest {
    client: reqwest::Client,
    url: String,
    batch: usize,
    /// Events per second when paced; 0 for closed loop.
    rate: u64,
    connections: usize,
    load: Arc<Load>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    /// Time from sending a POST to its acknowledgement, µs.
    ack_latency: Arc<std::sync::Mutex<Histogram<u64>>>,
}

impl Ingest {
    /// Runs until `stop` is set.
    async fn run(self) {
        let this = Arc::new(self);
        if this.rate == 0 {
            let loops: Vec<_> =
                (0..this.connections).map(|c| tokio::spawn(this.clone().closed_loop(c as u64))).collect();
            for l in loops {
                let _ = l.await;
            }
            return;
        }
        // Open loop: one POST per period, each on its own task; at most `connections × 16` outstanding, so
        // memory stays bounded when the server falls far behind (the schedule then slips, visibly).
        let period = Duration::from_secs_f64(this.batch as f64 / this.rate as f64);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let outstanding = Arc::new(tokio::sync::Semaphore::new(this.connections * 16));
        let mut rng = rand::rngs::StdRng::seed_from_u64(100);
        let mut ts = this.load.live_from;
        while !this.stop.load(Ordering::Relaxed) {
            ticks.tick().await;
            let Ok(permit) = outstanding.clone().acquire_owned().await else { break };
            let body = events_body(&mut rng, &this.load, &mut ts, this.batch);
            let this = this.clone();
            tokio::spawn(async move {
                this.post(body).await;
                drop(permit);
            });
        }
        // Let the POSTs in flight finish.
        let _ = outstanding.acquire_many(this.connections as u32 * 16).await;
    }

    async fn closed_loop(self: Arc<Self>, seed: u64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(100 + seed);
        let mut ts = self.load.live_from;
        while !self.stop.load(Ordering::Relaxed) {
            let body = events_body(&mut rng, &self.load, &mut ts, self.batch);
            if !self.post(body).await {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    async fn post(&self, body: String) -> bool {
        let sent = Instant::now();
        let request = self.client.post(&self.url).header("content-type", "application/json").body(body);
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                self.acked.fetch_add(self.batch as u64, Ordering::Relaxed);
                let _ = self.ack_latency.lock().unwrap().record(sent.elapsed().as_micros() as u64);
                true
            }
            _ => false,
        }
    }
}

/// A `POST /v1/events` body of `n` events, written directly (building `serde_json::Value`s per event made
/// the load generator a visible share of the CPU it shares with the server).
fn events_body(rng: &mut impl Rng, load: &Load, ts: &mut i64, n: usize) -> String {
    use std::fmt::Write;
    let mut body = String::with_capacity(n * 80 + 16);
    body.push_str("{\"events\":[");
    for i in 0..n {
        *ts += 1;
        let (user, item) = load.draw(rng);
        if i > 0 {
            body.push(',');
        }
        let _ =
            write!(body, "{{\"userId\":\"u{user}\",\"itemId\":\"i{item}\",\"eventType\":\"view\",\"timestamp\":{ts}}}");
    }
    body.push_str("]}");
    body
}

/// Runs `probes` concurrent loops until `deadline`, each posting one event for a new user and then asking
/// for that user's recommendations; returns the times from acknowledgement to an answer, and how many
/// answers did not reflect the event (it must be excluded as seen, and explain the others).
async fn probe_freshness(
    client: &reqwest::Client,
    base: &str,
    event_time: i64,
    probes: usize,
    deadline: Instant,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let round = ROUND.fetch_add(1, Ordering::Relaxed);
    let fresh = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3)?));
    let stale = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::new();
    for p in 0..probes.max(1) {
        let (client, base, fresh, stale) = (client.clone(), base.to_string(), fresh.clone(), stale.clone());
        loops.push(tokio::spawn(async move {
            let mut k = 0u64;
            while Instant::now() < deadline {
                k += 1;
                let user = format!("fresh-{round}-{p}-{k}");
                let item = format!("i{}", k % 50);
                let body = serde_json::json!({ "events": [{ "userId": user, "itemId": item, "eventType": "view", "timestamp": event_time }] });
                let resp = client.post(format!("{base}/v1/events")).json(&body).send().await?;
                if !resp.status().is_success() {
                    bail!("POST /v1/events: {}", resp.status());
                }
                let acked_at = Instant::now();
                let answer: serde_json::Value = client
                    .get(format!("{base}/v1/recommendations?userId={user}&numResults=10"))
                    .send()
                    .await?
                    .json()
                    .await?;
                fresh.lock().unwrap().record(acked_at.elapsed().as_micros() as u64)?;
                let list = answer["itemList"].as_array().cloned().unwrap_or_default();
                let reflects = !list.is_empty()
                    && list.iter().all(|i| i["itemId"] != item.as_str())
                    && list.iter().any(|i| i["reason"]["kind"] == "becauseOf");
                if !reflects {
                    stale.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    for probe in loops {
        probe.await??;
    }
    let fresh = fresh.lock().unwrap().clone();
    Ok((fresh, stale.load(Ordering::Relaxed)))
}

fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    )
}

async fn http_phases(addr: SocketAddr, args: &HttpArgs, load: Load) -> anyhow::Result<()> {
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let load = Arc::new(load);
    let phase = Duration::from_secs(args.seconds);
    println!(
        "bench http on {base}: {} preloaded events, {}-event POSTs, {} ingest connections",
        args.preload, args.batch, args.ingest_clients
    );

    // Phase 1: ingest alone.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let ack_latency = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3)?));
    let ingest = tokio::spawn(
        Ingest {
            client: client.clone(),
            url: format!("{base}/v1/events"),
            batch: args.batch,
            rate: args.rate,
            connections: args.ingest_clients,
            load: load.clone(),
            stop: stop.clone(),
            acked: acked.clone(),
            ack_latency: ack_latency.clone(),
        }
        .run(),
    );
    let started = Instant::now();
    tokio::time::sleep(phase).await;
    let ingest_rate = acked.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let target = if args.rate > 0 {
        format!("offered {} events/s, open loop", args.rate)
    } else {
        format!("closed loop on {} connections", args.ingest_clients)
    };
    println!(
        "ingest alone ({target}): {ingest_rate:.0} events/s acknowledged (durable: fsync per group commit); \
         POST → acknowledgement {}",
        quantiles(&ack_latency.lock().unwrap())
    );

    // Phase 2: freshness during ingest: a new user's single event must be excluded (seen) from the answer.
    let (fresh, stale) = probe_freshness(&client, &base, load.live_from, args.probes, Instant::now() + phase).await?;
    println!(
        "freshness (ack → answer reflecting it), during ingest, {} concurrent probes: {}; answers not reflecting \
         the event: {stale}",
        args.probes.max(1),
        quantiles(&fresh)
    );

    // Phase 3: query latency at each concurrency during ingest.
    for &clients in &args.query_clients {
        let hist = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3)?));
        let qstop = Arc::new(AtomicBool::new(false));
        let before = acked.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut queries = Vec::new();
        for c in 0..clients {
            let (client, base, hist, qstop, load) =
                (client.clone(), base.clone(), hist.clone(), qstop.clone(), load.clone());
            queries.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + c as u64);
                while !qstop.load(Ordering::Relaxed) {
                    let user = rng.gen_range(0..load.users);
                    let t = Instant::now();
                    let ok = match client
                        .get(format!("{base}/v1/recommendations?userId=u{user}&numResults=25"))
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        let _ = hist.lock().unwrap().record(t.elapsed().as_micros() as u64);
                    }
                }
            }));
        }
        // Freshness probes alongside: what a user posting an event sees while the queries compete for the cores.
        let (fresh, stale) = probe_freshness(&client, &base, load.live_from, args.probes, started + phase).await?;
        tokio::time::sleep_until((started + phase).into()).await;
        qstop.store(true, Ordering::Relaxed);
        for q in queries {
            let _ = q.await;
        }
        let secs = started.elapsed().as_secs_f64();
        let h = hist.lock().unwrap();
        println!(
            "{clients} query clients during ingest: {:.0} queries/s, {}; ingest meanwhile {:.0} events/s; \
             freshness meanwhile {} ({stale} not reflecting)",
            h.len() as f64 / secs,
            quantiles(&h),
            (acked.load(Ordering::Relaxed) - before) as f64 / secs,
            quantiles(&fresh)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let _ = ingest.await;
    Ok(())
}
