//! A store that goes down and comes back (invariant 11 of the crate docs): what the engine could
//! not tell it while it was down, it tells once it is back, in order, so an outage never lets a
//! busy session idle out, and a refused operation ends nothing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::FutureExt;
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, StorePolicy, StoreUnavailable, StreamError,
};
use mcp_session::stream::{LogLimits, Replay};
use mcp_session::{Event, Owner, Resume, SessionId, SessionRecord, Sessions, Store, StreamId, TenantId, Timestamp};

/// The memory store behind a switch: while `down`, every operation fails as a remote store's
/// would in an outage; while `stalled`, telling it of activity never gets an answer; while
/// `unanswered`, telling it is written and then never answered (the reply was lost).
struct Switched {
    inner: MemoryStore<()>,
    down: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    unanswered: Arc<AtomicBool>,
}

impl Switched {
    fn up(&self) -> Result<(), StoreUnavailable> {
        if self.down.load(Ordering::Relaxed) {
            Err(StoreUnavailable)
        } else {
            Ok(())
        }
    }
}

impl Store<()> for Switched {
    async fn create(&self, record: SessionRecord<()>) -> Result<(), CreateError> {
        self.up()?;
        self.inner.create(record).await
    }
    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<()>, LookupError> {
        self.up()?;
        self.inner.lookup(id, owner, now).await
    }
    async fn update<F: FnMut(&mut ())>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.up()?;
        self.inner.update(id, change).await
    }
    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        self.up()?;
        self.inner.remove(id).await
    }
    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        self.up()?;
        self.inner.open_stream(id).await
    }
    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        self.up()?;
        self.inner.append(id, stream, payload).await
    }
    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        self.up()?;
        self.inner.finish(id, stream).await
    }
    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        self.up()?;
        self.inner.replay(id, stream, after).await
    }
    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable> {
        self.up()?;
        if self.stalled.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        self.inner.set_held(id, held, at).await?;
        if self.unanswered.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        self.up()?;
        self.inner.expire(now).await
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.inner.next_deadline()
    }
    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, ())>, StoreUnavailable> {
        self.up()?;
        self.inner.sessions_of(tenant).await
    }
    fn log_limits(&self) -> LogLimits {
        self.inner.log_limits()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
}

const MINUTE: Duration = Duration::from_secs(60);

fn switched(clock: &mcp_session::ManualClock) -> (Sessions<(), Switched>, Arc<AtomicBool>) {
    let (sessions, down, _) = stallable(clock);
    (sessions, down)
}

/// As [`switched`], with the stall switch too.
fn stallable(clock: &mcp_session::ManualClock) -> (Sessions<(), Switched>, Arc<AtomicBool>, Arc<AtomicBool>) {
    let (sessions, down, stalled, _) = with_switches(clock);
    (sessions, down, stalled)
}

/// The store and all three of its switches: down, stalled, unanswered.
fn with_switches(
    clock: &mcp_session::ManualClock,
) -> (Sessions<(), Switched>, Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicBool>) {
    let switch = || Arc::new(AtomicBool::new(false));
    let (down, stalled, unanswered) = (switch(), switch(), switch());
    let inner = MemoryStore::new(StorePolicy::default());
    let store = Switched { inner, down: down.clone(), stalled: stalled.clone(), unanswered: unanswered.clone() };
    (builder(clock).keep_alive(None).build_with_store(store), down, stalled, unanswered)
}

on_every_runtime! {
    async fn a_hold_the_store_missed_in_an_outage_is_told_when_it_is_back() {
        let clock = clock();
        let (sessions, down) = switched(&clock);
        let id = used(&sessions, owner("t")).await;
        // A stream attaches: the session is busy from now on.
        let _stream = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, Default::default()).await.unwrap();
        down.store(true, Ordering::Relaxed);
        sessions.handle_timeout().await; // the hold cannot be told now
        down.store(false, Ordering::Relaxed);
        clock.advance(31 * MINUTE);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 1, "still attached: the store heard of the hold, late but in order");
        assert!(sessions.lookup(id, &owner("t")).await.is_ok());
    }

    async fn a_release_the_store_missed_in_an_outage_is_told_when_it_is_back() {
        let clock = clock();
        let (sessions, down) = switched(&clock);
        let id = used(&sessions, owner("t")).await;
        let stream = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, Default::default()).await.unwrap();
        clock.advance(MINUTE);
        sessions.handle_timeout().await; // told: held
        drop(stream);
        down.store(true, Ordering::Relaxed);
        sessions.handle_timeout().await; // the release cannot be told now
        down.store(false, Ordering::Relaxed);
        clock.advance(30 * MINUTE);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 0, "idle for 30 minutes since the release: expired, not kept to the absolute timeout");
    }

    async fn a_release_whose_telling_was_dropped_midway_is_told_again() {
        // Found by the whole-engine simulation: a request dropped while it told the store of a
        // release lost that release, and the session lived on to its absolute timeout.
        let clock = clock();
        let (sessions, _, stalled) = stallable(&clock);
        let id = used(&sessions, owner("t")).await;
        let stream = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, Default::default()).await.unwrap();
        clock.advance(MINUTE);
        sessions.handle_timeout().await; // told: held
        drop(stream);
        // A lookup tells the release before it decides; its client hangs up before the store
        // answers.
        stalled.store(true, Ordering::Relaxed);
        assert!(sessions.lookup(id, &owner("t")).now_or_never().is_none(), "the store did not answer");
        stalled.store(false, Ordering::Relaxed);
        clock.advance(30 * MINUTE);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 0, "idle for 30 minutes since the release: expired, not kept to the absolute timeout");
    }

    async fn a_hold_the_store_took_without_answering_is_released() {
        // Found by the whole-engine simulation over Redis: a request that went while the store
        // wrote a hold left the hold queued as never told; released in the same instant, it was
        // taken back from the queue as if the store had never heard of it, and the session
        // lived on to its absolute timeout.
        let clock = clock();
        let (sessions, _, _, unanswered) = with_switches(&clock);
        let id = used(&sessions, owner("t")).await;
        let stream = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, Default::default()).await.unwrap();
        // A lookup tells the hold before it decides; the store writes it, and the client hangs
        // up before the store's answer comes.
        unanswered.store(true, Ordering::Relaxed);
        assert!(sessions.lookup(id, &owner("t")).now_or_never().is_none(), "the store did not answer");
        unanswered.store(false, Ordering::Relaxed);
        drop(stream);
        clock.advance(31 * MINUTE);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 0, "idle for 31 minutes since the release: expired, not kept to the absolute timeout");
    }

    async fn an_outage_ends_no_session() {
        let clock = clock();
        let (sessions, down) = switched(&clock);
        let id = used(&sessions, owner("t")).await;
        down.store(true, Ordering::Relaxed);
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Unavailable(StoreUnavailable)));
        assert_eq!(sessions.remove(id).await, Err(StoreUnavailable));
        assert!(sessions.handle_timeout().await.is_empty());
        down.store(false, Ordering::Relaxed);
        assert!(sessions.lookup(id, &owner("t")).await.is_ok(), "the session outlived the outage");
        assert_eq!(sessions.remove(id).await, Ok(true));
    }
}
