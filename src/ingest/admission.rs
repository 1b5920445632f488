//! Admission of request bodies, the same on every transport: a body holds only the memory it
//! has actually sent (a budget shared by all requests being received), and it must keep
//! arriving at a minimum pace. A connection that sends headers and then stalls, or trickles a
//! byte a second, therefore holds next to nothing and is cut off after the grace period; the
//! decode slots are taken only once a body is complete, so stalled clients cannot hold them.
//! Each client address may hold only a share of the budget, so a few clients sending large
//! bodies at just the minimum pace cannot take it all from everyone else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The slowest pace a body may arrive at once the grace period is over.
pub const MIN_BODY_BYTES_PER_S: u64 = 64 * 1024;
/// Budget accounting unit (a semaphore counts in `u32`).
const UNIT_BYTES: u64 = 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a body was cut off while it was being received.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BodyRefusal {
    #[error(
        "request body arrived too slowly: {received} bytes in {elapsed_ms} ms; a body must arrive within the body timeout plus 1 s per 64 KiB"
    )]
    TooSlow { received: u64, elapsed_ms: u128 },
    #[error(
        "request bodies being received use the whole budget of {budget_bytes} bytes; retry later"
    )]
    Busy { budget_bytes: u64 },
    #[error(
        "request bodies being received from {client} use its share of {share_bytes} bytes of the body budget; retry later"
    )]
    ClientBusy { client: IpAddr, share_bytes: u64 },
}

/// Budget units each client address holds.
struct ClientLedger {
    held: Mutex<HashMap<IpAddr, u64>>,
    share_units: u64,
}

impl ClientLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u64>> {
        match self.held.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records `units` more for `client`, unless that takes it past its share.
    fn try_add(&self, client: IpAddr, units: u64) -> bool {
        let mut held = self.lock();
        let entry = held.entry(client).or_insert(0);
        if entry.saturating_add(units) > self.share_units {
            if *entry == 0 {
                held.remove(&client);
            }
            return false;
        }
        *entry += units;
        true
    }

    fn release(&self, client: IpAddr, units: u64) {
        let mut held = self.lock();
        if let Some(entry) = held.get_mut(&client) {
            *entry = entry.saturating_sub(units);
            if *entry == 0 {
                held.remove(&client);
            }
        }
    }
}

/// The bytes all request bodies being received may hold at once, and each client of them.
#[derive(Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    budget_bytes: u64,
    clients: Arc<ClientLedger>,
}

impl BodyBudget {
    /// `client_share_bytes` is the most one client address may hold (at least one unit).
    pub fn new(budget_bytes: u64, client_share_bytes: u64) -> Self {
        let units = u32::try_from(budget_bytes.div_ceil(UNIT_BYTES)).unwrap_or(u32::MAX);
        BodyBudget {
            units: Arc::new(Semaphore::new(units as usize)),
            budget_bytes,
            clients: Arc::new(ClientLedger {
                held: Mutex::default(),
                share_units: client_share_bytes.div_ceil(UNIT_BYTES).max(1),
            }),
        }
    }

    /// Wraps `body` so that it draws on this budget and keeps to the pace. `refuse` makes the
    /// transport's error of a refusal (the gRPC one carries a status). The returned hold keeps
    /// the body's share of the budget until it is dropped: after the request is handled, since
    /// the body's bytes live until then.
    /// `client` is the sending address, when the transport knows it.
    pub fn admit<B>(
        &self,
        body: B,
        client: Option<IpAddr>,
        grace: Duration,
        refuse: fn(BodyRefusal) -> BoxError,
    ) -> (Paced<B>, BudgetHold) {
        let hold = BudgetHold::default();
        let started = Instant::now();
        let paced = Paced {
            inner: Box::pin(body),
            budget: self.clone(),
            client,
            hold: hold.clone(),
            held_units: 0,
            received: 0,
            started,
            grace,
            deadline: Box::pin(tokio::time::sleep_until(started + grace)),
            refuse,
        };
        (paced, hold)
    }
}

/// A body's share of the budget, released when the last clone is dropped.
#[derive(Clone, Default)]
pub struct BudgetHold(Arc<Mutex<Held>>);

#[derive(Default)]
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    /// The client's ledger entry this hold adds to, and by how many units.
    client: Option<(Arc<ClientLedger>, IpAddr, u64)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((ledger, client, units)) = self.client.take() {
            ledger.release(client, units);
        }
    }
}

impl BudgetHold {
    fn add(&self, permit: OwnedSemaphorePermit, client: Option<(&Arc<ClientLedger>, IpAddr)>) {
        let units = permit.num_permits() as u64;
        let mut held = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match held.permit.as_mut() {
            Some(existing) => existing.merge(permit),
            None => held.permit = Some(permit),
        }
        if let Some((ledger, ip)) = client {
            match held.client.as_mut() {
                Some((_, _, total)) => *total += units,
                None => held.client = Some((Arc::clone(ledger), ip, units)),
            }
        }
    }
}

/// A request body drawing on the [`BodyBudget`] as its bytes arrive, cut off when it falls
/// behind the pace.
pub struct Paced<B> {
    inner: Pin<Box<B>>,
    budget: BodyBudget,
    client: Option<IpAddr>,
    hold: BudgetHold,
    held_units: u64,
    received: u64,
    started: Instant,
    grace: Duration,
    deadline: Pin<Box<Sleep>>,
    refuse: fn(BodyRefusal) -> BoxError,
}

