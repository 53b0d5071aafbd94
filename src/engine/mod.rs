//! The engine of one dataset group: durable ingest, incremental computation, and a published index.
//!
//! An event travels: [`Engine::submit`] → the sequencer thread (interns ids, appends to the [`EventLog`],
//! one fsync per group of waiting submissions, then acknowledges with the epoch it was assigned) → the
//! timely workers (input changes at that epoch, see [`workers`]) → the [`ServingIndex`]. A query waits until
//! the published frontier passes the newest acknowledged epoch ([`Engine::wait_for_acknowledged`]), so it
//! reflects every event acknowledged before it arrived (read-your-writes).
//!
//! On start the log is replayed through the same path in large epochs.

pub mod catalog;
pub mod index;
pub mod sequencer;
pub mod workers;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dataflows::{Epoch, Params};

use crate::model::record::{Interaction, ItemRecord, UserRecord};
use crate::model::schema::DatasetType;
use crate::storage::log::{EventLog, LogOptions, RecoveryReport};
use catalog::Catalog;
use index::ServingIndex;
use workers::{WorkerShared, Workers};

/// How to run an engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The data directory (log segments under `log/`).
    pub data_dir: PathBuf,
    /// Graph parameters.
    pub params: Params,
    /// Timely worker threads.
    pub workers: usize,
    /// At most this many submitted records go into one epoch (and one fsync) when live.
    pub max_epoch_records: usize,
    /// Records per epoch when replaying the log on start.
    pub replay_epoch_records: usize,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            params: default_params(),
            workers: 2,
            max_epoch_records: 100_000,
            replay_epoch_records: 1_000_000,
        }
    }
}

/// streamrec's default graph parameters (documented in README.md).
pub fn default_params() -> Params {
    let mut p = Params::default();
    p.window.max_items = 100;
    p.neighbours = 50;
    p.trend_bucket_secs = 1_800;
    p
}

/// One record submitted for ingest.
#[derive(Clone, Debug)]
pub enum Submission {
    /// An interaction (external ids).
    Interaction(Interaction),
    /// An item record.
    Item(ItemRecord),
    /// A user record.
    User(UserRecord),
    /// Delete all interactions of a user (external id).
    DeleteUser(String),
    /// Replace a dataset: delete everything in it so far (a FULL import starts with this).
    Clear(DatasetType),
}

/// A running engine.
pub struct Engine {
    config: EngineConfig,
    commands: std::sync::mpsc::Sender<sequencer::Command>,
    shared: Arc<WorkerShared>,
    catalog: Arc<RwLock<Catalog>>,
    acknowledged: Arc<AtomicU64>,
    sequencer: Option<std::thread::JoinHandle<()>>,
    recovery: RecoveryReport,
    replayed: u64,
    _lock: File,
}

impl Engine {
    /// Opens the data directory (creating it), replays its log, and starts the workers and the sequencer.
    /// Returns once the replayed state is fully published.
    pub fn open(config: EngineConfig) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let lock = lock_data_dir(&config.data_dir)?;
        let started = Instant::now();
        let (log, recovery) = EventLog::open(&config.data_dir.join("log"), LogOptions::default())
            .with_context(|| format!("opening the event log in {}", config.data_dir.display()))?;
        let index = Arc::new(ServingIndex::default());
        let workers = Workers::start(config.workers, &config.params, index)?;
        let shared = workers.shared.clone();
        let catalog = Arc::new(RwLock::new(Catalog::default()));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let mut seq = sequencer::Sequencer::new(log, workers, catalog.clone(), acknowledged.clone(), &config);
        let replayed = seq.replay(config.replay_epoch_records)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let sequencer = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || seq.run(rx))
            .context("starting the sequencer thread")?;
        let engine = Engine {
            config,
            commands: tx,
            shared,
            catalog,
            acknowledged,
            sequencer: Some(sequencer),
            recovery,
            replayed,
            _lock: lock,
        };
        engine.wait_for_acknowledged_blocking(Duration::from_secs(3600))?;
        tracing::info!(records = replayed, seconds = started.elapsed().as_secs_f64(), "replayed the event log");
        Ok(engine)
    }

    /// Submits records; the returned receiver yields the epoch they were assigned once they are durable.
    pub fn submit(&self, records: Vec<Submission>) -> tokio::sync::oneshot::Receiver<Result<Epoch, String>> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        if let Err(std::sync::mpsc::SendError(sequencer::Command::Submit { ack, .. })) =
            self.commands.send(sequencer::Command::Submit { records, ack })
        {
            let _ = ack.send(Err("the engine is shut down".into()));
        }
        rx
    }

    /// Submits records and waits until they are durable.
    pub fn submit_blocking(&self, records: Vec<Submission>) -> anyhow::Result<Epoch> {
        match self.submit(records).blocking_recv() {
            Ok(Ok(epoch)) => Ok(epoch),
            Ok(Err(e)) => bail!("ingest failed: {e}"),
            Err(_) => bail!("the engine stopped before acknowledging"),
        }
    }

    /// Submits records and waits (asynchronously) until they are durable.
    pub async fn submit_async(&self, records: Vec<Submission>) -> anyhow::Result<Epoch> {
        match self.submit(records).await {
            Ok(Ok(epoch)) => Ok(epoch),
            Ok(Err(e)) => bail!("ingest failed: {e}"),
            Err(_) => bail!("the engine stopped before acknowledging"),
        }
    }

    /// The newest acknowledged epoch.
    pub fn acknowledged(&self) -> Epoch {
        self.acknowledged.load(Ordering::Acquire)
    }

    /// The published frontier: every epoch below it is in the index.
    pub fn published(&self) -> Epoch {
        self.shared.published()
    }

    /// Waits until everything acknowledged so far is in the index.
    pub async fn wait_for_acknowledged(&self, timeout: Duration) -> anyhow::Result<()> {
        let target = self.acknowledged();
        let mut rx = self.shared.subscribe();
        let waited = tokio::time::timeout(timeout, async { rx.wait_for(|p| *p > target).await.map(drop) }).await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the workers stopped"),
            Err(_) => bail!("timed out after {timeout:?} waiting for epoch {target} to be published"),
        }
    }

    /// Blocking form of [`Engine::wait_for_acknowledged`].
    pub fn wait_for_acknowledged_blocking(&self, timeout: Duration) -> anyhow::Result<()> {
        let target = self.acknowledged();
        let deadline = Instant::now() + timeout;
        while self.published() <= target {
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for epoch {target} to be published");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// The serving index.
    pub fn index(&self) -> &ServingIndex {
        &self.shared.index
    }

    /// The catalog (ids and metadata), for reading.
    pub fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// What opening the log found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Records replayed from the log on start.
    pub fn replayed(&self) -> u64 {
        self.replayed
    }

    /// Stops the sequencer (after it acknowledges what it has) and the workers.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(sequencer::Command::Shutdown);
        if let Some(handle) = self.sequencer.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Takes the data directory's exclusive lock, so two processes never append to one log.
fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the data directory {} is in use by another streamrec process (a running `streamrec serve`?); \
             stop it, or ask it over HTTP",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}
