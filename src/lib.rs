//! The server side of the Model Context Protocol over Streamable HTTP, as a sans-IO engine.
//!
//! (Crate documentation is completed in the top-level module docs below.)
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod bridge;
pub mod clock;
mod metrics;
pub mod session;
mod sessions;
pub mod stream;

pub use bridge::{Bridge, ChangeEvent};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use metrics::MetricsSnapshot;
pub use session::{Owner, Principal, SessionId, SessionIdGenerator, SessionRecord, Store, TenantId};
pub use sessions::{PublishError, Resume, Sessions, SessionsBuilder, SessionsConfig, SubscribeError, SubscribeOptions};
pub use stream::{Event, EventId, StreamId, StreamItem, Subscription};
