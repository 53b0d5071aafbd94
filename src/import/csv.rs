//! Streaming import of CSV files into validated records.
//!
//! Reads Personalize-format CSV (a header row naming schema fields, RFC 4180
//! quoting) and other layouts through a column mapping (e.g. MovieLens'
//! headerless, tab-separated `u.data`). The file is read record by record, so
//! memory use does not grow with file size.
//!
//! Error policy, chosen so that one bad row never costs a whole import:
//! * problems with the file as a whole (missing file, no header, a required
//!   field without a column, an explicit column mapping naming an unknown
//!   field, an invalid schema) fail before any row is read;
//! * problems with one row (wrong number of fields, invalid UTF-8, a value
//!   that does not parse) reject that row, are recorded with the row's line
//!   number, and the import goes on;
//! * a failing sink aborts the import, because that is the engine failing to
//!   store data, not bad data.
//!
//! Header columns that match no schema field are *ignored with a warning* in
//! the report rather than failing the import: exports often carry extra
//! columns (MovieLens' `tags`, spreadsheet index columns) that are harmless to
//! drop, and the warning still makes a typo visible. Matching is exact and
//! case-sensitive, as in Personalize; the warning suggests the field a
//! near-miss was probably meant to be.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use csv::{ByteRecord, ReaderBuilder};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::record::{build_record, quote, Record};
use crate::model::schema::{DatasetType, Schema};

/// Names accepted by [`CsvOptions::preset`].
pub const PRESETS: &[&str] = &["personalize", "movielens-udata", "movielens-csv"];

/// Rows read between progress bar refreshes; a power of two keeps the check
/// cheap on the hot path.
const PROGRESS_EVERY: u64 = 4096;

/// The UTF-8 byte-order mark some tools (notably Excel) write first.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field separator byte (`b','` or `b'\t'` usually).
    pub delimiter: u8,
    /// Whether the first record is a header row (it is skipped either way
    /// when true, even if `columns` overrides its names).
    pub has_header: bool,
    /// The schema field of each column in order, `None` to skip a column.
    /// Required when there is no header; overrides the header when given.
    pub columns: Option<Vec<Option<String>>>,
    /// Header name → schema field renames, applied before matching the
    /// header against the schema (exact, case-sensitive).
    pub rename: Vec<(String, String)>,
    /// Show a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
    /// How many row errors to keep in the report; rejected rows beyond this
    /// are still counted.
    pub max_errors_reported: usize,
}

impl Default for CsvOptions {
    /// The `personalize` preset: comma-separated with a header row.
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            has_header: true,
            columns: None,
            rename: Vec::new(),
            progress: false,
            max_errors_reported: 100,
        }
    }
}

impl CsvOptions {
    /// Options for a well-known layout (case-insensitive name), or `None` for
    /// an unknown one (see [`PRESETS`]):
    /// * `personalize`: comma-separated, header row naming schema fields;
    /// * `movielens-udata`: MovieLens 100K `u.data`, tab-separated, no header,
    ///   columns `USER_ID, ITEM_ID, EVENT_VALUE, TIMESTAMP`;
    /// * `movielens-csv`: MovieLens `ratings.csv`, comma-separated with a
    ///   header, renaming `userId`, `movieId`, `rating`, `timestamp`.
    pub fn preset(name: &str) -> Option<CsvOptions> {
        let base = CsvOptions::default();
        match name.trim().to_ascii_lowercase().as_str() {
            "personalize" => Some(base),
            "movielens-udata" => Some(CsvOptions {
                delimiter: b'\t',
                has_header: false,
                columns: Some(parse_columns("USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP")),
                ..base
            }),
            "movielens-csv" => Some(CsvOptions {
                rename: [
                    ("userId", "USER_ID"),
                    ("movieId", "ITEM_ID"),
                    ("rating", "EVENT_VALUE"),
                    ("timestamp", "TIMESTAMP"),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
                ..base
            }),
            _ => None,
        }
    }
}

/// Parses a column mapping such as `USER_ID,ITEM_ID,-,TIMESTAMP`: one schema
/// field per column, `-`, `_` or an empty entry to skip the column. Entries
/// are trimmed. An empty (or all-blank) spec gives an empty mapping.
pub fn parse_columns(spec: &str) -> Vec<Option<String>> {
    if spec.trim().is_empty() {
        return Vec::new();
    }
    spec.split(',')
        .map(str::trim)
        .map(|s| match s {
            "" | "-" | "_" => None,
            name => Some(name.to_string()),
        })
        .collect()
}

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based physical line where the row starts, counting the header.
    pub line: u64,
    /// The schema field at fault, or empty when the row as a whole is bad
    /// (wrong number of fields, unparseable CSV).
    pub field: String,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "line {}: {}", self.line, self.reason)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
        }
    }
}

