//! The on-disk spool: where encoded batches wait for a remote store. A batch is acknowledged
//! once its file is fsynced here, so a database outage or a restart of tracehouse loses
//! nothing acknowledged. The spool is bounded in bytes; when full, new batches are refused
//! with a retryable error.
//!
//! Files are named `{sequence}-{batch id}.batch` and written as `.tmp`, fsynced, renamed and the
//! directory fsynced, so a crash leaves either a whole batch or a `.tmp` that was never
//! acknowledged (and is deleted on start).
//!
//! The batches of the shipment in flight are named in the file `shipment` before the shipper's
//! first attempt at them, so that after a crash they are shipped again together and alone:
//! every insert of a batch's rows then has the same rows in the same order, which a replicated
//! table recognises by its block hash and drops when it already landed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

/// Where batches the store refused are kept, inside the spool directory.
pub const DEAD_LETTER_DIR: &str = "dead-letter";
/// Names the batches of the shipment in flight, one `{sequence}-{batch id}` per line.
const SHIPMENT_FILE: &str = "shipment";

/// Where a spooled batch waits for shipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledBatch {
    pub sequence: u64,
    pub batch_id: u64,
    pub bytes: u64,
    /// An attempt to ship it may already have landed: true for everything found at start-up and
    /// after any failed attempt.
    pub uncertain: bool,
    /// When it entered the spool (or when the spool was opened, for older batches).
    pub spooled_at: tokio::time::Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool is full ({used} of {max} bytes)")]
    Full { used: u64, max: u64 },
    #[error("spool i/o on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

