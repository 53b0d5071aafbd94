//! # dataflows: streamrec's incremental recommendation graphs
//!
//! Pure differential-dataflow: collections in, consolidated output collections out, no I/O. The engine
//! (`streamrec::engine`) owns the threads, the durable log and the serving indices; this crate owns *what*
//! is computed, so that editing the server never recompiles the dataflows.
//!
//! The layering:
//! - [`types`]: ids, the [`types::Interaction`] record, every documented parameter ([`types::Params`]).
//! - [`recent`]: each user's recent window, maintained outside the dataflow (bounded per-user state).
//! - [`feed`]: operations (insert, delete user, clear) → the graph's input changes.
//! - [`inputs`]: the graph's input sessions, fed from input changes.
//! - [`graph`]: the differential operators (popularity, trend buckets, affinity, co-occurrence) and the
//!   custom timely operator that maintains top-K neighbours.
//! - [`keyed`], [`partners`]: timely operators with their own keyed state (the affinity fold, co-occurrence
//!   and neighbour lists), for what differential's `reduce` and traces made too slow on live epochs.
//! - [`sharded`]: the hash map keyed state lives in, split so that growing never stalls an epoch.
//! - [`score`]: the pure arithmetic shared by the graph and the reference model.
//! - [`reference`]: the same outputs recomputed from scratch with maps and loops; property tests compare.
//! - [`synthetic`]: seeded Zipf streams for benchmarks.
//! - [`run`]: a harness that runs the graph over batches of operations (tests, benchmarks).
//!
//! Time: the dataflow's logical time is the sequencer's epoch, but no output depends on where epoch
//! boundaries fall, only on event times inside the data; a replay in one epoch equals a live stream.
//! Diffs are always integer counts; floats live only in values, as deterministic functions of sorted inputs.

pub mod cocounts;
pub mod feed;
pub mod graph;
pub mod inputs;
pub mod keyed;
pub mod partners;
pub mod recent;
pub mod reference;
pub mod run;
pub mod score;
pub mod sharded;
pub mod snapshot;
pub mod synthetic;
pub mod types;

pub use feed::{EventFeed, InputChanges, Op};
pub use snapshot::Snapshot;
pub use types::*;
