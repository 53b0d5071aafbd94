//! The timely workers: each runs the recommendation graph, takes its share of every epoch's input changes
//! from the sequencer, and publishes output updates into the [`ServingIndex`].
//!
//! Workers park when idle (`step_or_park`) and are woken by the sequencer with `Thread::unpark`, so an idle
//! server uses no CPU and the workers never spin against the HTTP threads for the two cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::Thread;
use std::time::Duration;

use dataflows::inputs::GraphInputs;
use dataflows::{Epoch, InputChanges, Params};
use timely::dataflow::operators::probe::Handle;
use timely::dataflow::operators::Inspect;
use timely::dataflow::operators::Probe;
use timely::WorkerConfig;

use super::index::ServingIndex;

/// A message from the sequencer to one worker.
pub enum WorkerMsg {
    /// This worker's share of one epoch's input changes; every worker gets one per epoch, maybe empty.
    Epoch {
        /// The epoch the changes happen at.
        epoch: Epoch,
        /// The changes.
        changes: InputChanges,
    },
}

/// What the workers share with the rest of the engine.
pub struct WorkerShared {
    /// Each worker's output frontier: every epoch below it is fully published by that worker.
    frontiers: Vec<AtomicU64>,
    /// The minimum of `frontiers`, broadcast to waiters.
    published: tokio::sync::watch::Sender<Epoch>,
    /// Worker threads, for waking.
    threads: Mutex<Vec<Thread>>,
    /// The published frontier again, for threads that block on it (the sequencer) rather than poll.
    advanced: (Mutex<Epoch>, Condvar),
    /// Where outputs are published.
    pub index: Arc<ServingIndex>,
}

impl WorkerShared {
    /// The published frontier: every epoch below it is reflected in the index.
    pub fn published(&self) -> Epoch {
        *self.published.borrow()
    }

    /// Blocks until the published frontier reaches at least `epoch` or `timeout` passes; whether it did.
    pub fn wait_published_for(&self, epoch: Epoch, timeout: Duration) -> bool {
        let (frontier, advanced) = &self.advanced;
        let frontier = frontier.lock().unwrap();
        let (frontier, _) = advanced.wait_timeout_while(frontier, timeout, |f| *f < epoch).unwrap();
        *frontier >= epoch
    }

    /// A receiver that sees the published frontier advance.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Epoch> {
        self.published.subscribe()
    }

    /// Wakes every parked worker.
    pub fn wake(&self) {
        for t in self.threads.lock().unwrap().iter() {
            t.unpark();
        }
    }

    fn set_frontier(&self, worker: usize, frontier: Epoch) {
        self.frontiers[worker].store(frontier, Ordering::Release);
        let min = self.frontiers.iter().map(|f| f.load(Ordering::Acquire)).min().unwrap_or(0);
        let advanced = self.published.send_if_modified(|p| {
            if min > *p {
                *p = min;
                true
            } else {
                false
            }
        });
        if advanced {
            let (frontier, waiters) = &self.advanced;
            let mut frontier = frontier.lock().unwrap();
            *frontier = (*frontier).max(min);
            waiters.notify_all();
        }
    }
}

/// Running workers: the channel ends to feed them and the guard that joins them.
pub struct Workers {
    /// One sender per worker.
    pub senders: Vec<Sender<WorkerMsg>>,
    /// Shared state.
    pub shared: Arc<WorkerShared>,
    guards: Option<timely::communication::WorkerGuards<()>>,
}

