//! The on-disk spool: where encoded batches wait for a remote store. A batch is acknowledged
//! once its file is fsynced here, so a database outage or a restart of tracehouse loses
//! nothing acknowledged. The spool is bounded in bytes; when full, new batches are refused
//! with a retryable error.
//!
//! Files are named `{sequence}-{batch id}.batch` and written as `.tmp`, fsynced, renamed and the
//! directory fsynced, so a crash leaves either a whole batch or a `.tmp` that was never
//! acknowledged (and is deleted on start).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

/// Where batches the store refused are kept, inside the spool directory.
pub const DEAD_LETTER_DIR: &str = "dead-letter";

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
        self.dir
            .join(format!("{sequence:020}-{batch_id:016x}.batch"))
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
        let temporary = path.with_extension("tmp");
        let mut file = fs::File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(payload).map_err(io_error(&temporary))?;
        file.sync_all().map_err(io_error(&temporary))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(io_error(&path))?;
        // The rename is durable only once the directory is.
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(&self.dir))
    }

    /// The oldest batch waiting to be shipped.
    pub fn oldest(&self) -> Option<SpooledBatch> {
        self.lock().batches.values().next().cloned()
    }

    /// The oldest batches, in order, up to `max_bytes` (at least one when any waits).
    pub fn front(&self, max_bytes: u64) -> Vec<SpooledBatch> {
        let state = self.lock();
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

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".batch")?;
    let (sequence, batch_id) = stem.split_once('-')?;
    Some((
        sequence.parse().ok()?,
        u64::from_str_radix(batch_id, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_a_restart_in_order_and_uncertain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1_000).expect("open");
        spool.append(7, b"first").expect("append");
        spool.append(9, b"second").expect("append");
        assert_eq!(
            spool.oldest().map(|b| (b.batch_id, b.uncertain)),
            Some((7, false))
        );
        fs::write(
            dir.path().join("00000000000000000005-0000000000000001.tmp"),
            b"torn",
        )
        .expect("tmp");
        drop(spool);

        let reopened = Spool::open(dir.path(), 1_000).expect("reopen");
        assert_eq!(reopened.usage(), (11, 2));
        let first = reopened.oldest().expect("first");
        assert_eq!((first.batch_id, first.uncertain), (7, true));
        assert_eq!(
            reopened.read(&first).expect("read"),
            Bytes::from_static(b"first")
        );
        reopened.remove(&first).expect("remove");
        assert_eq!(reopened.oldest().map(|b| b.batch_id), Some(9));
        let third = reopened.append(10, b"third").expect("append after reopen");
        assert_eq!(third.sequence, 2, "sequence continues after the last file");
        assert!(
            !dir.path()
                .join("00000000000000000005-0000000000000001.tmp")
                .exists()
        );
    }

    #[test]
    fn refuses_batches_beyond_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 10).expect("open");
        spool.append(1, b"12345678").expect("fits");
        assert!(matches!(
            spool.append(2, b"123"),
            Err(SpoolError::Full { used: 8, max: 10 })
        ));
        let first = spool.oldest().expect("first");
        spool.remove(&first).expect("remove");
        spool.append(2, b"123").expect("fits again");
    }

    #[test]
    fn quarantined_batches_are_kept_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 100).expect("open");
        let batch = spool.append(3, b"garbage").expect("append");
        spool.quarantine(&batch).expect("quarantine");
        assert_eq!(spool.usage(), (0, 0));
        assert!(
            dir.path()
                .join("corrupt")
                .read_dir()
                .expect("dir")
                .next()
                .is_some()
        );
        assert_eq!(
            Spool::open(dir.path(), 100).expect("reopen").usage(),
            (0, 0)
        );
    }
}
