//! The durable, append-only event log of streamrec's data directory.
//!
//! Every accepted record is appended here and made durable with [`EventLog::sync`] before it is
//! acknowledged; on start the engine replays the log with [`EventLog::read_from`]. Payloads are
//! opaque, non-empty byte strings (the engine serialises them with bincode).
//!
//! # On-disk format
//!
//! The log is a sequence of *segment files* in one directory. A segment is named
//! `{first_lsn:020}.seg`, i.e. the [`Lsn`] of its first record as exactly 20 decimal digits
//! followed by `.seg` (for example `00000000000000000042.seg`). Only files whose names match that
//! pattern exactly are segments; anything else in the directory is ignored. Segments are read in
//! ascending order of their first Lsn, and each one must start exactly where the previous one
//! ended: a gap or an overlap is reported as corruption.
//!
//! Every segment starts with an 8-byte header, [`SEGMENT_MAGIC`]:
//!
//! ```text
//! offset 0..6  b"SRLOG\0"   magic
//! offset 6     0x01         format version
//! offset 7     0x00         reserved
//! ```
//!
//! The header is followed by zero or more records, back to back:
//!
//! ```text
//! u32 LE  payload length (1 ..= MAX_RECORD_BYTES)
//! u32 LE  crc32 (crc32fast / IEEE) of the 4 length bytes followed by the payload
//! [u8]    payload
//! ```
//!
//! Lsns are not stored: the n-th record of a segment has Lsn `first_lsn + n`, so Lsns are dense
//! and start at 0 in the first segment (`00000000000000000000.seg`).
//!
//! **Zero-length records are not allowed.** [`EventLog::append`] rejects empty payloads and
//! recovery treats a length of 0 as corruption. This is what makes zero-filled tails detectable:
//! when a file system extends a file but the data never lands, the tail reads back as zeros, and
//! "length 0, crc 0" would otherwise look like a run of valid empty records. (It would not pass
//! the checksum anyway, because the crc covers the length bytes and crc32 of four zero bytes is
//! not 0, but rejecting the length outright makes the rule independent of that accident.)
//!
//! # Recovery rules ([`EventLog::open`])
//!
//! Every record of every segment is read and its checksum verified. A *torn tail* is any of
//!
//! * an incomplete record header (fewer than 8 bytes left in the file),
//! * a record length of 0, above [`MAX_RECORD_BYTES`], or past the end of the file,
//! * a checksum mismatch,
//! * a segment header shorter than 8 bytes, or a segment that consists of nothing but zero
//!   bytes (it was created but its contents never reached the disk).
//!
//! If the torn tail is in the **last** segment it is the residue of a write that was in flight
//! when the process or machine died (no record after the last successful `sync` can be
//! affected), so the file is truncated to the end of the last valid record (or, for a torn
//! segment header, rewritten to a bare header), fsynced, reported in [`RecoveryReport`] and logged
//! with `tracing::warn!`. The same problem in any **other** segment cannot be explained by a crash
//! (a segment is fsynced before its successor is created), so `open` fails with
//! [`io::ErrorKind::InvalidData`] naming the file and byte offset instead of dropping data from the
//! middle of the log. A full-length header with the wrong magic or an unknown version is always
//! an error, even in the last segment.
//!
//! # Durability contract
//!
//! * [`EventLog::append`] only hands the record to a 1 MiB userspace buffer.
//! * [`EventLog::sync`] flushes that buffer, `fdatasync`s the current segment and, if a segment
//!   file was created since the previous sync, fsyncs the directory so the new name is durable.
//! * When a segment fills up, it is flushed and `fdatasync`ed *before* the next segment is
//!   created. Hence after a crash every segment but the last is complete, which is what lets
//!   recovery treat damage outside the last segment as real corruption.
//! * After any I/O error while writing or syncing, the log refuses further appends and syncs:
//!   after a failed fsync the kernel may have dropped dirty pages, so retrying could acknowledge
//!   data that is not on disk. Reopen the log to recover.
//!
//! There is no cross-process locking: exactly one [`EventLog`] may have a directory open for
//! writing at a time.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Position of a record in the log: 0-based, dense, increasing by one per record.
pub type Lsn = u64;

/// The 8-byte header at the start of every segment: magic `SRLOG\0`, version 1, reserved 0.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SRLOG\0\x01\0";

/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: u64 = SEGMENT_MAGIC.len() as u64;

/// Size of the per-record header (length + crc) in bytes.
pub const RECORD_HEADER_LEN: u64 = 8;

/// Largest payload accepted by [`EventLog::append`]; a larger length on disk is corruption.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Default for [`LogOptions::segment_bytes`]: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes of the magic that identify a streamrec log, before the version byte.
const MAGIC_PREFIX_LEN: usize = 6;
/// Index of the version byte in the segment header.
const VERSION_INDEX: usize = 6;
/// Capacity of the append buffer: large enough that a burst of small records costs one write(2).
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Capacity of the read buffers used by recovery and [`LogReader`].
const READ_BUFFER_BYTES: usize = 64 << 10;
const SEGMENT_SUFFIX: &str = ".seg";
const SEGMENT_DIGITS: usize = 20;

/// What [`EventLog::open`] found and repaired.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Number of segment files found in the directory (before any new one was created).
    pub segments: usize,
    /// Number of valid records kept, i.e. the Lsn the next append will get.
    pub records: u64,
    /// Bytes cut off a torn or corrupt tail of the last segment (0 if the log was clean).
    pub truncated_bytes: u64,
    /// The file and byte offset where the tail was cut, if it was.
    pub truncated_at: Option<(PathBuf, u64)>,
}

