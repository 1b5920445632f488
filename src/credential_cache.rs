//! An in-memory copy of credentials kept in the store (instrumentation keys, API tokens):
//! re-read on a timer and, at most once a second, after a lookup misses, so a credential
//! issued a moment ago works at once and a revocation takes effect within the refresh period.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// How often credentials are re-read from the store.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// A credential not found is looked up in the store again at most this often.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// A store that does not answer must not hold up start-up or requests for long.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

struct State<R> {
    /// `None` until the store has been read once.
    records: Option<HashMap<String, R>>,
    loaded_at: Option<Instant>,
    last_error: String,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<R> {
    /// The store has never been read; the text says why.
    NotLoaded(String),
    Missing,
    Found(R),
}

pub struct CredentialCache<R> {
    state: Arc<RwLock<State<R>>>,
    /// Held by the one caller reloading after a miss, so a burst of misses reads once.
    miss_reload: Arc<tokio::sync::Mutex<()>>,
}

impl<R> Clone for CredentialCache<R> {
    fn clone(&self) -> Self {
        CredentialCache {
            state: Arc::clone(&self.state),
            miss_reload: Arc::clone(&self.miss_reload),
        }
    }
}

impl<R: Clone> Default for CredentialCache<R> {
    fn default() -> Self {
        CredentialCache {
            state: Arc::new(RwLock::new(State {
                records: None,
                loaded_at: None,
                last_error: String::new(),
            })),
            miss_reload: Arc::default(),
        }
    }
}

impl<R: Clone> CredentialCache<R> {
    fn read(&self) -> RwLockReadGuard<'_, State<R>> {
        match self.state.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<R>> {
        match self.state.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Replaces the copy with what `fetch` reads, as `(lookup id, record)` pairs; on failure
    /// the previous copy stays and the error is logged.
    pub async fn reload<F>(&self, what: &str, fetch: F)
    where
        F: Future<Output = Result<Vec<(String, R)>, StoreError>>,
    {
        let result = match tokio::time::timeout(LOAD_TIMEOUT, fetch).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("reading {what} timed out"))),
        };
        let mut state = self.write();
        state.loaded_at = Some(Instant::now());
        match result {
            Ok(records) => {
                state.records = Some(records.into_iter().collect());
                state.last_error.clear();
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read {what}");
                state.last_error = error.to_string();
            }
        }
    }

    /// After a miss: waits until a reload is allowed (at most a second), then reloads unless
    /// another caller did meanwhile. A credential issued a moment ago is then found, and
    /// however many misses arrive, the store is read at most once a second.
    pub async fn reload_after_miss_waiting<F>(&self, what: &str, fetch: F)
    where
        F: Future<Output = Result<Vec<(String, R)>, StoreError>>,
    {
        let missed_at = Instant::now();
        let _one_reload = self.miss_reload.lock().await;
        let loaded_at = self.read().loaded_at;
        if loaded_at.is_some_and(|at| at >= missed_at) {
            return;
        }
        if let Some(at) = loaded_at {
            tokio::time::sleep_until((at + MISS_RELOAD_INTERVAL).into()).await;
        }
        self.reload(what, fetch).await;
    }

    pub fn lookup(&self, id: &str) -> Lookup<R> {
        let state = self.read();
        match &state.records {
            None => Lookup::NotLoaded(state.last_error.clone()),
            Some(records) => match records.get(id) {
                Some(record) => Lookup::Found(record.clone()),
                None => Lookup::Missing,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_reload_keeps_the_previous_copy() {
        let cache: CredentialCache<u32> = CredentialCache::default();
        assert!(matches!(cache.lookup("a"), Lookup::NotLoaded(_)));
        cache
            .reload("numbers", async { Ok(vec![("a".to_owned(), 1)]) })
            .await;
        assert_eq!(cache.lookup("a"), Lookup::Found(1));
        assert_eq!(cache.lookup("b"), Lookup::Missing);
        cache
            .reload("numbers", async {
                Err(StoreError::Unavailable("down".into()))
            })
            .await;
        assert_eq!(cache.lookup("a"), Lookup::Found(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_miss_waits_for_the_next_allowed_reload_and_misses_share_it() {
        let cache: CredentialCache<u32> = CredentialCache::default();
        cache.reload("numbers", async { Ok(Vec::new()) }).await;
        let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let miss = || {
            let (cache, reads) = (cache.clone(), Arc::clone(&reads));
            tokio::spawn(async move {
                let fetch = async {
                    reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(vec![("new".to_owned(), 7)])
                };
                cache.reload_after_miss_waiting("numbers", fetch).await;
                cache.lookup("new")
            })
        };
        let (first, second) = (miss(), miss());
        assert_eq!(first.await.expect("task"), Lookup::Found(7));
        assert_eq!(second.await.expect("task"), Lookup::Found(7));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
