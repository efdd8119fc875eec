//! What a request context needs from the engine, with the engine's store type erased so that
//! handlers never see it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

use super::state::McpSession;
use crate::bridge::ChangeEvent;
use crate::clients::ClientRequests;
use crate::session::{LookupError, SessionId, StreamError};
use crate::sessions::{PublishError, Subscription};
use crate::stream::StreamId;

pub(crate) trait Outlet {
    fn announce(&self, change: crate::listen::Change) -> LocalBoxFuture<'_, usize>;
    fn open_stream<'a>(
        &'a self,
        session: SessionId,
        prime: bool,
        requests: &'a [crate::jsonrpc::Id],
    ) -> LocalBoxFuture<'a, Result<Subscription, StreamError>>;
    fn send(
        &self,
        session: SessionId,
        stream: StreamId,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), PublishError>>;
    fn publish(
        &self,
        session: SessionId,
        stream: StreamId,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), PublishError>>;
    fn finish(&self, session: SessionId, stream: StreamId) -> LocalBoxFuture<'_, ()>;
    fn disconnect(&self, session: SessionId, stream: StreamId) -> bool;
    fn update(
        &self,
        session: SessionId,
        change: Box<dyn FnMut(&mut McpSession)>,
    ) -> LocalBoxFuture<'_, Result<(), LookupError>>;
    fn subscribe_resource(
        &self,
        session: SessionId,
        uri: Arc<str>,
    ) -> LocalBoxFuture<'_, Result<(), ResourceSubscribeError>>;
    fn unsubscribe_resource(
        &self,
        session: SessionId,
        uri: Arc<str>,
    ) -> LocalBoxFuture<'_, Result<(), ResourceSubscribeError>>;
    fn forward_change(&self, event: ChangeEvent, except: Option<SessionId>) -> LocalBoxFuture<'_, usize>;
    fn notify_resource_updated(&self, uri: String) -> LocalBoxFuture<'_, usize>;
    fn clients(&self) -> &ClientRequests;
    /// Window of a stateless request's local channel (the replay capacity of stateful streams).
    fn window(&self) -> usize;
}

/// Why a resource subscription could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResourceSubscribeError {
    /// The session subscribed to as many resources as it may.
    #[error("this session already subscribed to {limit} resources")]
    TooMany { limit: usize },
    /// The session ended.
    #[error(transparent)]
    Session(#[from] LookupError),
}