/// Tunables of an [`EventLog`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Once the current segment has reached this many bytes, the next append starts a new
    /// segment file. A segment always holds at least one record, so a single record larger than
    /// this still gets written (into a segment of its own). Default: 64 MiB.
    pub segment_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { segment_bytes: DEFAULT_SEGMENT_BYTES }
    }
}

/// The file name of the segment whose first record has Lsn `first`.
pub fn segment_file_name(first: Lsn) -> String {
    format!("{first:0width$}{SEGMENT_SUFFIX}", width = SEGMENT_DIGITS)
}

/// The first Lsn encoded in a segment file name, or `None` if `name` is not a segment name.
fn parse_segment_name(name: &OsStr) -> Option<Lsn> {
    let digits = name.to_str()?.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // 20 digits can exceed u64::MAX; such a name was not written by us, so it is not a segment.
    digits.parse().ok()
}

/// Checksum stored in a record header: crc32 of the length bytes followed by the payload.
/// Covering the length means a corrupted length cannot pair up with a matching checksum.
fn record_crc(len_bytes: &[u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Prefixes an error with the file it concerns, keeping its kind so callers can still match on it.
fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// fsyncs a directory so that entries created in it (or removed from it) are durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened as files on this platform; their metadata is journaled anyway.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Why a segment is not entirely valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    /// The file is shorter than the segment header.
    ShortSegmentHeader,
    /// The file contains only zero bytes: created, but its contents never reached the disk.
    ZeroedSegment,
    /// A full-length header that is not ours.
    BadMagic,
    /// Our magic, but a format version this code does not understand.
    UnsupportedVersion(u8),
    /// Fewer than [`RECORD_HEADER_LEN`] bytes left after the last valid record.
    ShortRecordHeader,
    /// A record length of 0 (typically a zero-filled tail).
    ZeroLength,
    /// A record length above [`MAX_RECORD_BYTES`].
    TooLong(u32),
    /// A record length that reaches past the end of the file.
    PastEof(u32),
    /// The stored crc does not match the length and payload.
    ChecksumMismatch,
}

impl Defect {
    /// Whether this defect, found in the last segment, is what an interrupted write leaves
    /// behind (and may therefore be cut off). A full-length foreign or future-version header is
    /// never produced by a crash, so it is always an error.
    fn is_torn_tail(self) -> bool {
        !matches!(self, Defect::BadMagic | Defect::UnsupportedVersion(_))
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::ShortSegmentHeader => write!(f, "incomplete segment header"),
            Defect::ZeroedSegment => write!(f, "segment contains only zero bytes"),
            Defect::BadMagic => write!(f, "bad segment header (not a streamrec event log)"),
            Defect::UnsupportedVersion(v) => write!(f, "unsupported segment format version {v}"),
            Defect::ShortRecordHeader => write!(f, "incomplete record header"),
            Defect::ZeroLength => write!(f, "zero-length record (zero-filled tail?)"),
            Defect::TooLong(len) => write!(f, "record length {len} exceeds the maximum of {MAX_RECORD_BYTES} bytes"),
            Defect::PastEof(len) => write!(f, "record length {len} reaches past the end of file"),
            Defect::ChecksumMismatch => write!(f, "record checksum mismatch"),
        }
    }
}

/// Result of validating one segment file.
#[derive(Debug)]
struct SegmentScan {
    /// Valid records from the start of the file up to the first defect.
    records: u64,
    /// Byte offset just past the last valid record (0 if the header itself is bad).
    valid_len: u64,
    /// Size of the file when it was scanned.
    file_len: u64,
    /// The first defect and its byte offset (always equal to `valid_len`).
    defect: Option<Defect>,
}

/// Reads a whole segment, verifying the header and every record's checksum, and stops at the
/// first defect. Payloads are streamed through the hasher in small chunks, so a segment of any
/// size (or a garbage length) never causes a large allocation.
fn scan_segment(path: &Path) -> io::Result<SegmentScan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let result =
        |records: u64, valid_len: u64, defect: Option<Defect>| Ok(SegmentScan { records, valid_len, file_len, defect });

    if file_len < SEGMENT_HEADER_LEN {
        return result(0, 0, Some(Defect::ShortSegmentHeader));
    }
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    reader.read_exact(&mut header)?;
    if header != SEGMENT_MAGIC {
        let defect = if header[..MAGIC_PREFIX_LEN] == SEGMENT_MAGIC[..MAGIC_PREFIX_LEN]
            && header[VERSION_INDEX] != SEGMENT_MAGIC[VERSION_INDEX]
        {
            Defect::UnsupportedVersion(header[VERSION_INDEX])
        } else if header.iter().all(|&b| b == 0) && rest_is_zero(&mut reader)? {
            Defect::ZeroedSegment
        } else {
            Defect::BadMagic
        };
        return result(0, 0, Some(defect));
    }

    let mut scratch = vec![0u8; READ_BUFFER_BYTES];
    let mut offset = SEGMENT_HEADER_LEN;
    let mut records = 0u64;
    while offset < file_len {
        let remaining = file_len - offset;
        if remaining < RECORD_HEADER_LEN {
            return result(records, offset, Some(Defect::ShortRecordHeader));
        }
        let mut rec_header = [0u8; RECORD_HEADER_LEN as usize];
        reader.read_exact(&mut rec_header)?;
        let len_bytes = [rec_header[0], rec_header[1], rec_header[2], rec_header[3]];
        let len = u32::from_le_bytes(len_bytes);
        let stored_crc = u32::from_le_bytes([rec_header[4], rec_header[5], rec_header[6], rec_header[7]]);
        let defect = if len == 0 {
            Some(Defect::ZeroLength)
        } else if len as usize > MAX_RECORD_BYTES {
            Some(Defect::TooLong(len))
        } else if u64::from(len) > remaining - RECORD_HEADER_LEN {
            Some(Defect::PastEof(len))
        } else {
            None
        };
        if defect.is_some() {
            return result(records, offset, defect);
        }

        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len_bytes);
        let mut left = len as usize;
        while left > 0 {
            let chunk = left.min(scratch.len());
            reader.read_exact(&mut scratch[..chunk])?;
            hasher.update(&scratch[..chunk]);
            left -= chunk;
        }
        if hasher.finalize() != stored_crc {
            return result(records, offset, Some(Defect::ChecksumMismatch));
        }
        offset += RECORD_HEADER_LEN + u64::from(len);
        records += 1;
    }
    result(records, offset, None)
}