/// The outcome of importing one file.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportReport {
    /// The file imported.
    pub file: PathBuf,
    /// Data rows read (the header is not a row; blank lines are skipped).
    pub rows_read: u64,
    /// Rows turned into records and accepted by the sink.
    pub accepted: u64,
    /// Rows rejected (`rows_read == accepted + rejected`).
    pub rejected: u64,
    /// The first [`CsvOptions::max_errors_reported`] row errors, in file order.
    pub errors: Vec<RowError>,
    /// File-level notes, e.g. ignored header columns.
    pub warnings: Vec<String>,
    /// Wall-clock duration of the import.
    pub seconds: f64,
}

impl ImportReport {
    /// Rows read per second (0 for an instantaneous import).
    pub fn rows_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.rows_read as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for ImportReport {
    /// A summary line, then warnings, then the recorded errors as
    /// `file:line: FIELD: why` (the form editors and terminals link to).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        write!(
            f,
            "{file}: {} rows read, {} accepted, {} rejected in {:.2}s ({:.0} rows/s)",
            self.rows_read,
            self.accepted,
            self.rejected,
            self.seconds,
            self.rows_per_second()
        )?;
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        for e in &self.errors {
            if e.field.is_empty() {
                write!(f, "\n{file}:{}: {}", e.line, e.reason)?;
            } else {
                write!(f, "\n{file}:{}: {}: {}", e.line, e.field, e.reason)?;
            }
        }
        let hidden = self.rejected.saturating_sub(self.errors.len() as u64);
        if hidden > 0 {
            write!(f, "\n... and {hidden} more rejected rows not shown")?;
        }
        Ok(())
    }
}

/// An `InvalidData` error about the whole file, prefixed with its path.
fn file_error(path: &Path, msg: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {msg}", path.display()))
}

/// A column → schema field mapping, resolved before any row is read.
struct Mapping {
    /// Schema field index per column; `None` skips the column.
    columns: Vec<Option<usize>>,
    /// Notes for the report.
    warnings: Vec<String>,
}

