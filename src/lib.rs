//! # streamrec
//!
//! A self-hosted recommendation engine in the spirit of Amazon Personalize, where every statistic a recipe
//! reads is maintained incrementally by a differential-dataflow graph (the `dataflows` crate), so the next
//! query after an event already sees it.
//!
//! How the pieces fit (see ARCHITECTURE.md for the full map):
//! - [`model`]: Personalize's dataset schemas (Avro JSON), typed records, and id interning.
//! - [`import`]: streaming CSV import with column mappings and a line-by-line error report.
//! - [`storage`]: the durable, checksummed, segmented event log and the records written to it.
//! - [`engine`]: the sequencer (log append + group commit → epochs), the timely workers running the graph,
//!   and the serving index the workers publish into.
//! - [`recommend`]: queries over the serving index: user recommendations, similar, popular and trending items.
//! - [`evaluate`]: offline evaluation protocols (HOLDOUT, NEXT, PERSONALIZE) and metrics.
//! - [`api`]: the HTTP server (native JSON API).
//! - [`cli`]: the `streamrec` command line, including `quickstart` and `bench`.

pub mod api;
pub mod bench;
pub mod cli;
pub mod engine;
pub mod evaluate;
pub mod filter;
pub mod filtering;
pub mod import;
pub mod model;
pub mod personalize;
pub mod quickstart;
pub mod recipes;
pub mod recommend;
pub mod storage;