/// Whether everything left in `reader` is zero bytes.
fn rest_is_zero(reader: &mut impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                if buf[..n].iter().any(|&b| b != 0) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Cuts the last segment back to `valid_len` bytes and makes that durable. A segment whose
/// header is torn (`valid_len == 0`) is rewritten as a bare header, so the log always has a
/// well-formed current segment to append to.
fn repair_tail(path: &Path, valid_len: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    if valid_len < SEGMENT_HEADER_LEN {
        file.set_len(0)?;
        // The handle was just opened, so its cursor is at offset 0.
        file.write_all(&SEGMENT_MAGIC)?;
    } else {
        file.set_len(valid_len)?;
    }
    // sync_all rather than sync_data: the change is mostly to the file size (metadata).
    file.sync_all()
}

/// The durable, append-only event log. See the [module docs](self) for format and guarantees.
#[derive(Debug)]
pub struct EventLog {
    dir: PathBuf,
    opts: LogOptions,
    /// Every segment as (first Lsn, path), in order; the last one is being appended to.
    segments: Vec<(Lsn, PathBuf)>,
    /// Buffered writer on the last segment.
    writer: BufWriter<File>,
    /// Size of the current segment including bytes still in `writer`'s buffer.
    segment_len: u64,
    /// Records in the current segment.
    segment_records: u64,
    /// Lsn of the next record to be appended (= number of records).
    next_lsn: Lsn,
    /// A segment file was created since the last directory fsync.
    dir_dirty: bool,
    /// An earlier write or sync failed; see the module docs for why we stop.
    poisoned: bool,
}

impl EventLog {
    /// Opens the log in `dir` (created if missing).
    ///
    /// Scans all segments in order, validates every record's checksum, and cuts off a torn or
    /// corrupt tail of the last segment (truncating the file, then fsync), logging a
    /// `tracing::warn!` that names the file, the offset and the number of bytes dropped.
    /// Corruption in a segment that is not the last, or a gap between segments, is an error of
    /// kind [`io::ErrorKind::InvalidData`] whose message names the file and offset: data in the
    /// middle of the log is never dropped silently.
    pub fn open(dir: &Path, opts: LogOptions) -> io::Result<(EventLog, RecoveryReport)> {
        let dir = dir.to_path_buf();
        match fs::metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir)?;
                // Make the new directory's own name durable, not just its contents.
                let parent = match dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                sync_dir(parent)?;
            }
            Err(e) => return Err(e),
        }

        let mut found: Vec<(Lsn, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if let Some(first) = parse_segment_name(&entry.file_name()) {
                if entry.file_type()?.is_file() {
                    found.push((first, entry.path()));
                }
            }
        }
        found.sort_by_key(|(first, _)| *first);

        let mut report = RecoveryReport { segments: found.len(), ..RecoveryReport::default() };
        let mut next_lsn: Lsn = 0;
        let mut segment_len = SEGMENT_HEADER_LEN;
        let mut segment_records = 0;
        for (i, (first, path)) in found.iter().enumerate() {
            if *first != next_lsn {
                return Err(invalid_data(format!(
                    "event log segment {} starts at lsn {first}, but the segments before it end \
                     at lsn {next_lsn} (a segment is missing or overlaps)",
                    path.display()
                )));
            }
            let is_last = i + 1 == found.len();
            let scan = scan_segment(path).map_err(|e| with_path(path, e))?;
            match scan.defect {
                None => {}
                Some(defect) if is_last && defect.is_torn_tail() => {
                    let dropped = scan.file_len - scan.valid_len;
                    tracing::warn!(
                        file = %path.display(),
                        offset = scan.valid_len,
                        dropped_bytes = dropped,
                        reason = %defect,
                        "event log: cutting off torn tail of the last segment"
                    );
                    repair_tail(path, scan.valid_len).map_err(|e| with_path(path, e))?;
                    report.truncated_bytes = dropped;
                    report.truncated_at = Some((path.clone(), scan.valid_len));
                }
                Some(defect) => {
                    return Err(invalid_data(format!(
                        "corrupt event log segment {} at byte offset {}: {defect}{}",
                        path.display(),
                        scan.valid_len,
                        if is_last { "" } else { " (not the last segment, refusing to drop data)" }
                    )));
                }
            }
            next_lsn += scan.records;
            if is_last {
                segment_records = scan.records;
                segment_len = scan.valid_len.max(SEGMENT_HEADER_LEN);
            }
        }
        report.records = next_lsn;

        let file = match found.last() {
            Some((_, path)) => OpenOptions::new().append(true).open(path).map_err(|e| with_path(path, e))?,
            None => {
                // Fresh log: create the first segment and make it durable right away, so the
                // directory never holds a segment whose header could be torn by an early crash.
                let path = dir.join(segment_file_name(0));
                let mut file =
                    OpenOptions::new().append(true).create_new(true).open(&path).map_err(|e| with_path(&path, e))?;
                file.write_all(&SEGMENT_MAGIC)?;
                file.sync_all()?;
                sync_dir(&dir)?;
                found.push((0, path));
                file
            }
        };

        let log = EventLog {
            dir,
            opts,
            segments: found,
            writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            segment_len,
            segment_records,
            next_lsn,
            dir_dirty: false,
            poisoned: false,
        };
        Ok((log, report))
    }

    /// Appends one record to the userspace/OS buffers (no fsync) and returns its Lsn.
    ///
    /// Once the current segment has reached [`LogOptions::segment_bytes`], the segment is
    /// flushed and fdatasynced and the record goes to a new segment file. Empty payloads and
    /// payloads above [`MAX_RECORD_BYTES`] are rejected with [`io::ErrorKind::InvalidInput`].
    /// The record is durable only after the next successful [`EventLog::sync`].
    pub fn append(&mut self, payload: &[u8]) -> io::Result<Lsn> {
        if payload.is_empty() {
            // Zero lengths are reserved to detect zero-filled tails (see module docs).
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "event log: empty payloads are not allowed"));
        }
        if payload.len() > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("event log: payload of {} bytes exceeds the maximum of {MAX_RECORD_BYTES}", payload.len()),
            ));
        }
        self.guarded(|log| {
            if log.segment_records > 0 && log.segment_len >= log.opts.segment_bytes {
                log.roll_over()?;
            }
            // Fits in u32 because MAX_RECORD_BYTES < u32::MAX.
            let len_bytes = (payload.len() as u32).to_le_bytes();
            let crc = record_crc(&len_bytes, payload);
            log.writer.write_all(&len_bytes)?;
            log.writer.write_all(&crc.to_le_bytes())?;
            log.writer.write_all(payload)?;
            log.segment_len += RECORD_HEADER_LEN + payload.len() as u64;
            log.segment_records += 1;
            let lsn = log.next_lsn;
            log.next_lsn += 1;
            Ok(lsn)
        })
    }

    /// Makes every appended record durable: flushes the userspace buffer, fdatasyncs the current
    /// segment, and fsyncs the directory if a segment file was created since the last sync.
    /// (Segments that were rolled over were already fdatasynced before their successor was
    /// created.) Acknowledge records only after this returns `Ok`.
    pub fn sync(&mut self) -> io::Result<()> {
        self.guarded(|log| {
            log.writer.flush()?;
            log.writer.get_ref().sync_data()?;
            if log.dir_dirty {
                sync_dir(&log.dir)?;
                log.dir_dirty = false;
            }
            Ok(())
        })
    }

    /// Hands buffered records to the OS without fsyncing, so that [`EventLog::read_from`] can
    /// see them. Cheaper than [`EventLog::sync`] but gives no durability against power loss.
    pub fn flush(&mut self) -> io::Result<()> {
        self.guarded(|log| log.writer.flush())
    }

    /// Number of records in the log (= the next Lsn).
    pub fn len(&self) -> u64 {
        self.next_lsn
    }

    /// Whether the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.next_lsn == 0
    }

    /// Reads every record from Lsn `from` up to the current [`EventLog::len`], in order.
    ///
    /// Works while the log is open for appending: the reader opens its own file handles and
    /// reads lazily. Records still in the append buffer are not in the file yet, so call
    /// [`EventLog::sync`] or [`EventLog::flush`] first; otherwise the reader yields an
    /// [`io::ErrorKind::UnexpectedEof`] error when it reaches them. Records appended after this
    /// call are not included. `from == len()` gives an empty reader; `from > len()` is an
    /// [`io::ErrorKind::InvalidInput`] error.
    pub fn read_from(&self, from: Lsn) -> io::Result<LogReader> {
        if from > self.next_lsn {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("event log: read_from({from}) is past the end of the log ({} records)", self.next_lsn),
            ));
        }
        // The segment containing `from` is the last one starting at or before it.
        let start = self.segments.partition_point(|(first, _)| *first <= from).saturating_sub(1);
        let pending = (start..self.segments.len())
            .map(|i| {
                let (first, path) = &self.segments[i];
                let end = self.segments.get(i + 1).map_or(self.next_lsn, |(next_first, _)| *next_first);
                SegmentSpan { path: path.clone(), first: *first, end }
            })
            .collect();
        Ok(LogReader { pending, cursor: None, from, finished: false })
    }

    /// The directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a write/sync step, refusing to run if an earlier one failed and remembering failure.
    fn guarded<T>(&mut self, step: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if self.poisoned {
            return Err(io::Error::other(format!(
                "event log in {} is unusable after an earlier I/O error; reopen it to recover",
                self.dir.display()
            )));
        }
        let result = step(self);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Closes the current segment and starts a new one named after the next Lsn.
    fn roll_over(&mut self) -> io::Result<()> {
        // The old segment must be complete on disk before its successor can exist: recovery
        // treats damage in any segment but the last as corruption, not as a torn tail.
        self.writer.flush()?;
        self.writer.get_ref().sync_data()?;

        let first = self.next_lsn;
        let path = self.dir.join(segment_file_name(first));
        let file = OpenOptions::new().append(true).create_new(true).open(&path).map_err(|e| with_path(&path, e))?;
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        writer.write_all(&SEGMENT_MAGIC)?;
        // Replacing drops the old writer; its buffer is already empty, so nothing is lost.
        self.writer = writer;
        self.segments.push((first, path));
        self.segment_len = SEGMENT_HEADER_LEN;
        self.segment_records = 0;
        // The new name is durable only once the directory is fsynced (done in `sync`).
        self.dir_dirty = true;
        Ok(())
    }
}