struct State {
    batches: BTreeMap<u64, SpooledBatch>,
    used_bytes: u64,
    next_sequence: u64,
    /// `(sequence, batch id)` of the shipment in flight, as named in [`SHIPMENT_FILE`].
    shipment: Vec<(u64, u64)>,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Spool {
    /// Opens the spool in `dir`, deleting unfinished writes and listing what waits to be
    /// shipped.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut batches = BTreeMap::new();
        let mut used_bytes = 0;
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // Never fsynced and renamed, so never acknowledged.
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            let Some((sequence, batch_id)) = parse_name(&name) else {
                continue;
            };
            let bytes = entry.metadata().map_err(io_error(&path))?.len();
            used_bytes += bytes;
            batches.insert(
                sequence,
                SpooledBatch {
                    sequence,
                    batch_id,
                    bytes,
                    uncertain: true,
                    spooled_at: tokio::time::Instant::now(),
                },
            );
        }
        let shipment = read_shipment(dir, &mut batches, &mut used_bytes)?;
        let next_sequence = batches.keys().next_back().map_or(0, |last| last + 1);
        if !batches.is_empty() {
            tracing::info!(
                batches = batches.len(),
                bytes = used_bytes,
                "spool holds batches to replay"
            );
        }
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            state: Mutex::new(State {
                batches,
                used_bytes,
                next_sequence,
                shipment,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn path(&self, sequence: u64, batch_id: u64) -> PathBuf {
        batch_path(&self.dir, sequence, batch_id)
    }

    /// Makes `payload` durable. Blocking: call from a blocking thread.
    pub fn append(&self, batch_id: u64, payload: &[u8]) -> Result<SpooledBatch, SpoolError> {
        let bytes = payload.len() as u64;
        let sequence = {
            let mut state = self.lock();
            if state.used_bytes + bytes > self.max_bytes {
                return Err(SpoolError::Full {
                    used: state.used_bytes,
                    max: self.max_bytes,
                });
            }
            // Reserve the space before writing, so concurrent appends cannot overshoot.
            state.used_bytes += bytes;
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            sequence
        };
        let written = self.write_file(sequence, batch_id, payload);
        let mut state = self.lock();
        match written {
            Ok(()) => {
                let batch = SpooledBatch {
                    sequence,
                    batch_id,
                    bytes,
                    uncertain: false,
                    spooled_at: tokio::time::Instant::now(),
                };
                state.batches.insert(sequence, batch.clone());
                Ok(batch)
            }
            Err(error) => {
                state.used_bytes -= bytes;
                Err(error)
            }
        }
    }

    fn write_file(&self, sequence: u64, batch_id: u64, payload: &[u8]) -> Result<(), SpoolError> {
        let path = self.path(sequence, batch_id);
        write_durably(&self.dir, &path.with_extension("tmp"), &path, payload)
    }

    /// The oldest batch waiting to be shipped.
    pub fn oldest(&self) -> Option<SpooledBatch> {
        self.lock().batches.values().next().cloned()
    }

    /// The oldest batches, in order, up to `max_bytes` (at least one when any waits); or the
    /// shipment in flight when there is one, as it was recorded.
    pub fn front(&self, max_bytes: u64) -> Vec<SpooledBatch> {
        let state = self.lock();
        let shipment: Vec<SpooledBatch> = state
            .shipment
            .iter()
            .filter_map(|(sequence, _)| state.batches.get(sequence).cloned())
            .collect();
        if !shipment.is_empty() {
            return shipment;
        }
        let mut total = 0;
        let mut front = Vec::new();
        for batch in state.batches.values() {
            if !front.is_empty() && total + batch.bytes > max_bytes {
                break;
            }
            total += batch.bytes;
            front.push(batch.clone());
        }
        front
    }

    /// Names `group` as the shipment in flight, durably, unless it already is. Blocking.
    pub fn record_shipment(&self, group: &[SpooledBatch]) -> Result<(), SpoolError> {
        let named: Vec<(u64, u64)> = group.iter().map(|b| (b.sequence, b.batch_id)).collect();
        if self.lock().shipment == named {
            return Ok(());
        }
        let lines: String = named
            .iter()
            .map(|(sequence, batch_id)| format!("{sequence}-{batch_id:x}\n"))
            .collect();
        let path = self.dir.join(SHIPMENT_FILE);
        let temporary = path.with_extension("tmp");
        write_durably(&self.dir, &temporary, &path, lines.as_bytes())?;
        self.lock().shipment = named;
        Ok(())
    }

    /// Forgets the shipment in flight once its batches left the spool. Blocking.
    pub fn end_shipment(&self) -> Result<(), SpoolError> {
        self.lock().shipment.clear();
        let path = self.dir.join(SHIPMENT_FILE);
        match fs::remove_file(&path) {
            // Should the removal be lost in a crash, the next start finds the batches it
            // names gone and forgets it then.
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error(&path)(error)),
        }
    }

    /// Reads a batch back. Blocking.
    pub fn read(&self, batch: &SpooledBatch) -> Result<Bytes, SpoolError> {
        let path = self.path(batch.sequence, batch.batch_id);
        fs::read(&path).map(Bytes::from).map_err(io_error(&path))
    }

    /// Marks a batch as possibly landed after a failed attempt.
    pub fn mark_uncertain(&self, sequence: u64) {
        if let Some(batch) = self.lock().batches.get_mut(&sequence) {
            batch.uncertain = true;
        }
    }

    /// Forgets a shipped batch and frees its space. Blocking.
    pub fn remove(&self, batch: &SpooledBatch) -> Result<(), SpoolError> {
        let path = self.path(batch.sequence, batch.batch_id);
        fs::remove_file(&path).map_err(io_error(&path))?;
        let mut state = self.lock();
        if state.batches.remove(&batch.sequence).is_some() {
            state.used_bytes -= batch.bytes;
        }
        Ok(())
    }

    /// Moves a batch that cannot be decoded out of the way, keeping it for inspection.
    pub fn quarantine(&self, batch: &SpooledBatch) -> Result<(), SpoolError> {
        self.set_aside(batch, "corrupt")
    }

    /// Moves a batch the store refuses (it can never land as it is) to `dead-letter/`, kept
    /// for inspection and replay by hand.
    pub fn dead_letter(&self, batch: &SpooledBatch) -> Result<(), SpoolError> {
        self.set_aside(batch, DEAD_LETTER_DIR)
    }

    fn set_aside(&self, batch: &SpooledBatch, folder: &str) -> Result<(), SpoolError> {
        let from = self.path(batch.sequence, batch.batch_id);
        let aside = self.dir.join(folder);
        fs::create_dir_all(&aside).map_err(io_error(&aside))?;
        let to = aside.join(from.file_name().unwrap_or_default());
        fs::rename(&from, &to).map_err(io_error(&to))?;
        let mut state = self.lock();
        if state.batches.remove(&batch.sequence).is_some() {
            state.used_bytes -= batch.bytes;
        }
        Ok(())
    }

    /// `(bytes, batches)` waiting.
    pub fn usage(&self) -> (u64, usize) {
        let state = self.lock();
        (state.used_bytes, state.batches.len())
    }
}

fn batch_path(dir: &Path, sequence: u64, batch_id: u64) -> PathBuf {
    dir.join(format!("{sequence:020}-{batch_id:016x}.batch"))
}

/// Writes `temporary`, fsyncs it and renames it to `path` in `dir`, then fsyncs `dir`.
fn write_durably(
    dir: &Path,
    temporary: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), SpoolError> {
    let mut file = fs::File::create(temporary).map_err(io_error(temporary))?;
    file.write_all(bytes).map_err(io_error(temporary))?;
    file.sync_all().map_err(io_error(temporary))?;
    drop(file);
    fs::rename(temporary, path).map_err(io_error(path))?;
    // The rename is durable only once the directory is.
    fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

/// The shipment a previous run left in flight, found at start. Its batches leave the spool
/// only once all of them landed, so when some are gone the rest landed too and go now.
fn read_shipment(
    dir: &Path,
    batches: &mut BTreeMap<u64, SpooledBatch>,
    used_bytes: &mut u64,
) -> Result<Vec<(u64, u64)>, SpoolError> {
    let path = dir.join(SHIPMENT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(&path)(error)),
    };
    let named: Option<Vec<(u64, u64)>> = text.lines().map(parse_stem).collect();
    let Some(named) = named else {
        // Written whole or not at all (renamed into place), so only a hand could garble it.
        tracing::warn!(path = %path.display(), "unreadable shipment record; its batches ship like any other");
        fs::remove_file(&path).map_err(io_error(&path))?;
        return Ok(Vec::new());
    };
    let present = |(sequence, batch_id): &(u64, u64)| {
        batches
            .get(sequence)
            .is_some_and(|batch| batch.batch_id == *batch_id)
    };
    if named.iter().all(present) && !named.is_empty() {
        return Ok(named);
    }
    let landed: Vec<(u64, u64)> = named.into_iter().filter(present).collect();
    for (sequence, batch_id) in &landed {
        let file = batch_path(dir, *sequence, *batch_id);
        fs::remove_file(&file).map_err(io_error(&file))?;
        if let Some(batch) = batches.remove(sequence) {
            *used_bytes -= batch.bytes;
        }
    }
    if !landed.is_empty() {
        tracing::info!(
            batches = landed.len(),
            "the shipment in flight at the last stop had landed; its last batches leave the spool"
        );
    }
    fs::remove_file(&path).map_err(io_error(&path))?;
    Ok(Vec::new())
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    parse_stem(name.strip_suffix(".batch")?)
}

fn parse_stem(stem: &str) -> Option<(u64, u64)> {
    let (sequence, batch_id) = stem.split_once('-')?;
    Some((
        sequence.parse().ok()?,
        u64::from_str_radix(batch_id, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests;
