//! A few long-lived threads for normalizing large bodies off the async workers.
//!
//! Tokio's blocking pool would do the work too, but it spreads it over up to hundreds of
//! short-lived threads, and memory freed on a thread that then idles stays in that thread's
//! allocator heap: under overload that alone took RSS past 256 MB. One thread per core keeps
//! the work on threads that stay busy, and bounds what idle ones can hold.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct CpuPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

#[derive(Debug, thiserror::Error)]
#[error("normalization worker stopped")]
pub struct PoolStopped;

impl CpuPool {
    /// One worker per available core (at least one).
    pub fn per_core() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(threads)
    }

    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("normalize-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match receiver.lock() {
                            Ok(guard) => guard.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            // The pool was dropped.
                            Err(mpsc::RecvError) => return,
                        }
                    }
                })?;
        }
        Ok(CpuPool {
            jobs: Mutex::new(sender),
        })
    }

    /// Runs `work` on a pool thread. Callers bound how many run at once (ingest's in-flight
    /// permits), so the queue stays short.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PoolStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(job),
            Err(poisoned) => poisoned.into_inner().send(job),
        };
        sent.map_err(|_| PoolStopped)?;
        result.await.map_err(|_| PoolStopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_on_its_threads() {
        let pool = CpuPool::new(2).expect("threads");
        let names = futures_util::future::join_all(
            (0..8).map(|_| pool.run(|| std::thread::current().name().map(str::to_owned))),
        )
        .await;
        for name in names {
            assert!(name.expect("ran").expect("named").starts_with("normalize-"));
        }
    }
}
