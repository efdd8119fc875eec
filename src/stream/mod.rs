//! Streams as data: event ids, events and the per-stream replay log. Live delivery (the hub and
//! subscriptions) belongs to the sessions layer, which reads these.

mod event;
mod id;
mod log;

pub use event::{Event, StreamItem};
pub use id::{EventId, MalformedEventId, StreamId};
pub use log::{
    event_cost, AheadOfStream, LogLimits, Pushed, Recovery, Replay, ReplayLog, RestoreError, EVENT_OVERHEAD_BYTES,
};
