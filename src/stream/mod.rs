//! Streams: event ids, the per-stream replay log, live fan-out, and subscriptions.

mod event;
pub(crate) mod hub;
mod id;
mod log;
mod subscription;

pub use event::{Event, StreamItem};
pub use id::{EventId, MalformedEventId, StreamId};
pub use log::{AheadOfStream, Replay, ReplayLog, RestoreError};
pub use subscription::Subscription;
