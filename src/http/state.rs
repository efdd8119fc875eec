//! What all threads of a server share: sessions, settings, and requests in flight.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde_json::json;

use super::auth::{Anonymous, Authenticate};
use super::config::EngineConfig;
use crate::bridge::{Bridge, ChangeEvent};
use crate::bus::{Bus, Control, NoBus};
use crate::clients::ClientRequests;
use crate::jsonrpc;
use crate::listen::{Change, Listeners};
use crate::metrics::{FrontCounters, MetricsSnapshot};
use crate::server::{McpSession, Outlet, ResourceSubscribeError};
use crate::session::{LookupError, MemoryStore, SessionId, Store, StoreUnavailable, StreamError};
use crate::sessions::{Census, PublishError, Sessions, Subscription};
use crate::stream::StreamId;
use crate::watch::WatchIndex;
use crate::Timestamp;

/// The state every thread of an MCP server shares: the sessions and their streams, the
/// configuration, and the requests in flight. `Send + Sync` with the default store; share it
/// behind an `Arc` and give each thread its own [`Engine`](super::Engine) over it.
pub struct EngineState<S = MemoryStore<McpSession>> {
    pub(crate) sessions: Sessions<McpSession, S>,
    pub(crate) config: EngineConfig,
    pub(crate) auth: Box<dyn Authenticate>,
    pub(crate) clients: Arc<ClientRequests>,
    /// Who subscribed to which resource URI.
    watchers: WatchIndex,
    bridge: Bridge,
    /// `subscriptions/listen` streams.
    pub(crate) listeners: Arc<Listeners>,
    /// Refusals and request latency.
    pub(crate) front: FrontCounters,
    /// The other replicas sharing the store, if any.
    pub(crate) bus: Arc<dyn Bus>,
}

