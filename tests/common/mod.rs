//! Shared helpers for the integration tests: a runtime matrix and virtual-time fixtures.
//!
//! Every scenario is a plain `async fn` that never sleeps (time comes from a `ManualClock`), so
//! the same body runs under tokio, async-std and smol natively, and under wasm-bindgen-test in
//! Node when built for `wasm32-unknown-unknown`.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use mcp_session::{
    ManualClock, Owner, Principal, SessionIdGenerator, Sessions, SessionsBuilder, StreamItem, Subscription, TenantId,
    Timestamp,
};

/// Runs each `async fn` under every executor the crate supports.
#[macro_export]
macro_rules! on_every_runtime {
    ($(async fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            pub(super) async fn scenario() $body

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn tokio() {
                $crate::common::block_on_tokio(scenario())
            }

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn async_std() {
                async_std::task::block_on(scenario())
            }

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn smol() {
                smol::block_on(scenario())
            }

            #[cfg(target_family = "wasm")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn wasm() {
                scenario().await
            }
        }
    )*};
}

#[cfg(not(target_family = "wasm"))]
pub fn block_on_tokio<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(future)
}

/// Noon, 21 Nov 2026: any fixed start works; a realistic one keeps ticks looking like times.
pub const START: Timestamp = Timestamp::from_millis(1_795_262_400_000);

pub fn clock() -> ManualClock {
    ManualClock::new(START)
}

pub fn builder(clock: &ManualClock) -> SessionsBuilder {
    Sessions::builder().clock(clock.clone()).ids(SessionIdGenerator::seeded(42))
}

pub fn engine(clock: &ManualClock) -> Sessions<()> {
    builder(clock).build()
}

pub fn owner(tenant: &str) -> Owner {
    Owner::new(TenantId::new(tenant), Principal::anonymous())
}

/// A session as the HTTP engine makes one: created, then used by a request (so the idle timeout,
/// not the initialization timeout, applies).
pub async fn used<S: mcp_session::Store<()>>(sessions: &Sessions<(), S>, owner: Owner) -> mcp_session::SessionId {
    let id = sessions.create(owner.clone(), ()).await.expect("a session");
    sessions.lookup(id, &owner).await.expect("the session just made");
    id
}

pub fn at(offset: Duration) -> Timestamp {
    START.saturating_add(offset)
}

pub fn msg(n: u64) -> Bytes {
    Bytes::from(format!(r#"{{"n":{n}}}"#))
}

/// The `n` of a payload made by [`msg`].
pub fn n_of(item: &StreamItem) -> Option<u64> {
    match item {
        StreamItem::Event(event) => {
            let value: serde_json::Value = serde_json::from_slice(event.payload()).ok()?;
            value["n"].as_u64()
        }
        _ => None,
    }
}

/// Everything the subscription can yield right now, without waiting.
pub fn drain(subscription: &mut Subscription) -> Vec<StreamItem> {
    let mut items = Vec::new();
    while let Some(Some(item)) = subscription.next().now_or_never() {
        items.push(item);
    }
    items
}

/// Whether the subscription has ended (yields `None` now).
pub fn has_ended(subscription: &mut Subscription) -> bool {
    matches!(subscription.next().now_or_never(), Some(None))
}

/// A [`MemoryStore`](mcp_session::session::MemoryStore) with a hook that runs right after
/// `next_deadline` has read the store, to stage what another thread could do at that moment.
pub struct HookedStore {
    pub inner: mcp_session::session::MemoryStore<()>,
    pub after_next_deadline: std::cell::RefCell<Option<Box<dyn FnOnce()>>>,
    /// Runs at the start of the next `replay`, before the log is read.
    pub before_replay: std::cell::RefCell<Option<Box<dyn FnOnce()>>>,
    /// While set, `replay` never answers: a remote store's reply still on its way when the
    /// request waiting for it goes.
    pub stall_replay: std::cell::Cell<bool>,
    /// Runs right after the next `open_stream` opened the stream, before it returns.
    pub after_open_stream: std::cell::RefCell<Option<Box<dyn FnOnce()>>>,
}

impl HookedStore {
    pub fn new(policy: mcp_session::session::StorePolicy) -> Self {
        Self {
            inner: mcp_session::session::MemoryStore::new(policy),
            after_next_deadline: Default::default(),
            before_replay: Default::default(),
            stall_replay: Default::default(),
            after_open_stream: Default::default(),
        }
    }
}

impl mcp_session::Store<()> for HookedStore {
    async fn create(&self, record: mcp_session::SessionRecord<()>) -> Result<(), mcp_session::session::CreateError> {
        self.inner.create(record).await
    }
    async fn lookup(
        &self,
        id: mcp_session::SessionId,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<mcp_session::SessionRecord<()>, mcp_session::session::LookupError> {
        self.inner.lookup(id, owner, now).await
    }
    async fn update<F: FnMut(&mut ())>(
        &self,
        id: mcp_session::SessionId,
        change: F,
    ) -> Result<(), mcp_session::session::LookupError> {
        self.inner.update(id, change).await
    }
    async fn remove(&self, id: mcp_session::SessionId) -> Result<bool, mcp_session::session::StoreUnavailable> {
        self.inner.remove(id).await
    }
    async fn open_stream(
        &self,
        id: mcp_session::SessionId,
    ) -> Result<mcp_session::StreamId, mcp_session::session::StreamError> {
        let opened = self.inner.open_stream(id).await;
        let hook = self.after_open_stream.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        opened
    }
    async fn append(
        &self,
        id: mcp_session::SessionId,
        stream: mcp_session::StreamId,
        payload: Bytes,
    ) -> Result<mcp_session::Event, mcp_session::session::StreamError> {
        self.inner.append(id, stream, payload).await
    }
    async fn finish(
        &self,
        id: mcp_session::SessionId,
        stream: mcp_session::StreamId,
    ) -> Result<(), mcp_session::session::StreamError> {
        self.inner.finish(id, stream).await
    }
    async fn replay(
        &self,
        id: mcp_session::SessionId,
        stream: mcp_session::StreamId,
        after: u64,
    ) -> Result<mcp_session::stream::Replay, mcp_session::session::ReplayError> {
        let hook = self.before_replay.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        if self.stall_replay.get() {
            std::future::pending::<()>().await;
        }
        self.inner.replay(id, stream, after).await
    }
    async fn set_held(
        &self,
        id: mcp_session::SessionId,
        held: bool,
        at: Timestamp,
    ) -> Result<(), mcp_session::session::StoreUnavailable> {
        self.inner.set_held(id, held, at).await
    }
    async fn expire(
        &self,
        now: Timestamp,
    ) -> Result<Vec<mcp_session::SessionId>, mcp_session::session::StoreUnavailable> {
        self.inner.expire(now).await
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        let read = self.inner.next_deadline();
        let hook = self.after_next_deadline.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        read
    }
    async fn sessions_of(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(mcp_session::SessionId, ())>, mcp_session::session::StoreUnavailable> {
        self.inner.sessions_of(tenant).await
    }
    fn log_limits(&self) -> mcp_session::stream::LogLimits {
        self.inner.log_limits()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
}
