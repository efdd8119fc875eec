//! What all threads of a server share: sessions, settings, and requests in flight.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use hashbrown::{HashMap, HashSet};
use serde_json::json;

use super::auth::{Anonymous, Authenticate};
use super::config::EngineConfig;
use crate::bridge::{Bridge, ChangeEvent};
use crate::clients::ClientRequests;
use crate::jsonrpc;
use crate::metrics::MetricsSnapshot;
use crate::server::{McpSession, Outlet};
use crate::session::{LookupError, MemoryStore, SessionId, Store, StreamError};
use crate::sessions::{PublishError, Sessions};
use crate::stream::{StreamId, Subscription};
use crate::Timestamp;

/// The state every thread of an MCP server shares: the sessions and their streams, the
/// configuration, and the requests in flight. `Send + Sync` with the default store; share it
/// behind an `Arc` and give each thread its own [`Engine`](super::Engine) over it.
pub struct EngineState<S = MemoryStore<McpSession>> {
    pub(crate) sessions: Sessions<McpSession, S>,
    pub(crate) config: EngineConfig,
    pub(crate) auth: Box<dyn Authenticate>,
    pub(crate) clients: ClientRequests,
    /// Who subscribed to which resource URI.
    watchers: Mutex<HashMap<Arc<str>, HashSet<SessionId>>>,
    bridge: Bridge,
}

impl<S> fmt::Debug for EngineState<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S: Store<McpSession>> EngineState<S> {
    /// State over these sessions, with anonymous authentication.
    pub fn new(sessions: Sessions<McpSession, S>, config: EngineConfig) -> Self {
        let bridge = Bridge::new(config.bridge_logger.clone());
        Self {
            sessions,
            config,
            auth: Box::new(Anonymous),
            clients: ClientRequests::default(),
            watchers: Mutex::new(HashMap::new()),
            bridge,
        }
    }

    /// Decides the owner of each request (see [`Authenticate`]).
    pub fn with_authenticator(mut self, auth: impl Authenticate) -> Self {
        self.auth = Box::new(auth);
        self
    }

    /// The sessions.
    pub fn sessions(&self) -> &Sessions<McpSession, S> {
        &self.sessions
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// When [`EngineState::handle_timeout`] is next due (see [`Sessions::next_deadline`]).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.sessions.next_deadline()
    }

    /// Expires sessions and sends keep-alives that are due; ends what the expired sessions had
    /// in flight.
    pub async fn handle_timeout(&self) {
        for id in self.sessions.handle_timeout().await {
            self.forget(id);
        }
    }

    /// Counters for export.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.sessions.metrics()
    }

    /// Sends `notifications/resources/updated` to every session subscribed to `uri`, on its
    /// standalone stream. Returns how many sessions were told.
    pub async fn notify_resource_updated(&self, uri: &str) -> usize {
        let subscribers: Vec<SessionId> =
            lock(&self.watchers).get(uri).map(|ids| ids.iter().copied().collect()).unwrap_or_default();
        let payload = jsonrpc::notification_message("notifications/resources/updated", &json!({ "uri": uri }));
        let mut told = 0;
        for id in subscribers {
            match self.sessions.publish(id, StreamId::STANDALONE, payload.clone()).await {
                Ok(_) => told += 1,
                Err(_) => self.forget(id),
            }
        }
        told
    }

    /// Announces an application change to the sessions of its tenant (see [`Bridge`]), except
    /// `except`, honouring each session's log level.
    pub async fn publish_change(&self, event: &ChangeEvent, except: Option<SessionId>) -> usize {
        self.bridge.forward(&self.sessions, event, except, wants_info).await
    }

    /// Forwards every event of `source` to the sessions of its tenant until the source closes.
    pub async fn run_bridge(&self, source: async_broadcast::Receiver<ChangeEvent>) {
        self.bridge.run(&self.sessions, source, wants_info).await
    }

    /// Drops what the engine keeps about a session that ended.
    pub(crate) fn forget(&self, id: SessionId) {
        self.clients.end_session(id);
        lock(&self.watchers).retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
    }

    /// Makes sure a session's persisted resource subscriptions are in the index (after a
    /// restart that kept the session but not this process's memory).
    pub(crate) fn reindex(&self, id: SessionId, state: &McpSession) {
        if state.subscriptions.is_empty() {
            return;
        }
        let mut watchers = lock(&self.watchers);
        for uri in state.subscriptions.iter() {
            watchers.entry(uri.clone()).or_default().insert(id);
        }
    }
}