/// What an engine holds right now, for gauges and leak checks (see [`EngineState::occupancy`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Occupancy {
    /// Sessions, streams and subscribers (see [`Census`]).
    pub sessions: Census,
    /// Client requests running.
    pub calls: usize,
    /// Requests to clients awaiting their answer.
    pub awaiting_clients: usize,
    /// Resource URIs some session watches.
    pub watched_uris: usize,
    /// `subscriptions/listen` streams open.
    pub listens: usize,
    /// `(session, URI)` watch pairs.
    pub watches: usize,
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
        let listeners = Arc::new(Listeners::new(config.max_listens, config.max_listens_per_principal));
        Self {
            listeners,
            sessions,
            config,
            auth: Box::new(Anonymous),
            clients: Arc::default(),
            watchers: WatchIndex::default(),
            bridge,
            front: FrontCounters::default(),
            bus: Arc::new(NoBus),
        }
    }

    /// Tells the other replicas sharing the store what must reach them (see [`crate::bus`]):
    /// answers and cancellations for requests they hold, sessions that ended here. The host
    /// feeds what they send back in with [`EngineState::handle_control`], and the store's
    /// doorbells with [`EngineState::handle_doorbell`].
    pub fn with_bus(mut self, bus: impl Bus) -> Self {
        if let Some(node) = bus.node() {
            self.clients.name_ids_after(node);
        }
        self.bus = Arc::new(bus);
        self
    }

    /// A message another replica sent (see [`Control`]): acts on what this process holds of
    /// it, and ignores the rest (every replica receives every message).
    pub fn handle_control(&self, message: Control) {
        match message {
            Control::Answer { session, id, outcome } => {
                // Not waited for here either: every replica receives every answer.
                let _ = self.clients.resolve(session, id, outcome);
            }
            Control::Cancel { session, id } => {
                self.clients.cancel(session, id);
            }
            Control::Ended { session } => {
                self.sessions.end_live(session);
                self.forget(session);
            }
            Control::Announce { change, tenant } => {
                self.listeners.announce(&change, tenant.as_ref());
            }
            Control::Attached { session, stream } => {
                self.sessions.disconnect(session, stream);
            }
        }
    }

    /// A doorbell of the store: stream `stream` of session `id` has news in its log (see
    /// [`Sessions::handle_doorbell`]).
    pub async fn handle_doorbell(&self, id: SessionId, stream: StreamId) {
        self.sessions.handle_doorbell(id, stream).await;
    }

    /// Reads the log of every stream attached here again, after doorbells may have been lost
    /// (see [`Sessions::resync`]).
    pub async fn resync(&self) {
        self.sessions.resync().await;
    }

    /// Tells the other replicas that a session ended here. A bus that cannot is logged: their
    /// subscribers of it end at their next read of its log, which finds it gone.
    pub(crate) async fn tell_ended(&self, session: SessionId) {
        if self.bus.send(Control::Ended { session }).await.is_err() {
            tracing::warn!(target: "mcp_session::bus", %session, "bus unavailable: other replicas not told the session ended");
        }
    }

    /// Tells the other replicas that the client connected to `stream` here, so that one holding
    /// an earlier connection to it ends that one ([`Control::Attached`]). Nothing is sent when
    /// there are no other replicas. A bus that cannot is logged and the connection made here
    /// stands: the earlier one ends when its replica finds its client gone.
    pub(crate) async fn tell_attached(&self, session: SessionId, stream: StreamId) {
        if self.bus.node().is_none() {
            return;
        }
        if self.bus.send(Control::Attached { session, stream }).await.is_err() {
            tracing::warn!(target: "mcp_session::bus", %session, %stream, "bus unavailable: other replicas not told of a reconnect");
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
        let sessions = self.sessions.next_deadline();
        match (sessions, self.listeners.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires sessions and sends keep-alives that are due (listen streams' too); ends what the
    /// expired sessions had in flight.
    pub async fn handle_timeout(&self) {
        for id in self.sessions.handle_timeout().await {
            super::trace::session_expired(id);
            self.forget(id);
            self.tell_ended(id).await;
        }
        if let Some(every) = self.sessions.keep_alive() {
            self.listeners.handle_timeout(self.sessions.now(), every);
        }
    }

    /// Announces a change to every client that should hear of it, in both eras: sessions on
    /// their standalone (GET) stream — every session live in this process for a list change,
    /// the subscribers of the URI for a resource update — and `subscriptions/listen` streams
    /// that asked for it. Returns how many sessions and listen streams were told.
    pub async fn announce(&self, change: Change) -> usize {
        let listening = self.listeners.announce(&change, None);
        self.tell_listens_elsewhere(change.clone(), None).await;
        let sessions = match &change {
            Change::ResourceUpdated(uri) => self.notify_resource_updated(uri).await,
            list => {
                let payload = jsonrpc::notification_message(list.method(), &serde_json::Value::Object(list.params()));
                let mut told = 0;
                for (step, id) in self.sessions.live_sessions().into_iter().enumerate() {
                    if step % crate::coop::TURN as usize == crate::coop::TURN as usize - 1 {
                        crate::coop::yield_now().await;
                    }
                    if self.sessions.publish(id, StreamId::STANDALONE, payload.clone()).await.is_ok() {
                        told += 1;
                    }
                }
                told
            }
        };
        listening + sessions
    }

    /// Ends every `subscriptions/listen` stream with its graceful result (a server shutting
    /// down calls this before it drains).
    pub fn close_listens(&self, server_info: &serde_json::Value) {
        self.listeners.close_all(server_info);
    }

    /// The live layer's counters. For everything an operator scrapes (these, the gauges of
    /// [`EngineState::occupancy`], refusals by status and reason, request latency) in the
    /// Prometheus text format, see `EngineState::render_prometheus` (feature `prometheus`).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.sessions.metrics()
    }

    /// What the engine holds right now. Costs O(sessions with something in flight): for gauges
    /// scraped now and then, and for leak checks in tests.
    pub fn occupancy(&self) -> Occupancy {
        let (calls, awaiting_clients) = self.clients.len();
        let (watched_uris, watches) = self.watchers.len();
        let listens = self.listeners.len();
        Occupancy { sessions: self.sessions.census(), calls, awaiting_clients, watched_uris, watches, listens }
    }

    /// Whether anything of session `id` is left in this process: live streams or subscribers,
    /// requests in flight, resource watches. False for every session that ended.
    pub fn holds_anything_of(&self, id: SessionId) -> bool {
        self.sessions.is_live(id) || self.clients.knows(id) || self.watchers.knows(id)
    }

    /// Sends `notifications/resources/updated` to every session subscribed to `uri`, on its
    /// standalone stream. Returns how many sessions were told. (See [`EngineState::announce`]
    /// to reach listen streams too.)
    pub async fn notify_resource_updated(&self, uri: &str) -> usize {
        let subscribers = self.watchers.watchers(uri);
        let payload = jsonrpc::notification_message("notifications/resources/updated", &json!({ "uri": uri }));
        let mut told = 0;
        for (step, id) in subscribers.into_iter().enumerate() {
            if step % crate::coop::TURN as usize == crate::coop::TURN as usize - 1 {
                crate::coop::yield_now().await;
            }
            match self.sessions.publish(id, StreamId::STANDALONE, payload.clone()).await {
                Ok(_) => told += 1,
                Err(_) => self.forget(id),
            }
        }
        told
    }

    /// Announces an application change to the sessions of its tenant (see [`Bridge`]), except
    /// `except`, honouring each session's log level; and to the tenant's listen streams that
    /// watch the resource URI of the change's topic ([`EngineConfig::bridge_uris`]), as
    /// `notifications/resources/updated`.
    pub async fn publish_change(&self, event: &ChangeEvent, except: Option<SessionId>) -> usize {
        let listening = self.listen_change(event).await;
        listening + self.bridge.forward(&self.sessions, event, except, wants_info).await
    }

    /// Announces an application change to its tenant's listen streams, here and (over the bus)
    /// on the other replicas; returns how many here heard it.
    async fn listen_change(&self, event: &ChangeEvent) -> usize {
        let Some(change) = self.bridge_change(event) else { return 0 };
        let tenant = crate::session::TenantId::new(event.tenant_id.as_str());
        let heard = self.listeners.announce(&change, Some(&tenant));
        self.tell_listens_elsewhere(change, Some(tenant)).await;
        heard
    }

    /// What a change event means to listen streams: an update of the URI its topic maps to.
    fn bridge_change(&self, event: &ChangeEvent) -> Option<Change> {
        let topic = Bridge::topic(&event.kind);
        let uri = self.config.bridge_uris.iter().find(|(t, _)| t == topic).map(|(_, uri)| uri.clone());
        uri.map(Change::ResourceUpdated)
    }

    /// Tells the other replicas' listen streams of a change (they hold their own).
    async fn tell_listens_elsewhere(&self, change: Change, tenant: Option<crate::session::TenantId>) {
        if self.bus.send(Control::Announce { change, tenant }).await.is_err() {
            tracing::warn!(target: "mcp_session::bus", "bus unavailable: other replicas' listen streams not told of a change");
        }
    }

    /// Forwards every event of `source` to the sessions and listen streams of its tenant until
    /// the source closes: the listen streams of every replica, as [`EngineState::publish_change`]
    /// does, so one replica runs the bridge for the whole service.
    pub async fn run_bridge(&self, source: async_broadcast::Receiver<ChangeEvent>) {
        self.bridge.run_with(&self.sessions, source, async |event| self.listen_change(event).await, wants_info).await
    }

    /// Ends a session as a DELETE does: its streams close, its running calls are cancelled, its
    /// requests to the client fail, its resource watches go. Returns whether it existed. (An
    /// engine's sessions end through here, not through [`Sessions::remove`] alone, which knows
    /// nothing of calls and watches.) When the store is unavailable nothing ends: the session
    /// may live on, and the client is told to try again.
    pub async fn end_session(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        let existed = self.sessions.remove(id).await?;
        self.forget(id);
        if existed {
            self.tell_ended(id).await;
        }
        Ok(existed)
    }

    /// Drops what the engine keeps about a session that ended.
    pub(crate) fn forget(&self, id: SessionId) {
        self.clients.end_session(id);
        self.watchers.forget(id);
    }

    /// Makes sure a session's persisted resource subscriptions are in the index (after a
    /// restart that kept the session but not this process's memory).
    /// Returns the URIs it had to add.
    pub(crate) fn reindex(&self, id: SessionId, state: &McpSession) -> Vec<Arc<str>> {
        // The persisted list was admitted under the limit when it was made.
        state
            .subscriptions
            .iter()
            .filter(|uri| self.watchers.watch(id, (*uri).clone(), usize::MAX) == Ok(true))
            .cloned()
            .collect()
    }

    /// Takes back watches [`EngineState::reindex`] added.
    pub(crate) fn unindex(&self, id: SessionId, added: &[Arc<str>]) {
        for uri in added {
            self.watchers.unwatch(id, uri);
        }
    }
}

/// Whether a session receives the bridge's `info` messages under its `logging/setLevel`.
fn wants_info(state: &McpSession) -> bool {
    crate::model::LogLevel::Info.passes(state.log_level)
}

impl<S: Store<McpSession>> Outlet for EngineState<S> {
    fn announce(&self, change: Change) -> LocalBoxFuture<'_, usize> {
        EngineState::announce(self, change).boxed_local()
    }

    fn open_stream<'a>(
        &'a self,
        session: SessionId,
        prime: bool,
        requests: &'a [jsonrpc::Id],
    ) -> LocalBoxFuture<'a, Result<Subscription, StreamError>> {
        self.sessions.open_stream_answering(session, prime, requests).boxed_local()
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
        change: Box<dyn FnMut(&mut McpSession)>,
    ) -> LocalBoxFuture<'_, Result<(), LookupError>> {
        self.sessions.update(session, change).boxed_local()
    }

    fn subscribe_resource(
        &self,
        session: SessionId,
        uri: Arc<str>,
    ) -> LocalBoxFuture<'_, Result<(), ResourceSubscribeError>> {
        async move {
            // Index first, then record: a session that ends in between fails the record, and its
            // entry is taken out again; one that ends after is forgotten with its entry in it.
            let limit = self.config.max_resource_subscriptions;
            let added = self
                .watchers
                .watch(session, uri.clone(), limit)
                .map_err(|e| ResourceSubscribeError::TooMany { limit: e.limit })?;
            let recorded = uri.clone();
            let outcome = self
                .sessions
                .update(session, move |state| {
                    if !state.is_subscribed(&recorded) {
                        state.subscriptions = state.subscriptions.iter().cloned().chain([recorded.clone()]).collect();
                    }
                })
                .await;
            if let Err(error) = outcome {
                if added {
                    self.watchers.unwatch(session, &uri);
                }
                return Err(error.into());
            }
            Ok(())
        }
        .boxed_local()
    }

    fn unsubscribe_resource(
        &self,
        session: SessionId,
        uri: Arc<str>,
    ) -> LocalBoxFuture<'_, Result<(), ResourceSubscribeError>> {
        async move {
            let removed = uri.clone();
            self.sessions
                .update(session, move |state| {
                    state.subscriptions =
                        state.subscriptions.iter().filter(|s| s[..] != removed[..]).cloned().collect();
                })
                .await?;
            self.watchers.unwatch(session, &uri);
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
        self.sessions.store().log_limits().events
    }
}
