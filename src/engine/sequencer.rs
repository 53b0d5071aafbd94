//! The sequencer: the single writer of a dataset group.
//!
//! It takes every waiting submission at once (group commit), interns new ids, appends the records to the
//! log, fsyncs once, and only then acknowledges them with their epoch. The same records become the graph's
//! input changes for that epoch (through [`EventFeed`], which keeps the state needed for exact retractions),
//! split across the workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use dataflows::{ContextEvent, Epoch, EventFeed, InputChanges, Interaction, Op};

use super::catalog::Catalog;
use super::workers::{WorkerMsg, Workers};
use super::{EngineConfig, Submission, WriteEpochs};
use crate::model::ids::IdSpace;
use crate::storage::log::EventLog;
use crate::storage::records::{InteractionDetails, LogRecord};

/// Where a submission's acknowledgement (its epoch, or why it failed) goes.
pub type AckSender = tokio::sync::oneshot::Sender<Result<Epoch, String>>;

/// A request to the sequencer.
pub enum Command {
    /// Make these records durable, then acknowledge with their epoch.
    Submit {
        /// The records.
        records: Vec<Submission>,
        /// Where the acknowledgement goes.
        ack: AckSender,
    },
    /// Answer with a reader over every record logged so far (after the submissions queued before it), so
    /// a caller can scan the whole history without stopping ingest: the reader has its own file handles.
    ReadLog(std::sync::mpsc::Sender<std::io::Result<crate::storage::log::LogReader>>),
    /// Stop after the submissions already queued.
    Shutdown,
}

/// The sequencer's state.
pub struct Sequencer {
    log: EventLog,
    workers: Workers,
    catalog: Arc<RwLock<Catalog>>,
    acknowledged: Arc<AtomicU64>,
    writes: Arc<WriteEpochs>,
    feed: EventFeed,
    epoch: Epoch,
    max_epoch_records: usize,
    fsync: bool,
    failed: Option<String>,
}

impl Sequencer {
    /// A sequencer over an opened log and running workers.
    pub fn new(
        log: EventLog,
        workers: Workers,
        catalog: Arc<RwLock<Catalog>>,
        acknowledged: Arc<AtomicU64>,
        writes: Arc<WriteEpochs>,
        config: &EngineConfig,
    ) -> Self {
        Sequencer {
            log,
            workers,
            catalog,
            acknowledged,
            writes,
            feed: EventFeed::for_params(&config.params),
            epoch: 0,
            max_epoch_records: config.max_epoch_records.max(1),
            fsync: config.fsync,
            failed: None,
        }
    }

    /// Replays the whole log into the catalog and the graph, in epochs of `epoch_records` operations.
    /// Returns the number of records replayed.
    pub fn replay(&mut self, epoch_records: usize) -> anyhow::Result<u64> {
        let reader = self.log.read_from(0).context("reading the event log")?;
        let mut ops = Vec::new();
        let mut count = 0;
        for entry in reader {
            let (lsn, payload) = entry.context("reading the event log")?;
            let record = LogRecord::decode(&payload).map_err(|e| anyhow::anyhow!("log record {lsn}: {e}"))?;
            self.catalog
                .write()
                .unwrap()
                .replay(record, &mut ops)
                .map_err(|e| anyhow::anyhow!("log record {lsn}: {e}"))?;
            count += 1;
            if ops.len() >= epoch_records.max(1) {
                let changes = self.input_changes(&ops);
                self.send(changes);
                ops.clear();
            }
        }
        let changes = self.input_changes(&ops);
        self.send(changes);
        self.acknowledged.store(self.epoch, Ordering::Release);
        Ok(count)
    }

    /// Serves submissions until shut down.
    pub fn run(mut self, commands: Receiver<Command>) {
        let mut open = true;
        while open {
            let first = match commands.recv() {
                Ok(c) => c,
                Err(_) => break,
            };
            let mut control = Control::default();
            let (group, size) = self.gather(Some(first), &commands, 0, &mut control);
            // The group is made durable and turned into input changes while the workers are still busy
            // with the previous epoch; it is sent, and acknowledged, once they have published that one.
            // Backpressure and adaptive batching: while the workers are busy, submissions queue up and then
            // go into the next epoch together, so epochs grow exactly as much as the dataflow needs to keep
            // up, and acknowledged events are never more than one epoch ahead of what queries see.
            let mut committing = std::time::Duration::ZERO;
            let committed = std::time::Instant::now();
            let mut prepared = self.commit(group);
            committing += committed.elapsed();
            let waited = std::time::Instant::now();
            let mut records = size;
            // What arrives while the workers are still busy is committed into the same epoch at once,
            // rather than after they publish: otherwise the next commit would start only when they are
            // done, and they would sit idle through it (every other epoch, measured).
            while !self.workers.shared.wait_published_for(self.epoch + 1, KEEP_COMMITTING_EVERY) {
                if control.stops() || records >= self.max_epoch_records {
                    continue;
                }
                let (more, size) = self.gather(commands.try_recv().ok(), &commands, records, &mut control);
                records += size;
                let committed = std::time::Instant::now();
                let more = self.commit(more);
                committing += committed.elapsed();
                match (prepared.as_mut(), more) {
                    (Some(prepared), Some(more)) => prepared.extend(more),
                    (None, more) => prepared = more,
                    (Some(_), None) => {}
                }
            }
            let commit_ms = committing.as_secs_f64() * 1e3;
            // From the first commit's end to the send, including the later commits.
            let wait_ms = waited.elapsed().as_secs_f64() * 1e3;
            if let Some(prepared) = prepared {
                self.publish(prepared);
            }
            tracing::debug!(epoch = self.epoch, records, commit_ms, wait_ms, "epoch");
            if let Some(reply) = control.read_log {
                let _ = reply.send(self.log.flush().and_then(|()| self.log.read_from(0)));
            }
            open = !control.shutdown;
        }
        self.workers.shutdown();
    }