/// Whether a session receives the bridge's `info` messages under its `logging/setLevel`.
fn wants_info(state: &McpSession) -> bool {
    crate::model::LogLevel::Info.passes(state.log_level)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Single map operations: a panic cannot leave the index half updated.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Store<McpSession>> Outlet for EngineState<S> {
    fn open_stream(&self, session: SessionId, prime: bool) -> LocalBoxFuture<'_, Result<Subscription, StreamError>> {
        self.sessions.open_stream(session, prime).boxed_local()
    }

    fn send(
        &self,
        session: SessionId,
        stream: StreamId,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), PublishError>> {
        self.sessions.send(session, stream, payload).map(|r| r.map(drop)).boxed_local()
    }

    fn publish(
        &self,
        session: SessionId,
        stream: StreamId,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), PublishError>> {
        self.sessions.publish(session, stream, payload).map(|r| r.map(drop)).boxed_local()
    }

    fn finish(&self, session: SessionId, stream: StreamId) -> LocalBoxFuture<'_, ()> {
        // A session deleted mid-call has nothing left to finish.
        self.sessions.finish(session, stream).map(drop).boxed_local()
    }

    fn disconnect(&self, session: SessionId, stream: StreamId) -> bool {
        self.sessions.disconnect(session, stream)
    }

    fn update(
        &self,
        session: SessionId,
        change: Box<dyn FnOnce(&mut McpSession)>,
    ) -> LocalBoxFuture<'_, Result<(), LookupError>> {
        self.sessions.update(session, change).boxed_local()
    }

    fn subscribe_resource(&self, session: SessionId, uri: Arc<str>) -> LocalBoxFuture<'_, Result<(), LookupError>> {
        async move {
            let recorded = uri.clone();
            self.sessions
                .update(session, move |state| {
                    if !state.is_subscribed(&recorded) {
                        state.subscriptions = state.subscriptions.iter().cloned().chain([recorded]).collect();
                    }
                })
                .await?;
            lock(&self.watchers).entry(uri).or_default().insert(session);
            Ok(())
        }
        .boxed_local()
    }

    fn unsubscribe_resource(&self, session: SessionId, uri: Arc<str>) -> LocalBoxFuture<'_, Result<(), LookupError>> {
        async move {
            let removed = uri.clone();
            self.sessions
                .update(session, move |state| {
                    state.subscriptions =
                        state.subscriptions.iter().filter(|s| s[..] != removed[..]).cloned().collect();
                })
                .await?;
            let mut watchers = lock(&self.watchers);
            if let Some(ids) = watchers.get_mut(&uri) {
                ids.remove(&session);
                if ids.is_empty() {
                    watchers.remove(&uri);
                }
            }
            Ok(())
        }
        .boxed_local()
    }

    fn forward_change(&self, event: ChangeEvent, except: Option<SessionId>) -> LocalBoxFuture<'_, usize> {
        async move { self.publish_change(&event, except).await }.boxed_local()
    }

    fn notify_resource_updated(&self, uri: String) -> LocalBoxFuture<'_, usize> {
        async move { EngineState::notify_resource_updated(self, &uri).await }.boxed_local()
    }

    fn clients(&self) -> &ClientRequests {
        &self.clients
    }

    fn window(&self) -> usize {
        self.sessions.store().replay_capacity()
    }
}