/// Resolves which schema field each column feeds, and checks that every
/// non-nullable field has a column. `header` is the decoded header row when
/// the file has one.
fn resolve_mapping(schema: &Schema, opts: &CsvOptions, header: Option<&[String]>) -> Result<Mapping, String> {
    let mut warnings = Vec::new();
    let field_list = || schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let columns: Vec<Option<usize>> = if let Some(cols) = &opts.columns {
        // An explicit mapping is the user's own configuration: a name that
        // is not a schema field is a mistake to fail on, not to skip.
        let mut out = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            match col {
                None => out.push(None),
                Some(name) => match schema.field_index(name) {
                    Some(idx) => out.push(Some(idx)),
                    None => {
                        return Err(format!(
                            "column {} is mapped to {name:?}, which is not a schema field (schema fields: {})",
                            i + 1,
                            field_list()
                        ))
                    }
                },
            }
        }
        if let Some(h) = header {
            if h.len() != cols.len() {
                warnings.push(format!(
                    "the header has {} columns but the column mapping has {}; the mapping is used",
                    h.len(),
                    cols.len()
                ));
            }
        }
        out
    } else if let Some(h) = header {
        if h.is_empty() {
            return Err("the file is empty (expected a header row)".to_string());
        }
        h.iter()
            .enumerate()
            .map(|(i, name)| {
                let target =
                    opts.rename.iter().find(|(from, _)| from == name).map_or(name.as_str(), |(_, to)| to.as_str());
                let idx = schema.field_index(target);
                if idx.is_none() {
                    let hint = schema
                        .fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(target.trim()))
                        .map(|f| format!(" (did you mean {}? header names are matched exactly)", f.name))
                        .unwrap_or_default();
                    let shown = if target == name {
                        quote(name)
                    } else {
                        format!("{} (renamed to {})", quote(name), quote(target))
                    };
                    warnings.push(format!("column {} {shown} matches no schema field and is ignored{hint}", i + 1));
                }
                idx
            })
            .collect()
    } else {
        return Err(
            "the file has no header row and no column mapping was given; pass a column mapping (e.g. USER_ID,ITEM_ID,TIMESTAMP)"
                .to_string(),
        );
    };

    // Two columns feeding one field would make the row's value ambiguous.
    for (i, a) in columns.iter().enumerate() {
        if let Some(a) = a {
            if let Some(j) = columns[i + 1..].iter().position(|b| b == &Some(*a)) {
                return Err(format!(
                    "columns {} and {} both map to field {}",
                    i + 1,
                    i + j + 2,
                    schema.fields[*a].name
                ));
            }
        }
    }

    let missing: Vec<&str> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| !f.nullable && !columns.contains(&Some(*i)))
        .map(|(_, f)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        let seen = match header {
            Some(h) if opts.columns.is_none() => {
                format!("; the header has: {}", h.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
            }
            _ => String::new(),
        };
        return Err(format!(
            "no column for required field{} {}{seen}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    Ok(Mapping { columns, warnings })
}

/// A progress bar over the file's bytes, or nothing.
fn progress_bar(enabled: bool, total: u64) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
    {
        pb.set_style(style);
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    Some(pb)
}

/// Imports one CSV file, streaming validated records into `sink`.
///
/// The schema is checked with [`Schema::validate_for`] and the header (or
/// `opts.columns`) is resolved against it before any row is read; those
/// failures, a missing file, and read errors are returned as `Err` with the
/// path in the message. Row-level problems are counted in the report
/// instead (see the module docs). Non-nullable fields need a column; nullable
/// ones without a column are null in every record. A leading UTF-8 BOM is
/// skipped.
pub fn import_csv(
    path: &Path,
    schema: &Schema,
    ty: DatasetType,
    opts: &CsvOptions,
    sink: &mut dyn FnMut(Record) -> io::Result<()>,
) -> io::Result<ImportReport> {
    let started = Instant::now();
    schema.validate_for(ty).map_err(|e| file_error(path, format!("invalid {ty} schema: {e}")))?;
    let file =
        File::open(path).map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut input = BufReader::with_capacity(1 << 16, file);
    let bom = {
        let head = input.fill_buf().map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if head.starts_with(UTF8_BOM) {
            input.consume(UTF8_BOM.len());
            UTF8_BOM.len() as u64
        } else {
            0
        }
    };
    let mut rdr =
        ReaderBuilder::new().delimiter(opts.delimiter).has_headers(opts.has_header).flexible(true).from_reader(input);

    let header: Option<Vec<String>> = if opts.has_header {
        let h = rdr.byte_headers().map_err(|e| file_error(path, format!("cannot read the header row: {e}")))?;
        // Lossy decoding: a non-UTF-8 name then simply matches no field.
        Some(h.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect())
    } else {
        None
    };
    let mapping = resolve_mapping(schema, opts, header.as_deref()).map_err(|msg| file_error(path, msg))?;
    for w in &mapping.warnings {
        tracing::warn!(file = %path.display(), "{w}");
    }
    let expected = mapping.columns.len();

    let mut report = ImportReport {
        file: path.to_path_buf(),
        rows_read: 0,
        accepted: 0,
        rejected: 0,
        errors: Vec::new(),
        warnings: mapping.warnings.clone(),
        seconds: 0.0,
    };
    let pb = progress_bar(opts.progress, total_bytes);
    let reject = |report: &mut ImportReport, line: u64, field: &str, reason: String| {
        tracing::trace!(line, field, %reason, "row rejected");
        report.rejected += 1;
        if report.errors.len() < opts.max_errors_reported {
            report.errors.push(RowError { line, field: field.to_string(), reason });
        }
    };

    let mut record = ByteRecord::new();
    loop {
        if let Some(pb) = &pb {
            if report.rows_read.is_multiple_of(PROGRESS_EVERY) {
                pb.set_position(rdr.position().byte() + bom);
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                pb.set_message(format!("{} rows, {:.0} rows/s", report.rows_read, report.rows_read as f64 / secs));
            }
        }
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.into_kind() {
                    csv::ErrorKind::Io(err) => {
                        return Err(io::Error::new(
                            err.kind(),
                            format!("{}: read error near line {line}: {err}", path.display()),
                        ))
                    }
                    // With flexible(true) and byte records the parser has
                    // no other failure modes today, but if one appears it
                    // concerns this row only: reject it and go on.
                    other => {
                        report.rows_read += 1;
                        reject(&mut report, line, "", format!("malformed CSV: {other:?}"));
                        continue;
                    }
                }
            }
        }
        report.rows_read += 1;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != expected {
            reject(&mut report, line, "", format!("row has {} fields, expected {expected}", record.len()));
            continue;
        }
        let mut values = Vec::with_capacity(expected);
        let mut bad_utf8 = None;
        for (col, target) in mapping.columns.iter().enumerate() {
            let (Some(idx), Some(bytes)) = (target, record.get(col)) else {
                continue;
            };
            match std::str::from_utf8(bytes) {
                Ok(s) => values.push((*idx, s)),
                Err(e) => {
                    bad_utf8 = Some((*idx, e.valid_up_to()));
                    break;
                }
            }
        }
        if let Some((idx, at)) = bad_utf8 {
            reject(
                &mut report,
                line,
                &schema.fields[idx].name,
                format!("value is not valid UTF-8 (invalid byte at offset {at})"),
            );
            continue;
        }
        match build_record(schema, ty, &values) {
            Ok(rec) => {
                sink(rec).map_err(|e| {
                    io::Error::new(e.kind(), format!("{}: line {line}: storing the record failed: {e}", path.display()))
                })?;
                report.accepted += 1;
            }
            Err(e) => reject(&mut report, line, &e.field, e.reason),
        }
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        file = %path.display(),
        rows = report.rows_read,
        accepted = report.accepted,
        rejected = report.rejected,
        seconds = report.seconds,
        "CSV import finished"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::record::{Interaction, ItemRecord, Value};
    use std::io::Write;

    fn write_file(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents).unwrap();
        f.flush().unwrap();
        f
    }

    /// Imports `contents`, returning the records and the report.
    fn run(
        contents: &[u8],
        schema: &Schema,
        ty: DatasetType,
        opts: &CsvOptions,
    ) -> io::Result<(Vec<Record>, ImportReport)> {
        let f = write_file(contents);
        let mut out = Vec::new();
        let report = import_csv(f.path(), schema, ty, opts, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        assert_eq!(report.rows_read, report.accepted + report.rejected);
        assert_eq!(report.accepted, out.len() as u64);
        Ok((out, report))
    }

    fn interactions() -> Schema {
        Schema::default_for(DatasetType::Interactions)
    }

    fn inter(r: &Record) -> &Interaction {
        match r {
            Record::Interaction(i) => i,
            other => panic!("not an interaction: {other:?}"),
        }
    }

    fn err_lines(report: &ImportReport) -> Vec<(u64, &str)> {
        report.errors.iter().map(|e| (e.line, e.field.as_str())).collect()
    }

    #[test]
    fn good_and_bad_rows_interleaved() {
        let data = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n\
                    u1,i1,1000,click,1.5\n\
                    u2,i2,notanumber,click,1\n\
                    u3,i3,1001,,\n\
                    u4,i4\n\
                    ,i5,1002,view,2\n\
                    u6,i6,1003,view,2,extra\n\
                    u7,i7,1700000000000,view,2\n\
                    u8,i8,1004,buy,NaN\n\
                    \n\
                    u9,i9,1005,buy,3\n";
        let (recs, report) =
            run(data.as_bytes(), &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap();
        let users: Vec<&str> = recs.iter().map(|r| inter(r).user_id.as_str()).collect();
        assert_eq!(users, ["u1", "u3", "u9"]);
        assert_eq!(
            inter(&recs[0]),
            &Interaction {
                user_id: "u1".into(),
                item_id: "i1".into(),
                timestamp: 1000,
                event_type: Some("click".into()),
                event_value: Some(1.5),
                impression: vec![],
                recommendation_id: None,
                metadata: vec![],
            }
        );
        assert_eq!(inter(&recs[1]).event_type, None);
        assert_eq!(inter(&recs[1]).event_value, None);
        assert_eq!(report.rows_read, 9);
        assert_eq!((report.accepted, report.rejected), (3, 6));
        assert_eq!(
            err_lines(&report),
            [(3, "TIMESTAMP"), (5, ""), (6, "USER_ID"), (7, ""), (8, "TIMESTAMP"), (9, "EVENT_VALUE")]
        );
        assert_eq!(report.errors[1].reason, "row has 2 fields, expected 5");
        assert!(report.errors[4].reason.contains("looks like milliseconds"));
        assert!(report.warnings.is_empty());

        let text = report.to_string();
        let name = report.file.display().to_string();
        assert!(text.starts_with(&format!("{name}: 9 rows read, 3 accepted, 6 rejected in ")), "{text}");
        assert!(
            text.contains(&format!("\n{name}:3: TIMESTAMP: expected an integer (long), got \"notanumber\"")),
            "{text}"
        );
        assert!(text.contains(&format!("\n{name}:5: row has 2 fields, expected 5")), "{text}");
    }

    #[test]
    fn error_list_is_capped_but_counts_are_not() {
        let mut data = String::from("USER_ID,ITEM_ID,TIMESTAMP\n");
        for _ in 0..10 {
            data.push_str("u,i,bad\n");
        }
        let opts = CsvOptions { max_errors_reported: 3, ..CsvOptions::default() };
        let (_, report) = run(data.as_bytes(), &interactions(), DatasetType::Interactions, &opts).unwrap();
        assert_eq!(report.rejected, 10);
        assert_eq!(err_lines(&report), [(2, "TIMESTAMP"), (3, "TIMESTAMP"), (4, "TIMESTAMP")]);
        assert!(report.to_string().ends_with("... and 7 more rejected rows not shown"));
    }

    #[test]
    fn movielens_udata_preset() {
        let data = b"196\t242\t3\t881250949\n\
                     186\t302\t3\t891717742\n\
                     22\t377\t1\n\
                     244\t51\t2\t880606923\n";
        let opts = CsvOptions::preset("movielens-udata").unwrap();
        assert_eq!(opts.delimiter, b'\t');
        let (recs, report) = run(data, &interactions(), DatasetType::Interactions, &opts).unwrap();
        assert_eq!(recs.len(), 3);
        let i = inter(&recs[2]);
        assert_eq!((i.user_id.as_str(), i.item_id.as_str()), ("244", "51"));
        assert_eq!((i.timestamp, i.event_value), (880606923, Some(2.0)));
        assert_eq!(err_lines(&report), [(3, "")]);
        assert_eq!(report.errors[0].reason, "row has 3 fields, expected 4");
    }

    #[test]
    fn movielens_csv_preset_with_renames() {
        let data = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,x,964981247\n";
        let opts = CsvOptions::preset("MovieLens-CSV").unwrap();
        let (recs, report) = run(data, &interactions(), DatasetType::Interactions, &opts).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(inter(&recs[0]).event_value, Some(4.0));
        assert_eq!(err_lines(&report), [(3, "EVENT_VALUE")]);
        // Without the renames the header matches nothing.
        let e = run(data, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("no column for required fields USER_ID, ITEM_ID, TIMESTAMP"), "{e}");
    }

    #[test]
    fn quoted_fields_with_commas_and_newlines() {
        let schema = Schema::parse(
            r#"{"type":"record","name":"Items","namespace":"com.amazonaws.personalize.schema","fields":[
                {"name":"ITEM_ID","type":"string"},{"name":"GENRES","type":["null","string"],"categorical":true},
                {"name":"DESCRIPTION","type":["null","string"],"textual":true}]}"#,
        )
        .unwrap();
        let data = "ITEM_ID,GENRES,DESCRIPTION\n\
                    \"m,1\",Action|Crime,\"A story, told\nover two lines with \"\"quotes\"\"\"\n\
                    m2,,plain\n\
                    ,Drama,\"no id\nhere\"\n\
                    m4,\"Comedy | Romance\",\"\"\n";
        let (recs, report) = run(data.as_bytes(), &schema, DatasetType::Items, &CsvOptions::default()).unwrap();
        assert_eq!(
            recs[0],
            Record::Item(ItemRecord {
                item_id: "m,1".into(),
                creation_timestamp: None,
                fields: vec![
                    ("GENRES".into(), Value::Categories(vec!["Action".into(), "Crime".into()])),
                    ("DESCRIPTION".into(), Value::String("A story, told\nover two lines with \"quotes\"".into())),
                ],
            })
        );
        assert_eq!(recs.len(), 3);
        let Record::Item(m4) = &recs[2] else { panic!() };
        assert_eq!(
            m4.fields,
            [
                ("GENRES".into(), Value::Categories(vec!["Comedy".into(), "Romance".into()])),
                ("DESCRIPTION".into(), Value::Null)
            ]
        );
        // The bad row starts on physical line 5 (the first record spans 2-3).
        assert_eq!(err_lines(&report), [(5, "ITEM_ID")]);
    }

    #[test]
    fn header_missing_a_required_field() {
        let data = b"USER_ID,TIMESTAMP,EVENT_TYPE\nu1,5,click\n";
        let e = run(data, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let msg = e.to_string();
        assert!(msg.contains("no column for required field ITEM_ID;"), "{msg}");
        assert!(msg.contains("the header has: \"USER_ID\", \"TIMESTAMP\", \"EVENT_TYPE\""), "{msg}");

        let e = run(b"", &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap_err();
        assert!(e.to_string().contains("the file is empty"), "{e}");
    }

    #[test]
    fn unknown_header_columns_are_ignored_with_a_warning() {
        let data = b"\xEF\xBB\xBFUSER_ID,ITEM_ID,TIMESTAMP,Event_Type,notes\nu1,i1,5,click,hello\n";
        let (recs, report) = run(data, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap();
        // The BOM did not stick to USER_ID, and EVENT_TYPE was not matched.
        assert_eq!(recs.len(), 1);
        assert_eq!(inter(&recs[0]).event_type, None);
        assert_eq!(report.warnings.len(), 2);
        assert!(
            report.warnings[0]
                .contains("column 4 \"Event_Type\" matches no schema field and is ignored (did you mean EVENT_TYPE?"),
            "{:?}",
            report.warnings
        );
        assert!(report.warnings[1].starts_with("column 5 \"notes\""));
        assert!(report.to_string().contains("\nwarning: column 5"));
    }

    #[test]
    fn explicit_columns() {
        // No header: mapping required.
        let opts = CsvOptions { has_header: false, ..CsvOptions::default() };
        let e = run(b"u,i,5\n", &interactions(), DatasetType::Interactions, &opts).unwrap_err();
        assert!(e.to_string().contains("no header row and no column mapping"), "{e}");

        let opts = CsvOptions {
            has_header: false,
            columns: Some(parse_columns("ITEM_ID, -,USER_ID,TIMESTAMP")),
            ..CsvOptions::default()
        };
        let (recs, _) = run(b"i1,junk,u1,7\n", &interactions(), DatasetType::Interactions, &opts).unwrap();
        let i = inter(&recs[0]);
        assert_eq!((i.user_id.as_str(), i.item_id.as_str(), i.timestamp), ("u1", "i1", 7));

        // Overriding a header: it is still skipped and line numbers count it.
        let opts = CsvOptions { columns: Some(parse_columns("USER_ID,ITEM_ID,TIMESTAMP")), ..CsvOptions::default() };
        let (recs, report) =
            run(b"a,b,c,d\nu1,i1,5\nu2,i2,x\n", &interactions(), DatasetType::Interactions, &opts).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(err_lines(&report), [(3, "TIMESTAMP")]);
        assert!(report.warnings[0].contains("header has 4 columns"));

        // Unknown or duplicated fields in a mapping fail up front.
        let bad =
            |spec: &str| CsvOptions { has_header: false, columns: Some(parse_columns(spec)), ..CsvOptions::default() };
        let e = run(b"", &interactions(), DatasetType::Interactions, &bad("USER_ID,ITEM,TIMESTAMP")).unwrap_err();
        assert!(e.to_string().contains("column 2 is mapped to \"ITEM\", which is not a schema field"), "{e}");
        let e = run(b"", &interactions(), DatasetType::Interactions, &bad("USER_ID,ITEM_ID,TIMESTAMP,USER_ID"))
            .unwrap_err();
        assert!(e.to_string().contains("columns 1 and 4 both map to field USER_ID"), "{e}");
    }

    #[test]
    fn file_level_failures() {
        let missing = Path::new("/nonexistent/dir/ratings.csv");
        let e =
            import_csv(missing, &interactions(), DatasetType::Interactions, &CsvOptions::default(), &mut |_| Ok(()))
                .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/nonexistent/dir/ratings.csv"), "{e}");

        // An invalid schema for the dataset type is rejected before reading.
        let e =
            run(b"ITEM_ID\nx\n", &Schema::default_for(DatasetType::Items), DatasetType::Users, &CsvOptions::default())
                .unwrap_err();
        assert!(e.to_string().contains("invalid Users schema: field USER_ID"), "{e}");
    }

    #[test]
    fn sink_errors_abort_the_import() {
        let f = write_file(b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\nu2,i2,2\nu3,i3,3\n");
        let mut seen = 0;
        let e = import_csv(f.path(), &interactions(), DatasetType::Interactions, &CsvOptions::default(), &mut |_| {
            seen += 1;
            if seen == 2 {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(seen, 2);
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("line 3: storing the record failed: disk full"), "{e}");
    }

    #[test]
    fn invalid_utf8_rejects_only_that_row() {
        let data = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i\xff1,1\nu2,i2,2\n";
        let (recs, report) = run(data, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(err_lines(&report), [(2, "ITEM_ID")]);
        assert!(report.errors[0].reason.contains("not valid UTF-8"));
    }

    #[test]
    fn progress_bar_does_not_disturb_results() {
        let opts = CsvOptions { progress: true, ..CsvOptions::default() };
        let (recs, _) =
            run(b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1\n", &interactions(), DatasetType::Interactions, &opts).unwrap();
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn presets_and_column_specs() {
        for name in PRESETS {
            assert!(CsvOptions::preset(name).is_some(), "{name}");
        }
        assert!(CsvOptions::preset("excel").is_none());
        assert_eq!(CsvOptions::preset("personalize"), Some(CsvOptions::default()));
        assert_eq!(
            parse_columns("USER_ID,ITEM_ID,-,TIMESTAMP"),
            [Some("USER_ID".into()), Some("ITEM_ID".into()), None, Some("TIMESTAMP".into())]
        );
        assert_eq!(parse_columns(" A ,_,,B"), [Some("A".into()), None, None, Some("B".into())]);
        assert!(parse_columns("  ").is_empty());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Line {
            Valid,
            Garbage(Vec<u8>),
        }

        /// Garbage without quotes or line breaks, so that it cannot merge
        /// with the following valid line; anything else goes.
        fn line() -> impl Strategy<Value = Line> {
            prop_oneof![
                Just(Line::Valid),
                proptest::collection::vec(
                    any::<u8>().prop_filter("no quote or newline", |b| !matches!(b, b'"' | b'\n' | b'\r')),
                    0..40
                )
                .prop_map(Line::Garbage),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn garbage_never_panics_and_valid_lines_pass(lines in proptest::collection::vec(line(), 0..40)) {
                let mut data = b"USER_ID,ITEM_ID,TIMESTAMP\n".to_vec();
                let mut valid_lines = Vec::new();
                for (n, l) in lines.iter().enumerate() {
                    match l {
                        Line::Valid => {
                            valid_lines.push((n as u64 + 2, n));
                            data.extend_from_slice(format!("valid{n},item{n},{}\n", 1000 + n).as_bytes());
                        }
                        Line::Garbage(g) => {
                            data.extend_from_slice(g);
                            data.push(b'\n');
                        }
                    }
                }
                let (recs, report) =
                    run(&data, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap();
                let got: Vec<(String, String, i64)> = recs
                    .iter()
                    .map(inter)
                    .filter(|i| i.user_id.starts_with("valid"))
                    .map(|i| (i.user_id.clone(), i.item_id.clone(), i.timestamp))
                    .collect();
                let want: Vec<(String, String, i64)> = valid_lines
                    .iter()
                    .map(|&(_, n)| (format!("valid{n}"), format!("item{n}"), 1000 + n as i64))
                    .collect();
                prop_assert_eq!(got, want);
                for e in &report.errors {
                    prop_assert!(!valid_lines.iter().any(|&(l, _)| l == e.line), "valid line {} rejected: {}", e.line, e);
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
                let mut file = b"USER_ID,ITEM_ID,TIMESTAMP\n".to_vec();
                file.extend_from_slice(&data);
                // `run` checks rows_read == accepted + rejected.
                run(&file, &interactions(), DatasetType::Interactions, &CsvOptions::default()).unwrap();
                // Garbage header: either a clean file-level error or a report.
                let _ = run(&data, &interactions(), DatasetType::Interactions, &CsvOptions::default());
            }
        }
    }
}
