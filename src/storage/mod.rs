//! Durable storage: the append-only event log and what is written to it.

pub mod log;
pub mod records;