    /// Collects `first` and the submissions queued behind it, up to the epoch's record limit (counting
    /// `already` records), stopping at a control command, which goes into `control`.
    fn gather(
        &self,
        first: Option<Command>,
        commands: &Receiver<Command>,
        already: usize,
        control: &mut Control,
    ) -> (Vec<(Vec<Submission>, AckSender)>, usize) {
        let mut group = Vec::new();
        let mut size = 0;
        let mut next = first;
        while let Some(command) = next.take() {
            match command {
                Command::Submit { records, ack } => {
                    size += records.len();
                    group.push((records, ack));
                }
                Command::ReadLog(reply) => {
                    control.read_log = Some(reply);
                    break;
                }
                Command::Shutdown => {
                    control.shutdown = true;
                    break;
                }
            }
            if already + size < self.max_epoch_records {
                next = commands.try_recv().ok();
            }
        }
        (group, size)
    }

    /// Logs and syncs one group of submissions and turns it into the next epoch's input changes; failures
    /// are acknowledged at once, successes only when [`Self::publish`] sends the epoch.
    fn commit(&mut self, group: Vec<(Vec<Submission>, AckSender)>) -> Option<Prepared> {
        if group.is_empty() {
            return None;
        }
        if let Some(reason) = &self.failed {
            for (_, ack) in group {
                let _ = ack.send(Err(reason.clone()));
            }
            return None;
        }
        let mut records = Vec::new();
        let mut ops = Vec::new();
        {
            let mut catalog = self.catalog.write().unwrap();
            for (batch, _) in &group {
                let bulk = matches!(batch.first(), Some(Submission::Bulk));
                if catalog.bulk != bulk {
                    catalog.bulk = bulk;
                    records.push(LogRecord::Source { bulk });
                }
                for submission in batch {
                    to_log_records(&mut catalog, submission, &mut records, &mut ops);
                }
            }
        }
        let durable = records.iter().try_for_each(|r| self.log.append(&r.encode()).map(drop)).and_then(|_| {
            if self.fsync {
                self.log.sync()
            } else {
                self.log.flush()
            }
        });
        if let Err(e) = durable {
            let reason = format!("the event log failed ({e}); the engine refuses writes until restarted");
            tracing::error!("{reason}");
            self.failed = Some(reason.clone());
            for (_, ack) in group {
                let _ = ack.send(Err(reason.clone()));
            }
            return None;
        }
        let changes = self.input_changes(&ops);
        Some(Prepared { ops, changes, acks: group.into_iter().map(|(_, ack)| ack).collect() })
    }

    /// Sends a prepared epoch to the workers, records which epoch each write went into, and acknowledges.
    fn publish(&mut self, prepared: Prepared) {
        let Prepared { ops, changes, acks } = prepared;
        self.send(changes);
        let epoch = self.epoch;
        for op in &ops {
            self.writes.record(op, epoch);
        }
        self.acknowledged.store(epoch, Ordering::Release);
        for ack in acks {
            let _ = ack.send(Ok(epoch));
        }
    }

    /// Turns operations into the next epoch's input changes, one share per worker.
    fn input_changes(&mut self, ops: &[Op]) -> Vec<InputChanges> {
        let mut changes = InputChanges::default();
        let index = &self.workers.shared.index;
        for op in ops {
            if let Op::Insert(e) = op {
                index.observe_time(e.timestamp);
            }
            self.feed.apply(op, &mut changes);
        }
        let n = self.workers.senders.len();
        let mut events = split(changes.events, n);
        let mut recent = split(changes.recent, n);
        let mut cowindow = split(changes.cowindow, n);
        let mut transitions = split(changes.transitions, n);
        let mut typed_recent = split(changes.typed_recent, n);
        let mut contexts = split(changes.contexts, n);
        (0..n)
            .map(|w| InputChanges {
                events: std::mem::take(&mut events[w]),
                recent: std::mem::take(&mut recent[w]),
                cowindow: std::mem::take(&mut cowindow[w]),
                transitions: std::mem::take(&mut transitions[w]),
                typed_recent: std::mem::take(&mut typed_recent[w]),
                contexts: std::mem::take(&mut contexts[w]),
            })
            .collect()
    }

