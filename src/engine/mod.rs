//! The engine of one dataset group: durable ingest, incremental computation, and a published index.
//!
//! An event travels: [`Engine::submit`] → the sequencer thread (interns ids, appends to the [`EventLog`],
//! one fsync per group of waiting submissions, then acknowledges with the epoch it was assigned) → the
//! timely workers (input changes at that epoch, see [`workers`]) → the [`ServingIndex`]. A query waits until
//! the published frontier passes the epoch of the newest acknowledged write it is about ([`WriteEpochs`]:
//! the user's own events for a user's recommendations, the item's for similar items), so it reflects every
//! such event acknowledged before it arrived (read-your-writes), without waiting for unrelated writes.
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
    /// Whether acknowledgements wait for fsync. Only scratch engines whose log is thrown away afterwards
    /// (replay, evaluate) turn it off.
    pub fsync: bool,
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
            fsync: true,
        }
    }
}

/// streamrec's default graph parameters (documented in README.md).
pub fn default_params() -> Params {
    let mut p = Params::default();
    p.window.max_items = 100;
    p.cooccurrence_window.max_items = 40;
    p.neighbours = 200;
    p.trend_bucket_secs = 1_800;
    p
}

/// `params` with the graph outputs set to what the serving index reads: no per-pair counts (nothing reads
/// them), and each changed neighbour list whole rather than its entries' changes. The workers apply it to
/// whatever params they are given.
pub fn served(mut params: Params) -> Params {
    params.publish_pair_counts = false;
    params.publish_neighbour_changes = false;
    params.publish_neighbour_lists = true;
    params
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
    /// Delete an item (external id): its record goes and it is never recommended again.
    DeleteItem(String),
    /// Marks the submission it starts as a bulk import (see [`crate::storage::records::LogRecord::Source`]);
    /// submissions without it come from the live API.
    Bulk,
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
    writes: Arc<WriteEpochs>,
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
        let writes = Arc::new(WriteEpochs::default());
        let mut seq =
            sequencer::Sequencer::new(log, workers, catalog.clone(), acknowledged.clone(), writes.clone(), &config);
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
            writes,
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

    /// Waits until every epoch up to `target` is in the index.
    pub async fn wait_for(&self, target: Epoch, timeout: Duration) -> anyhow::Result<()> {
        if self.published() > target {
            return Ok(());
        }
        let mut rx = self.shared.subscribe();
        let waited = tokio::time::timeout(timeout, async { rx.wait_for(|p| *p > target).await.map(drop) }).await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the workers stopped"),
            Err(_) => bail!("timed out after {timeout:?} waiting for epoch {target} to be published"),
        }
    }

    /// Waits until everything acknowledged so far is in the index.
    pub async fn wait_for_acknowledged(&self, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(self.acknowledged(), timeout).await
    }

    /// The epoch a query about this user must wait for: the newest acknowledged write of the user (or a
    /// dataset-wide clear), so that the user reads their own writes without waiting for everyone else's.
    pub fn user_epoch(&self, user: &str) -> Epoch {
        let id = self.catalog().user(user);
        self.writes.user_epoch(id)
    }

    /// The epoch a query about this item must wait for (its newest acknowledged interaction, or a clear).
    pub fn item_epoch(&self, item: &str) -> Epoch {
        let id = self.catalog().item(item);
        self.writes.item_epoch(id)
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

    /// The items no answer may contain (deleted or hidden), as of now.
    pub fn hidden_items(&self) -> Arc<std::collections::HashSet<dataflows::ItemId>> {
        self.catalog.read().unwrap().hidden.clone()
    }

    /// Every live interaction acknowledged so far (deletions and clears applied), read from the log while
    /// ingest goes on: the training data of a solution version and the rows of a dataset export.
    pub fn interactions(&self) -> anyhow::Result<Vec<Interaction>> {
        Ok(self.interactions_by_source()?.into_iter().map(|(i, _)| i).collect())
    }

    /// [`Engine::interactions`], each with whether it came from a bulk import (true) or the live API.
    pub fn interactions_by_source(&self) -> anyhow::Result<Vec<(Interaction, bool)>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.commands.send(sequencer::Command::ReadLog(tx)).map_err(|_| anyhow::anyhow!("the engine is shut down"))?;
        let reader = rx.recv().map_err(|_| anyhow::anyhow!("the engine stopped"))?.context("reading the event log")?;
        live_interactions(reader)
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

/// Reads the live interactions of a data directory from its log (in log order, deletions and clears
/// applied), with external ids: what `replay --from-data-dir` and exports start from. Takes the directory's
/// lock, so it fails while a server holds it (a running engine has [`Engine::interactions`]).
pub fn export_interactions(data_dir: &Path) -> anyhow::Result<Vec<Interaction>> {
    let _lock = lock_data_dir(data_dir)?;
    let (log, _) = EventLog::open(&data_dir.join("log"), LogOptions::default())
        .with_context(|| format!("opening the event log in {}", data_dir.display()))?;
    Ok(live_interactions(log.read_from(0)?)?.into_iter().map(|(i, _)| i).collect())
}

/// The interactions a log holds once its deletions and clears are applied, in log order, each with whether
/// it came from a bulk import.
fn live_interactions(reader: crate::storage::log::LogReader) -> anyhow::Result<Vec<(Interaction, bool)>> {
    let mut catalog = Catalog::default();
    let mut live: Vec<Option<(Interaction, bool)>> = Vec::new();
    let mut by_user: std::collections::HashMap<u32, Vec<usize>> = std::collections::HashMap::new();
    for entry in reader {
        let (lsn, payload) = entry?;
        let record = crate::storage::records::LogRecord::decode(&payload)
            .map_err(|e| anyhow::anyhow!("log record {lsn}: {e}"))?;
        if let crate::storage::records::LogRecord::Interaction { event, details } = &record {
            let details = details.as_deref().cloned().unwrap_or_default();
            by_user.entry(event.user).or_default().push(live.len());
            live.push(Some((
                Interaction {
                    user_id: catalog.ids.users.name(event.user).unwrap_or_default().to_string(),
                    item_id: catalog.item_name(event.item).to_string(),
                    timestamp: event.timestamp,
                    event_type: catalog
                        .ids
                        .event_types
                        .name(event.event_type as u32)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                    event_value: details.event_value,
                    impression: details.impression,
                    recommendation_id: details.recommendation_id,
                    metadata: details.metadata,
                },
                catalog.bulk,
            )));
        }
        let mut ops = Vec::new();
        catalog.replay(record, &mut ops).map_err(|e| anyhow::anyhow!("log record {lsn}: {e}"))?;
        for op in ops {
            match op {
                dataflows::Op::DeleteUser(user) => {
                    for i in by_user.remove(&user).unwrap_or_default() {
                        live[i] = None;
                    }
                }
                dataflows::Op::Clear => {
                    live.clear();
                    by_user.clear();
                }
                _ => {}
            }
        }
    }
    Ok(live.into_iter().flatten().collect())
}

/// The epoch of each user's and item's newest acknowledged write: what a query about them waits for.
#[derive(Default)]
pub struct WriteEpochs {
    users: dashmap::DashMap<dataflows::UserId, Epoch, rustc_hash::FxBuildHasher>,
    items: dashmap::DashMap<dataflows::ItemId, Epoch, rustc_hash::FxBuildHasher>,
    /// A write that touches everyone (a clear): every query waits for it.
    everyone: AtomicU64,
}

impl WriteEpochs {
    /// Records that `op` was acknowledged at `epoch`.
    pub fn record(&self, op: &dataflows::Op, epoch: Epoch) {
        match op {
            dataflows::Op::Insert(e) => {
                self.users.insert(e.user, epoch);
                self.items.insert(e.item, epoch);
            }
            dataflows::Op::DeleteUser(user) => {
                self.users.insert(*user, epoch);
                // The user's items lose a user too; a clear-like barrier keeps item queries exact.
                self.everyone.fetch_max(epoch, Ordering::AcqRel);
            }
            dataflows::Op::Clear => {
                self.everyone.fetch_max(epoch, Ordering::AcqRel);
            }
            // Always sent with its interaction's Insert, which records the epoch.
            dataflows::Op::Context(_) => {}
        }
    }

    /// What a query about `user` waits for.
    pub fn user_epoch(&self, user: Option<dataflows::UserId>) -> Epoch {
        let own = user.and_then(|u| self.users.get(&u).map(|e| *e)).unwrap_or(0);
        own.max(self.everyone.load(Ordering::Acquire))
    }

    /// What a query about `item` waits for.
    pub fn item_epoch(&self, item: Option<dataflows::ItemId>) -> Epoch {
        let own = item.and_then(|i| self.items.get(&i).map(|e| *e)).unwrap_or(0);
        own.max(self.everyone.load(Ordering::Acquire))
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
