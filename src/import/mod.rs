//! Bulk import of dataset files.

pub mod csv;

use std::path::Path;
use std::time::Duration;

use crate::engine::{Engine, Submission};
use crate::model::record::Record;
use crate::model::schema::{DatasetType, Schema};

/// The submission a validated record becomes.
pub fn submission(record: Record) -> Submission {
    match record {
        Record::Interaction(i) => Submission::Interaction(i),
        Record::Item(i) => Submission::Item(i),
        Record::User(u) => Submission::User(u),
    }
}

/// Imports one CSV file into an engine, keeping a few batches in flight, and returns the report once
/// every accepted record is durable and published. `replace` (a FULL import) clears the dataset in the same
/// submission as its first accepted records, so a file that cannot be read or whose every row is rejected
/// leaves the dataset as it was.
pub fn import_into(
    engine: &Engine,
    path: &Path,
    schema: &Schema,
    dataset: DatasetType,
    replace: bool,
    opts: &csv::CsvOptions,
) -> anyhow::Result<csv::ImportReport> {
    use anyhow::Context;
    const BATCH: usize = 20_000;
    let fresh = || {
        let mut batch = Vec::with_capacity(BATCH + 2);
        batch.push(Submission::Bulk);
        batch
    };
    let mut batch = fresh();
    if replace {
        batch.push(Submission::Clear(dataset));
    }
    // The marker, and the clear of a FULL import: what the first batch holds before any record.
    let mut preamble = batch.len();
    let mut in_flight = std::collections::VecDeque::new();
    let wait = |rx: tokio::sync::oneshot::Receiver<Result<u64, String>>| -> std::io::Result<()> {
        match rx.blocking_recv() {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => Err(std::io::Error::other("the engine stopped")),
        }
    };
    let report = csv::import_csv(path, schema, dataset, opts, &mut |record| {
        batch.push(submission(record));
        if batch.len() >= BATCH + preamble {
            in_flight.push_back(engine.submit(std::mem::replace(&mut batch, fresh())));
            preamble = 1;
            if in_flight.len() > 4 {
                wait(in_flight.pop_front().expect("non-empty"))?;
            }
        }
        Ok(())
    })
    .with_context(|| format!("importing {}", path.display()))?;
    if batch.len() > preamble {
        in_flight.push_back(engine.submit(batch));
    }
    for rx in in_flight {
        wait(rx)?;
    }
    engine.wait_for_acknowledged_blocking(Duration::from_secs(3600))?;
    Ok(report)
}