    /// Sends each worker its share as the next epoch and wakes them.
    fn send(&mut self, shares: Vec<InputChanges>) {
        self.epoch += 1;
        for (sender, changes) in self.workers.senders.iter().zip(shares) {
            // A send fails only when the workers are gone (shutting down); nothing to do then.
            let _ = sender.send(WorkerMsg::Epoch { epoch: self.epoch, changes });
        }
        self.workers.shared.wake();
    }
}

/// A group of submissions made durable and turned into input changes, waiting to be sent as an epoch.
struct Prepared {
    ops: Vec<Op>,
    changes: Vec<InputChanges>,
    acks: Vec<AckSender>,
}

impl Prepared {
    /// Appends a later group, to be sent in the same epoch.
    fn extend(&mut self, later: Prepared) {
        self.ops.extend(later.ops);
        for (share, more) in self.changes.iter_mut().zip(later.changes) {
            share.extend(more);
        }
        self.acks.extend(later.acks);
    }
}

/// How often the sequencer, while the workers run an epoch, commits what arrived meanwhile.
const KEEP_COMMITTING_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

/// Commands met while gathering submissions, handled once the epoch is sent.
#[derive(Default)]
struct Control {
    read_log: Option<std::sync::mpsc::Sender<std::io::Result<crate::storage::log::LogReader>>>,
    shutdown: bool,
}

impl Control {
    /// Whether gathering must stop here: commands behind a control command wait for the next epoch.
    fn stops(&self) -> bool {
        self.read_log.is_some() || self.shutdown
    }
}

/// Splits `items` into `n` nearly equal parts, so every worker shares the input work.
fn split<T>(mut items: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let mut parts = Vec::with_capacity(n);
    let chunk = items.len().div_ceil(n.max(1));
    for _ in 1..n {
        let rest = items.split_off(chunk.min(items.len()));
        parts.push(std::mem::replace(&mut items, rest));
    }
    parts.push(items);
    parts
}

/// Interns ids and produces the log records and graph operations of one submission.
fn to_log_records(catalog: &mut Catalog, submission: &Submission, log: &mut Vec<LogRecord>, ops: &mut Vec<Op>) {
    match submission {
        Submission::Interaction(i) => {
            let user = catalog.intern(IdSpace::User, &i.user_id, log);
            let item = catalog.intern(IdSpace::Item, &i.item_id, log);
            let event_type = catalog.intern(IdSpace::EventType, i.event_type.as_deref().unwrap_or(""), log) as u16;
            let event = Interaction { user, item, event_type, timestamp: i.timestamp };
            let details = InteractionDetails {
                event_value: i.event_value,
                impression: i.impression.clone(),
                recommendation_id: i.recommendation_id.clone(),
                metadata: i.metadata.iter().filter(|(_, v)| !v.is_null()).cloned().collect(),
            };
            let details = (!details.is_empty()).then(|| Box::new(details));
            let contexts: Vec<u32> = crate::engine::catalog::context_names(&i.metadata)
                .iter()
                .map(|name| catalog.intern(IdSpace::Context, name, log))
                .collect();
            log.push(LogRecord::Interaction { event, details });
            ops.push(Op::Insert(event));
            ops.extend(contexts.into_iter().map(|context| Op::Context(ContextEvent { user, item, context })));
        }
        Submission::Item(record) => {
            let item = catalog.intern(IdSpace::Item, &record.item_id, log);
            catalog.put_item(item, record.clone());
            log.push(LogRecord::Item { item, record: record.clone() });
        }
        Submission::User(record) => {
            let user = catalog.intern(IdSpace::User, &record.user_id, log);
            catalog.put_user(user, record.clone());
            log.push(LogRecord::User { user, record: record.clone() });
        }
        Submission::Bulk => {}
        Submission::DeleteItem(name) => {
            if let Some(item) = catalog.item(name) {
                catalog.delete_item(item);
                log.push(LogRecord::DeleteItem { item });
            }
        }
        Submission::DeleteUser(name) => {
            if let Some(user) = catalog.user(name) {
                catalog.forget_user(user);
                log.push(LogRecord::DeleteUser { user });
                ops.push(Op::DeleteUser(user));
            }
        }
        Submission::Clear(dataset) => {
            log.push(LogRecord::Clear { dataset: *dataset });
            let _ = catalog.replay(LogRecord::Clear { dataset: *dataset }, ops);
        }
    }
}