/// The records of one segment that a [`LogReader`] will visit: Lsns `first..end`.
#[derive(Debug)]
struct SegmentSpan {
    path: PathBuf,
    first: Lsn,
    end: Lsn,
}

/// An open segment being read by a [`LogReader`].
#[derive(Debug)]
struct SegmentCursor {
    span: SegmentSpan,
    reader: BufReader<File>,
    /// Lsn of the record at `offset`.
    next: Lsn,
    /// Byte offset of the next record header.
    offset: u64,
}

impl SegmentCursor {
    fn open(span: SegmentSpan) -> io::Result<SegmentCursor> {
        let file = File::open(&span.path)?;
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        reader.read_exact(&mut header)?;
        if header != SEGMENT_MAGIC {
            return Err(invalid_data("bad segment header".to_string()));
        }
        Ok(SegmentCursor { next: span.first, span, reader, offset: SEGMENT_HEADER_LEN })
    }

    /// Reads the next record header and returns the payload length and stored crc.
    fn read_record_header(&mut self) -> io::Result<([u8; 4], u32)> {
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        self.reader.read_exact(&mut header).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "record {} at byte offset {} is not in the file (still buffered? call \
                         EventLog::flush or EventLog::sync before read_from)",
                        self.next, self.offset
                    ),
                )
            } else {
                e
            }
        })?;
        let len_bytes = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes(len_bytes);
        if len == 0 || len as usize > MAX_RECORD_BYTES {
            return Err(invalid_data(format!(
                "record {} at byte offset {} has invalid length {len}",
                self.next, self.offset
            )));
        }
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        Ok((len_bytes, crc))
    }

    /// Skips the record at the cursor without reading its payload.
    fn skip(&mut self) -> io::Result<()> {
        let (len_bytes, _) = self.read_record_header()?;
        let len = u32::from_le_bytes(len_bytes);
        // seek_relative keeps the buffer when the target is inside it.
        self.reader.seek_relative(i64::from(len))?;
        self.offset += RECORD_HEADER_LEN + u64::from(len);
        self.next += 1;
        Ok(())
    }

    /// Reads and verifies the record at the cursor.
    fn read(&mut self) -> io::Result<(Lsn, Vec<u8>)> {
        let (len_bytes, crc) = self.read_record_header()?;
        let len = u32::from_le_bytes(len_bytes);
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload)?;
        if record_crc(&len_bytes, &payload) != crc {
            return Err(invalid_data(format!(
                "record {} at byte offset {}: checksum mismatch",
                self.next, self.offset
            )));
        }
        let lsn = self.next;
        self.offset += RECORD_HEADER_LEN + u64::from(len);
        self.next += 1;
        Ok((lsn, payload))
    }
}