impl Workers {
    /// Starts `n` workers running the graph with `params`.
    pub fn start(n: usize, params: &Params, index: Arc<ServingIndex>) -> anyhow::Result<Workers> {
        let n = n.max(1);
        let (published, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(WorkerShared {
            frontiers: (0..n).map(|_| AtomicU64::new(0)).collect(),
            published,
            threads: Mutex::new(Vec::new()),
            advanced: (Mutex::new(0), Condvar::new()),
            index,
        });
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..n {
            let (tx, rx) = std::sync::mpsc::channel();
            senders.push(tx);
            receivers.push(Mutex::new(Some(rx)));
        }
        let receivers = Arc::new(receivers);
        let config =
            timely::Config { communication: timely::CommunicationConfig::Process(n), worker: WorkerConfig::default() };
        let params = super::served(params.clone());
        let worker_shared = shared.clone();
        let guards = timely::execute(config, move |worker| {
            let index = worker.index();
            let rx = receivers[index].lock().unwrap().take().expect("one receiver per worker");
            worker_shared.threads.lock().unwrap().push(std::thread::current());
            run_worker(worker, rx, &params, &worker_shared);
        })
        .map_err(|e| anyhow::anyhow!("starting timely workers: {e}"))?;
        // Wait until every worker registered its thread, so `wake` reaches all of them.
        while shared.threads.lock().unwrap().len() < n {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Workers { senders, shared, guards: Some(guards) })
    }

    /// Closes the inputs and joins the worker threads.
    pub fn shutdown(&mut self) {
        self.senders.clear();
        self.shared.wake();
        if let Some(guards) = self.guards.take() {
            drop(guards.join());
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    rx: Receiver<WorkerMsg>,
    params: &Params,
    shared: &Arc<WorkerShared>,
) {
    let me = worker.index();
    let probe = Handle::new();
    let sink = shared.index.clone();
    let mut inputs = GraphInputs::new();
    worker.dataflow::<Epoch, _, _>(|scope| {
        let out = inputs.build(scope, params);
        let s = sink.clone();
        out.item_users.inspect(move |((k, c), _, d)| s.apply_item_users(*k, *c, *d)).probe_with(&probe);
        let s = sink.clone();
        out.item_events.inspect(move |((k, c), _, d)| s.apply_item_events(*k, *c, *d)).probe_with(&probe);
        let s = sink.clone();
        out.trend.inspect(move |((k, c), _, d)| s.apply_trend(*k, *c, *d)).probe_with(&probe);
        let s = sink.clone();
        out.recent.inspect(move |((u, e), _, d)| s.apply_recent(*u, *e, *d)).probe_with(&probe);
        let s = sink.clone();
        out.neighbour_lists.inspect(move |(item, list)| s.replace_neighbours(*item, list.clone())).probe_with(&probe);
        out.neighbours.probe_with(&probe);
        let s = sink.clone();
        out.window_counts.inspect(move |((i, c), _, d)| s.apply_window_count(*i, *c, *d)).probe_with(&probe);
        let s = sink.clone();
        out.affinity.inspect(move |((k, a), _, d)| s.apply_affinity(*k, *a, *d)).probe_with(&probe);
        let s = sink.clone();
        out.transitions.inspect(move |((t, c), _, d)| s.apply_transition(*t, *c, *d)).probe_with(&probe);
        let s = sink.clone();
        out.typed_recent.inspect(move |((u, e), _, d)| s.apply_typed_recent(*u, *e, *d)).probe_with(&probe);
        let s = sink.clone();
        out.context_counts.inspect(move |((k, c), _, d)| s.apply_context(*k, *c, *d)).probe_with(&probe);
        out.cooccurrence.probe_with(&probe);
    });
    let mut open = true;
    let mut trace = EpochTrace::new(me);
    while open {
        loop {
            match rx.try_recv() {
                Ok(WorkerMsg::Epoch { epoch, mut changes }) => {
                    trace.received(epoch, changes.events.len());
                    inputs.feed(&mut changes);
                    inputs.advance_to(epoch + 1);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        worker.step_or_park(Some(Duration::from_millis(20)));
        let frontier = probe.with_frontier(|f| f.first().copied().unwrap_or(Epoch::MAX));
        shared.set_frontier(me, frontier);
        trace.published(frontier);
    }
    inputs.close();
    while worker.step_or_park(Some(Duration::from_millis(5))) {}
}

/// The debug trace of each epoch in one worker (`STREAMREC_LOG=streamrec::engine::workers=debug`): its share
/// of the events, the time from receiving it to publishing it, and how this thread spent that time: on a
/// core (`cpu_ms`), ready but waiting for a core (`runnable_ms`: other threads had both), or neither (the
/// rest: waiting for its peer or for input). One worker's CPU time well above the other's means uneven
/// work, which is how a hash map doubling inside an epoch was found.
struct EpochTrace {
    worker: usize,
    enabled: bool,
    /// Epochs received and not yet published, with when they arrived and the thread's times then.
    open: std::collections::VecDeque<(Epoch, usize, std::time::Instant, ThreadTimes)>,
}

impl EpochTrace {
    fn new(worker: usize) -> Self {
        EpochTrace { worker, enabled: tracing::enabled!(tracing::Level::DEBUG), open: Default::default() }
    }

    fn received(&mut self, epoch: Epoch, events: usize) {
        if self.enabled {
            self.open.push_back((epoch, events, std::time::Instant::now(), ThreadTimes::now()));
        }
    }

    fn published(&mut self, frontier: Epoch) {
        while self.open.front().is_some_and(|&(epoch, ..)| epoch < frontier) {
            let Some((epoch, events, received, then)) = self.open.pop_front() else { break };
            let now = ThreadTimes::now();
            let ms = received.elapsed().as_secs_f64() * 1e3;
            let cpu_ms = now.on_cpu.saturating_sub(then.on_cpu).as_secs_f64() * 1e3;
            let runnable_ms = now.runnable.saturating_sub(then.runnable).as_secs_f64() * 1e3;
            tracing::debug!(worker = self.worker, epoch, events, ms, cpu_ms, runnable_ms, "epoch published");
        }
    }
}

/// The calling thread's time on a core and ready to run but waiting for one, so far (Linux scheduler
/// statistics; zero where `/proc/thread-self/schedstat` is missing).
#[derive(Clone, Copy, Default)]
struct ThreadTimes {
    on_cpu: Duration,
    runnable: Duration,
}

impl ThreadTimes {
    fn now() -> Self {
        let Ok(stat) = std::fs::read_to_string("/proc/thread-self/schedstat") else { return Self::default() };
        let mut fields = stat.split_whitespace().map(|f| Duration::from_nanos(f.parse().unwrap_or(0)));
        ThreadTimes { on_cpu: fields.next().unwrap_or_default(), runnable: fields.next().unwrap_or_default() }
    }
}
