//! What crosses between replicas that share one store: control messages out, and the two inputs
//! a replica's host feeds back in (a doorbell, a control message).
//!
//! A store shared by several processes holds what is persisted (records, replay logs); what is
//! live stays in the process that has it: the subscriber attached to a stream, the handler
//! waiting for the client's answer, the cancellation of a running call. When a request lands on
//! a replica other than the one holding that live part, the engine tells the others through a
//! [`Bus`]:
//!
//! - the client's answer to a request no handler here waits for ([`Control::Answer`]),
//! - `notifications/cancelled` for a call that does not run here ([`Control::Cancel`]),
//! - a session that ended here (DELETE, expiry), whose streams and calls elsewhere must end
//!   ([`Control::Ended`]),
//! - a change announced here, for the `subscriptions/listen` streams held elsewhere
//!   ([`Control::Announce`]),
//! - a stream the client reconnected to here, whose connection elsewhere it left behind
//!   ([`Control::Attached`]).
//!
//! Live events need no message: the store's log is the truth, and a store that several
//! processes append to rings a *doorbell* per append (the Redis store publishes one), on which
//! the host calls [`EngineState::handle_doorbell`](crate::EngineState::handle_doorbell): the
//! engine reads the log after what its subscriber already has, so an event reaches it once,
//! in order, or is counted lost exactly. A bell only ever says "read the log"; a bell lost
//! (a dropped connection) is repaired by [`EngineState::resync`](crate::EngineState::resync),
//! which reads every attached stream's log again.
//!
//! The default bus, [`NoBus`], sends nothing: one process (or one Durable Object per session)
//! already holds everything of a session.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jsonrpc::{ErrorObject, Id};
use crate::listen::Change;
use crate::session::{SessionId, StoreUnavailable, TenantId};
use crate::stream::StreamId;

/// A message from one replica to every other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Control {
    /// The client answered request `id`, which no handler of the receiving replica waited for.
    Answer {
        /// The session the request belongs to.
        session: SessionId,
        /// The id the server gave its request.
        id: Id,
        /// The answer: a result or an error.
        outcome: Result<Value, ErrorObject>,
    },
    /// The client cancelled its request `id`, which does not run on the receiving replica.
    Cancel {
        /// The session of the request.
        session: SessionId,
        /// The client's request id.
        id: Id,
    },
    /// The session ended (deleted or expired): wherever its streams are attached and its calls
    /// run, they end now.
    Ended {
        /// The session that ended.
        session: SessionId,
    },
    /// A change was announced: `subscriptions/listen` streams held by the receiving replica
    /// that asked for it hear of it (of `tenant` only, when one is named). Sessions hear of it
    /// through their logs in the store, which every replica reads.
    Announce {
        /// What changed.
        change: Change,
        /// Whose listen streams it is for; `None` for every tenant's.
        tenant: Option<TenantId>,
    },
    /// The client connected to `stream` on the sending replica (a GET, or a resume with
    /// `Last-Event-ID`): a replica holding an earlier connection to it ends that one, as a
    /// resume within one replica replaces the connection the client lost. The stream itself
    /// goes on; only its connection ends. So a message goes out on one connection only, and
    /// a connection the client abandoned holds the session no longer.
    Attached {
        /// The session of the stream.
        session: SessionId,
        /// The stream the client connected to.
        stream: StreamId,
    },
}

/// A boxed future of a bus, which need not be `Send` (wasm buses hold JS values).
pub type BusFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreUnavailable>> + 'a>>;

/// Carries [`Control`] messages to the other replicas of a service.
///
/// `send` completes once the message is delivered or durably queued for every replica (the
/// Redis bus appends it to a stream they all read): the engine answers the client only then,
/// so an answer the client was told is accepted is not lost. A bus that cannot deliver answers
/// [`StoreUnavailable`], and the engine answers 503 with `Retry-After`.
pub trait Bus: Send + Sync + 'static {
    /// Sends `message` to every other replica.
    fn send(&self, message: Control) -> BusFuture<'_>;

    /// A name of this replica, unique among those sharing the store; it prefixes the ids of the
    /// server's requests to clients, so that an answer reaching another replica names the
    /// request of exactly one. `None` when there are no other replicas.
    fn node(&self) -> Option<&str> {
        None
    }
}

/// The bus of a process that holds all of its sessions: it sends nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBus;

impl Bus for NoBus {
    fn send(&self, _: Control) -> BusFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer { session, id, .. } => write!(f, "answer to {id} in {session}"),
            Self::Cancel { session, id } => write!(f, "cancel {id} in {session}"),
            Self::Ended { session } => write!(f, "{session} ended"),
            Self::Announce { change, .. } => write!(f, "announce {}", change.method()),
            Self::Attached { session, stream } => write!(f, "stream {stream} of {session} attached"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::ErrorCode;
    use crate::SessionIdGenerator;

    #[test]
    fn a_control_message_survives_its_wire_form() {
        let session = SessionIdGenerator::seeded(3).next_id();
        let messages = [
            Control::Answer {
                session,
                id: Id::String("n1.7".into()),
                outcome: Ok(serde_json::json!({"action": "accept"})),
            },
            Control::Answer {
                session,
                id: Id::Number(4),
                outcome: Err(ErrorObject::new(ErrorCode::INVALID_PARAMS, "declined")),
            },
            Control::Cancel { session, id: Id::Number(0) },
            Control::Ended { session },
            Control::Announce { change: Change::ResourceUpdated("file:///a".into()), tenant: Some(TenantId::new("t")) },
            Control::Announce { change: Change::ToolsListChanged, tenant: None },
            Control::Attached { session, stream: StreamId::STANDALONE },
            Control::Attached { session, stream: StreamId::new(7) },
        ];
        for message in messages {
            let wire = serde_json::to_string(&message).unwrap();
            assert_eq!(serde_json::from_str::<Control>(&wire).unwrap(), message, "{wire}");
        }
    }
}