/// Streaming iterator over log records, created by [`EventLog::read_from`].
///
/// Reads one segment at a time through a small buffer, so it never holds the whole log in
/// memory. Yields `(lsn, payload)` in Lsn order; after the first error it yields `None`.
/// Every payload's checksum is verified; records before the requested start are skipped without
/// reading their payloads.
#[derive(Debug)]
pub struct LogReader {
    /// Segments not opened yet.
    pending: VecDeque<SegmentSpan>,
    /// The segment being read.
    cursor: Option<SegmentCursor>,
    /// First Lsn to yield.
    from: Lsn,
    /// Exhausted or failed.
    finished: bool,
}

impl LogReader {
    fn advance(&mut self) -> io::Result<Option<(Lsn, Vec<u8>)>> {
        loop {
            let cursor = match &mut self.cursor {
                Some(cursor) if cursor.next < cursor.span.end => cursor,
                _ => {
                    // Current segment done (or none yet): move to the next one that has
                    // records at or after `from`.
                    self.cursor = None;
                    let Some(span) = self.pending.pop_front() else {
                        return Ok(None);
                    };
                    if span.end <= self.from || span.first == span.end {
                        continue;
                    }
                    let path = span.path.clone();
                    let cursor = SegmentCursor::open(span).map_err(|e| with_path(&path, e))?;
                    self.cursor = Some(cursor);
                    continue;
                }
            };
            let step = if cursor.next < self.from { cursor.skip().map(|()| None) } else { cursor.read().map(Some) };
            match step {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) => {}
                Err(e) => return Err(with_path(&cursor.span.path, e)),
            }
        }
    }
}

impl Iterator for LogReader {
    type Item = io::Result<(Lsn, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tempfile::TempDir;

    fn opts(segment_bytes: u64) -> LogOptions {
        LogOptions { segment_bytes }
    }

    /// A deterministic payload of `len` bytes, distinct per `seed`.
    fn payload_of(seed: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (seed.wrapping_mul(31).wrapping_add(j * 7) % 251) as u8).collect()
    }

    /// Payloads of varying length 1..=37.
    fn payload(i: usize) -> Vec<u8> {
        payload_of(i, i % 37 + 1)
    }

