//! Streams: event ids, the per-stream replay log, live fan-out, and subscriptions.

mod event;
pub(crate) mod hub;
mod id;
mod log;
mod subscription;

pub use event::{Event, StreamItem};
pub use id::{EventId, MalformedEventId, StreamId};
pub use log::{
    event_cost, AheadOfStream, LogLimits, Pushed, Recovery, Replay, ReplayLog, RestoreError, EVENT_OVERHEAD_BYTES,
};
pub use subscription::Subscription;
