//! The server side of the Model Context Protocol over Streamable HTTP, as a sans-IO engine.
//!
//! (Crate documentation is completed in the top-level module docs below.)
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod bridge;
mod clients;
pub mod clock;
#[cfg(any(feature = "tokio", feature = "async-std"))]
pub mod host;
pub mod http;
pub mod jsonrpc;
mod metrics;
pub mod model;
pub mod server;
pub mod session;
mod sessions;
mod spawn;
pub mod stream;

pub use bridge::{Bridge, ChangeEvent};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use http::{Body, Engine, EngineConfig, EngineState};
pub use metrics::MetricsSnapshot;
pub use server::{McpSession, RequestContext, Server};
pub use session::{Owner, Principal, SessionId, SessionIdGenerator, SessionRecord, Store, TenantId};
pub use sessions::{PublishError, Resume, Sessions, SessionsBuilder, SessionsConfig, SubscribeError, SubscribeOptions};
pub use spawn::{Spawn, SpawnFn};
pub use stream::{Event, EventId, StreamId, StreamItem, Subscription};