impl<B> Paced<B> {
    /// Takes budget for the bytes received so far, from the client's share first.
    fn account(&mut self, bytes: usize) -> Result<(), BodyRefusal> {
        self.received = self.received.saturating_add(bytes as u64);
        let needed = self.received.div_ceil(UNIT_BYTES);
        if needed > self.held_units {
            let more = u32::try_from(needed - self.held_units).unwrap_or(u32::MAX);
            let ledger = &self.budget.clients;
            if let Some(client) = self.client
                && !ledger.try_add(client, u64::from(more))
            {
                return Err(BodyRefusal::ClientBusy {
                    client,
                    share_bytes: ledger.share_units.saturating_mul(UNIT_BYTES),
                });
            }
            match Arc::clone(&self.budget.units).try_acquire_many_owned(more) {
                Ok(permit) => {
                    self.hold.add(permit, self.client.map(|ip| (ledger, ip)));
                    self.held_units = needed;
                }
                Err(_) => {
                    if let Some(client) = self.client {
                        ledger.release(client, u64::from(more));
                    }
                    return Err(BodyRefusal::Busy {
                        budget_bytes: self.budget.budget_bytes,
                    });
                }
            }
        }
        let allowed = self.grace
            + Duration::from_secs_f64(self.received as f64 / MIN_BODY_BYTES_PER_S as f64);
        self.deadline.as_mut().reset(self.started + allowed);
        Ok(())
    }
}

impl<B> Body for Paced<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, Buf::remaining);
                match this.account(bytes) {
                    Ok(()) => Poll::Ready(Some(Ok(frame))),
                    Err(refusal) => Poll::Ready(Some(Err((this.refuse)(refusal)))),
                }
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let refusal = BodyRefusal::TooSlow {
                        received: this.received,
                        elapsed_ms: this.started.elapsed().as_millis(),
                    };
                    Poll::Ready(Some(Err((this.refuse)(refusal))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn refuse(refusal: BodyRefusal) -> BoxError {
        Box::new(refusal)
    }

    fn chunks(
        parts: Vec<&'static [u8]>,
    ) -> StreamBody<
        impl futures_util::Stream<Item = Result<Frame<bytes::Bytes>, std::convert::Infallible>>,
    > {
        StreamBody::new(futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok(Frame::data(bytes::Bytes::from_static(p)))),
        ))
    }

    #[tokio::test]
    async fn a_body_within_budget_arrives_whole_and_its_share_is_released_with_the_hold() {
        let budget = BodyBudget::new(4 * 1024, 4 * 1024);
        let (body, hold) = budget.admit(
            chunks(vec![&[1; 1000], &[2; 1000]]),
            None,
            Duration::from_secs(1),
            refuse,
        );
        let bytes = body.collect().await.expect("whole").to_bytes();
        assert_eq!(bytes.len(), 2000);
        assert_eq!(budget.units.available_permits(), 2, "2 KiB still held");
        drop(hold);
        assert_eq!(budget.units.available_permits(), 4);
    }

    #[tokio::test]
    async fn a_body_beyond_the_budget_is_refused_as_busy() {
        let budget = BodyBudget::new(1024, 1024);
        let (body, _hold) = budget.admit(
            chunks(vec![&[1; 1000], &[2; 1000]]),
            None,
            Duration::from_secs(1),
            refuse,
        );
        let Err(error) = body.collect().await else {
            panic!("refused")
        };
        assert!(matches!(
            error.downcast_ref::<BodyRefusal>(),
            Some(BodyRefusal::Busy { budget_bytes: 1024 })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_cut_off_after_the_grace_period() {
        let budget = BodyBudget::new(1 << 20, 1 << 20);
        let stalled = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<bytes::Bytes>, std::convert::Infallible>,
        >());
        let (body, _hold) = budget.admit(stalled, None, Duration::from_secs(10), refuse);
        let started = Instant::now();
        let Err(error) = body.collect().await else {
            panic!("cut off")
        };
        assert!(matches!(
            error.downcast_ref::<BodyRefusal>(),
            Some(BodyRefusal::TooSlow { received: 0, .. })
        ));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn one_client_holds_only_its_share_and_gets_it_back() {
        let budget = BodyBudget::new(8 * 1024, 2 * 1024);
        let greedy: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        let (first, first_hold) = budget.admit(
            chunks(vec![&[1; 2048]]),
            Some(greedy),
            Duration::from_secs(1),
            refuse,
        );
        first.collect().await.expect("within its share");
        let (second, _) = budget.admit(
            chunks(vec![&[1; 1]]),
            Some(greedy),
            Duration::from_secs(1),
            refuse,
        );
        let Err(error) = second.collect().await else {
            panic!("over its share")
        };
        assert!(matches!(
            error.downcast_ref::<BodyRefusal>(),
            Some(BodyRefusal::ClientBusy {
                share_bytes: 2048,
                ..
            })
        ));
        let (others, _hold) = budget.admit(
            chunks(vec![&[1; 2048]]),
            Some(other),
            Duration::from_secs(1),
            refuse,
        );
        others
            .collect()
            .await
            .expect("another client is not held up");
        drop(first_hold);
        assert!(budget.clients.lock().get(&greedy).is_none(), "released");
        let (again, _hold) = budget.admit(
            chunks(vec![&[1; 2048]]),
            Some(greedy),
            Duration::from_secs(1),
            refuse,
        );
        again.collect().await.expect("its share is back");
    }
}