    fn read_all(log: &EventLog, from: Lsn) -> Vec<(Lsn, Vec<u8>)> {
        log.read_from(from).expect("read_from").collect::<io::Result<Vec<_>>>().expect("read records")
    }

    fn payloads_read(log: &EventLog) -> Vec<Vec<u8>> {
        read_all(log, 0).into_iter().map(|(_, p)| p).collect()
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| parse_segment_name(p.file_name().unwrap()).is_some())
            .collect();
        files.sort();
        files
    }

    fn write_log(dir: &Path, segment_bytes: u64, payloads: &[Vec<u8>]) {
        let (mut log, _) = EventLog::open(dir, opts(segment_bytes)).unwrap();
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(log.append(p).unwrap(), i as Lsn);
        }
        log.sync().unwrap();
    }

    fn flip_byte(path: &Path, offset: u64) {
        let mut bytes = fs::read(path).unwrap();
        bytes[offset as usize] ^= 0x5a;
        fs::write(path, bytes).unwrap();
    }

    fn set_len(path: &Path, len: u64) {
        OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(OsStr::new("00000000000000000042.seg")), Some(42));
        assert_eq!(parse_segment_name(OsStr::new("42.seg")), None);
        assert_eq!(parse_segment_name(OsStr::new("0000000000000000004x.seg")), None);
        assert_eq!(parse_segment_name(OsStr::new("00000000000000000042.seg.tmp")), None);
        assert_eq!(parse_segment_name(OsStr::new("99999999999999999999.seg")), None);
    }

    #[test]
    fn fresh_log_is_empty_and_creates_dir() {
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("nested").join("log");
        let (log, report) = EventLog::open(&dir, LogOptions::default()).unwrap();
        assert!(log.is_empty());
        assert_eq!(log.len(), 0);
        assert_eq!(log.dir(), dir.as_path());
        assert_eq!(report.segments, 0);
        assert_eq!(report.records, 0);
        assert_eq!(report.truncated_bytes, 0);
        assert!(report.truncated_at.is_none());
        assert_eq!(segment_files(&dir).len(), 1);
        assert_eq!(read_all(&log, 0), vec![]);
        drop(log);
        let (log, report) = EventLog::open(&dir, LogOptions::default()).unwrap();
        assert!(log.is_empty());
        assert_eq!(report.segments, 1);
    }

    #[test]
    fn round_trip_across_segments() {
        let tmp = TempDir::new().unwrap();
        let payloads: Vec<Vec<u8>> = (0..60).map(payload).collect();
        {
            let (mut log, _) = EventLog::open(tmp.path(), opts(100)).unwrap();
            for (i, p) in payloads.iter().enumerate() {
                assert_eq!(log.append(p).unwrap(), i as Lsn);
                assert_eq!(log.len(), i as u64 + 1);
            }
            log.sync().unwrap();
            // Readable while open for appending.
            assert_eq!(payloads_read(&log), payloads);
        }
        let segs = segment_files(tmp.path());
        assert!(segs.len() > 5, "expected several segments, got {}", segs.len());
        // Every segment but the last was closed only once it had reached segment_bytes.
        for seg in &segs[..segs.len() - 1] {
            let len = fs::metadata(seg).unwrap().len();
            assert!(len >= 100, "segment {} closed at {len} bytes", seg.display());
        }

        let (mut log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
        assert_eq!(report.segments, segs.len());
        assert_eq!(report.records, 60);
        assert_eq!(report.truncated_bytes, 0);
        assert!(report.truncated_at.is_none());
        assert_eq!(log.len(), 60);

        let all = read_all(&log, 0);
        let lsns: Vec<Lsn> = all.iter().map(|(l, _)| *l).collect();
        assert_eq!(lsns, (0..60).collect::<Vec<_>>());
        for k in [0u64, 1, 7, 13, 30, 59, 60] {
            let got = read_all(&log, k);
            assert_eq!(got, all[k as usize..].to_vec(), "read_from({k})");
        }
        let err = log.read_from(61).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

        // Appending continues at the next Lsn.
        assert_eq!(log.append(b"more").unwrap(), 60);
        log.sync().unwrap();
        drop(log);
        let (log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
        assert_eq!(report.records, 61);
        assert_eq!(read_all(&log, 60), vec![(60, b"more".to_vec())]);
    }

    #[test]
    fn read_while_appending() {
        let tmp = TempDir::new().unwrap();
        let (mut log, _) = EventLog::open(tmp.path(), opts(64)).unwrap();
        log.append(b"first").unwrap();
        // Still in the userspace buffer: the reader must report it, not silently stop.
        let mut reader = log.read_from(0).unwrap();
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(reader.next().is_none());

        log.flush().unwrap();
        assert_eq!(read_all(&log, 0), vec![(0, b"first".to_vec())]);

        let reader = log.read_from(0).unwrap();
        for i in 1..20 {
            log.append(&payload(i)).unwrap();
        }
        log.sync().unwrap();
        // A reader sees the records that existed when it was created.
        assert_eq!(reader.count(), 1);
        assert_eq!(read_all(&log, 0).len(), 20);
        assert_eq!(read_all(&log, 10)[0], (10, payload(10)));
    }

    #[test]
    fn rejects_empty_and_oversized_payloads() {
        let tmp = TempDir::new().unwrap();
        let (mut log, _) = EventLog::open(tmp.path(), LogOptions::default()).unwrap();
        let err = log.append(b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = log.append(&vec![1u8; MAX_RECORD_BYTES + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Rejections do not poison the log.
        assert_eq!(log.append(b"ok").unwrap(), 0);
        log.sync().unwrap();
    }

    #[test]
    fn ignores_foreign_files() {
        let tmp = TempDir::new().unwrap();
        write_log(tmp.path(), 64, &(0..10).map(payload).collect::<Vec<_>>());
        fs::write(tmp.path().join("README"), b"hello").unwrap();
        fs::write(tmp.path().join("00000000000000000099.seg.tmp"), b"junk").unwrap();
        fs::write(tmp.path().join("99.seg"), b"junk").unwrap();
        let (log, report) = EventLog::open(tmp.path(), opts(64)).unwrap();
        assert_eq!(report.records, 10);
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(log.len(), 10);
    }

    #[test]
    fn torn_tail_at_every_offset_of_final_record() {
        // The final record is long enough that cuts land in its header and its payload.
        let mut payloads: Vec<Vec<u8>> = (0..12).map(payload).collect();
        payloads.push(payload_of(99, 30));
        let final_len = RECORD_HEADER_LEN + 30;
        let kept = payloads.len() - 1;
        let extra = [b"after-1".to_vec(), b"after-2".to_vec()];

        for cut in 1..final_len {
            let tmp = TempDir::new().unwrap();
            write_log(tmp.path(), 100, &payloads);
            let segs = segment_files(tmp.path());
            assert!(segs.len() > 1);
            let last = segs.last().unwrap().clone();
            let file_len = fs::metadata(&last).unwrap().len();
            let record_start = file_len - final_len;
            set_len(&last, record_start + cut);

            let (mut log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
            assert_eq!(report.records, kept as u64, "cut {cut}");
            assert_eq!(report.truncated_bytes, cut, "cut {cut}");
            assert_eq!(report.truncated_at, Some((last.clone(), record_start)));
            assert_eq!(fs::metadata(&last).unwrap().len(), record_start);
            assert_eq!(payloads_read(&log), payloads[..kept].to_vec());

            for (i, p) in extra.iter().enumerate() {
                assert_eq!(log.append(p).unwrap(), (kept + i) as Lsn);
            }
            log.sync().unwrap();
            drop(log);

            let (log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
            assert_eq!(report.truncated_bytes, 0, "cut {cut}");
            let mut expected = payloads[..kept].to_vec();
            expected.extend(extra.iter().cloned());
            assert_eq!(payloads_read(&log), expected, "cut {cut}");
        }
    }

    #[test]
    fn torn_segment_header_is_rewritten() {
        let tmp = TempDir::new().unwrap();
        let payloads: Vec<Vec<u8>> = (0..10).map(payload).collect();
        write_log(tmp.path(), 64, &payloads);
        // A segment that was being created when the machine died: only part of its header.
        for torn_len in 0..SEGMENT_HEADER_LEN {
            let path = tmp.path().join(segment_file_name(10));
            fs::write(&path, &SEGMENT_MAGIC[..torn_len as usize]).unwrap();
            let (log, report) = EventLog::open(tmp.path(), opts(64)).unwrap();
            assert_eq!(report.records, 10);
            assert_eq!(report.truncated_bytes, torn_len);
            assert_eq!(report.truncated_at, Some((path.clone(), 0)));
            assert_eq!(fs::read(&path).unwrap(), SEGMENT_MAGIC);
            assert_eq!(payloads_read(&log), payloads);
            drop(log);
            fs::remove_file(&path).unwrap();
        }

        // An all-zero new segment (file extended, contents never landed) is torn too.
        let path = tmp.path().join(segment_file_name(10));
        fs::write(&path, vec![0u8; 4096]).unwrap();
        let (mut log, report) = EventLog::open(tmp.path(), opts(64)).unwrap();
        assert_eq!(report.records, 10);
        assert_eq!(report.truncated_bytes, 4096);
        assert_eq!(log.append(b"next").unwrap(), 10);
        log.sync().unwrap();
        drop(log);
        let (log, _) = EventLog::open(tmp.path(), opts(64)).unwrap();
        assert_eq!(read_all(&log, 10), vec![(10, b"next".to_vec())]);
    }

    #[test]
    fn corrupt_last_record_is_cut() {
        let tmp = TempDir::new().unwrap();
        let mut payloads: Vec<Vec<u8>> = (0..20).map(payload).collect();
        payloads.push(payload_of(7, 16));
        write_log(tmp.path(), 100, &payloads);
        let last = segment_files(tmp.path()).pop().unwrap();
        let file_len = fs::metadata(&last).unwrap().len();
        let record_start = file_len - (RECORD_HEADER_LEN + 16);
        flip_byte(&last, record_start + RECORD_HEADER_LEN + 5);

        let (log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
        assert_eq!(report.records, 20);
        assert_eq!(report.truncated_bytes, RECORD_HEADER_LEN + 16);
        assert_eq!(report.truncated_at, Some((last, record_start)));
        assert_eq!(payloads_read(&log), payloads[..20].to_vec());
    }

    #[test]
    fn corrupt_middle_segment_is_an_error() {
        let tmp = TempDir::new().unwrap();
        let payloads: Vec<Vec<u8>> = (0..40).map(payload).collect();
        write_log(tmp.path(), 100, &payloads);
        let segs = segment_files(tmp.path());
        assert!(segs.len() >= 3);
        let middle = &segs[1];

        // A flipped payload byte, and separately a flipped length byte.
        for offset in [SEGMENT_HEADER_LEN + RECORD_HEADER_LEN, SEGMENT_HEADER_LEN] {
            let original = fs::read(middle).unwrap();
            flip_byte(middle, offset);
            let err = EventLog::open(tmp.path(), opts(100)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let msg = err.to_string();
            let name = middle.file_name().unwrap().to_str().unwrap();
            assert!(msg.contains(name), "message should name the file: {msg}");
            assert!(msg.contains("offset 8"), "message should name the offset: {msg}");
            fs::write(middle, original).unwrap();
        }
        // Nothing was modified by the failed opens.
        let (log, report) = EventLog::open(tmp.path(), opts(100)).unwrap();
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(payloads_read(&log), payloads);
    }

    #[test]
    fn missing_segment_is_an_error() {
        let tmp = TempDir::new().unwrap();
        write_log(tmp.path(), 64, &(0..30).map(payload).collect::<Vec<_>>());
        let segs = segment_files(tmp.path());
        assert!(segs.len() >= 3);
        fs::remove_file(&segs[1]).unwrap();
        let err = EventLog::open(tmp.path(), opts(64)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn bad_magic_in_last_segment_is_an_error() {
        let tmp = TempDir::new().unwrap();
        write_log(tmp.path(), 64, &(0..5).map(payload).collect::<Vec<_>>());
        let last = segment_files(tmp.path()).pop().unwrap();
        flip_byte(&last, 0);
        let err = EventLog::open(tmp.path(), opts(64)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        flip_byte(&last, 0);
        flip_byte(&last, VERSION_INDEX as u64);
        let err = EventLog::open(tmp.path(), opts(64)).unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn zero_filled_tail_is_cut() {
        let tmp = TempDir::new().unwrap();
        let payloads: Vec<Vec<u8>> = (0..25).map(payload).collect();
        write_log(tmp.path(), 200, &payloads);
        let last = segment_files(tmp.path()).pop().unwrap();
        let file_len = fs::metadata(&last).unwrap().len();
        let mut file = OpenOptions::new().append(true).open(&last).unwrap();
        file.write_all(&[0u8; 4096]).unwrap();
        drop(file);

        let (mut log, report) = EventLog::open(tmp.path(), opts(200)).unwrap();
        assert_eq!(report.records, 25);
        assert_eq!(report.truncated_bytes, 4096);
        assert_eq!(report.truncated_at, Some((last.clone(), file_len)));
        assert_eq!(fs::metadata(&last).unwrap().len(), file_len);
        assert_eq!(payloads_read(&log), payloads);
        assert_eq!(log.append(b"x").unwrap(), 25);
        log.sync().unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// Random payload sizes, segment size, sync point and truncation point of the final
        /// file: recovery keeps exactly the records that lie wholly before the cut (a prefix of
        /// what was written), in particular every synced record before it.
        #[test]
        fn recovery_keeps_exact_prefix(
            sizes in proptest::collection::vec(1usize..300, 1..50),
            segment_bytes in 16u64..2048,
            synced_frac in 0.0f64..=1.0,
            cut_frac in 0.0f64..=1.0,
        ) {
            let tmp = TempDir::new().unwrap();
            let payloads: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| payload_of(i, n)).collect();
            let synced = ((payloads.len() as f64) * synced_frac) as usize;
            {
                let (mut log, _) = EventLog::open(tmp.path(), opts(segment_bytes)).unwrap();
                for (i, p) in payloads.iter().enumerate() {
                    if i == synced {
                        log.sync().unwrap();
                    }
                    log.append(p).unwrap();
                }
                log.flush().unwrap();
            }

            let last = segment_files(tmp.path()).pop().unwrap();
            let first = parse_segment_name(last.file_name().unwrap()).unwrap() as usize;
            let file_len = fs::metadata(&last).unwrap().len();
            let cut = ((file_len as f64) * cut_frac) as u64;
            set_len(&last, cut);

            // Records of the last segment that end at or before the cut survive. A cut inside
            // the segment header loses the whole segment (it is rewritten as a bare header).
            let mut expected = first;
            let mut valid_end = 0;
            if cut >= SEGMENT_HEADER_LEN {
                valid_end = SEGMENT_HEADER_LEN;
                for p in &payloads[first..] {
                    let end = valid_end + RECORD_HEADER_LEN + p.len() as u64;
                    if end > cut {
                        break;
                    }
                    valid_end = end;
                    expected += 1;
                }
            }
            let expected_dropped = cut - valid_end;

            let (mut log, report) = EventLog::open(tmp.path(), opts(segment_bytes)).unwrap();
            prop_assert_eq!(report.records, expected as u64);
            prop_assert_eq!(report.truncated_bytes, expected_dropped);
            let got = payloads_read(&log);
            prop_assert_eq!(&got[..], &payloads[..expected]);
            // Every synced record before the cut's record is still there.
            prop_assert!(got.len() >= synced.min(expected));

            // The log stays appendable and a reopen sees old + new.
            prop_assert_eq!(log.append(b"tail").unwrap(), expected as Lsn);
            log.sync().unwrap();
            drop(log);
            let (log, report) = EventLog::open(tmp.path(), opts(segment_bytes)).unwrap();
            prop_assert_eq!(report.records, expected as u64 + 1);
            prop_assert_eq!(report.truncated_bytes, 0);
            let got = payloads_read(&log);
            prop_assert_eq!(&got[..expected], &payloads[..expected]);
            prop_assert_eq!(&got[expected], &b"tail".to_vec());
        }
    }
}
