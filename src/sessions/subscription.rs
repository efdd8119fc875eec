//! A subscriber's view of one stream: priming, replay, then live events.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::hub::{Attachment, Hub};
use crate::session::SessionId;
use crate::stream::{EventId, Replay, StreamId, StreamItem};

/// The items of one stream for one subscriber, as a [`Stream`].
///
/// In order: an [`StreamItem::Init`] if asked for, a [`StreamItem::Lagged`] if the resume
/// position is older than the oldest retained event, the replayed events, then live events as they
/// are published, with heartbeats while idle. Nothing is yielded twice and nothing is skipped
/// without a `Lagged` saying how much. The stream ends when the stream is finished and everything
/// in it was yielded, when the server disconnects it or its session ends, or when another
/// subscriber takes the stream over.
///
/// Dropping a subscription detaches it; events published afterwards still land in the replay log.
pub struct Subscription {
    hub: Arc<Hub>,
    session: SessionId,
    stream: StreamId,
    live: Option<Attachment>,
    pending: VecDeque<StreamItem>,
    /// Sequence number of the last message yielded, or the resume position.
    position: u64,
    done: bool,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("session", &self.session)
            .field("stream", &self.stream)
            .field("position", &self.position)
            .field("live", &self.live.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        hub: Arc<Hub>,
        session: SessionId,
        stream: StreamId,
        live: Option<Attachment>,
        after: u64,
        replay: Replay,
        init: bool,
    ) -> Self {
        let mut pending = VecDeque::with_capacity(replay.events.len() + 2);
        if init {
            pending.push_back(StreamItem::Init(EventId::marker(stream, after, hub.next_tick())));
        }
        if replay.lost > 0 {
            hub.counters.report_lost(session, stream, replay.lost);
            pending.push_back(StreamItem::Lagged { dropped: replay.lost });
        }
        if !replay.events.is_empty() {
            hub.counters.replay_served(replay.events.len() as u64);
        }
        pending.extend(replay.events.into_iter().map(StreamItem::Event));
        // A finished stream has nothing live to wait for; neither has one that is no longer live.
        let live = if replay.finished { None } else { live };
        // What the replay reports lost is accounted for: a live event right after it is no gap.
        let position = after + replay.lost;
        Self { hub, session, stream, live, pending, position, done: false }
    }

    /// The session this subscription belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The stream this subscription reads.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// Sequence number of the last message yielded or reported lost (the resume position if
    /// neither yet).
    pub fn position(&self) -> u64 {
        self.position
    }

    fn end(&mut self) {
        self.done = true;
        self.leave();
    }

    /// Leaves the live stream (dropping the attachment detaches it).
    fn leave(&mut self) {
        self.live = None;
    }

    fn yield_event(&mut self, item: StreamItem) -> Poll<Option<StreamItem>> {
        if let StreamItem::Event(event) = &item {
            self.position = event.id().seq();
            if let Some(live) = &self.live {
                live.stream.note_delivered(self.position);
            }
        }
        Poll::Ready(Some(item))
    }
}

impl Stream for Subscription {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        // What was queued at connect (priming, replay) goes out even if the server disconnects
        // right away: a client told to reconnect needs the priming id to resume from.
        if let Some(item) = this.pending.pop_front() {
            return this.yield_event(item);
        }
        let Some(live) = &this.live else {
            this.end();
            return Poll::Ready(None);
        };
        live.me.register(cx.waker());
        if live.me.is_kicked() {
            this.end();
            return Poll::Ready(None);
        }
        loop {
            // Read the finish mark before the window: an event handed over before the finish is
            // then seen by the `take` that follows.
            let finished = live.me.is_finished();
            let (event, newest) = live.me.take();
            match event {
                Some(event) => {
                    let seq = event.id().seq();
                    if seq <= this.position {
                        // Already yielded from the replay snapshot (or counted lost by it).
                        live.stream.note_skipped();
                        continue;
                    }
                    // Sequence numbers are dense: a gap is exactly what this subscriber lost.
                    let dropped = seq - this.position - 1;
                    if dropped > 0 {
                        this.hub.counters.subscriber_lagged(this.session, this.stream, dropped);
                        this.position = seq - 1;
                        this.pending.push_back(StreamItem::Event(event));
                        return Poll::Ready(Some(StreamItem::Lagged { dropped }));
                    }
                    return this.yield_event(StreamItem::Event(event));
                }
                None if finished => {
                    // Events dropped from the end of the window have no later event to reveal
                    // the gap: the newest handed over says how many.
                    let dropped = newest.saturating_sub(this.position);
                    this.end();
                    if dropped > 0 {
                        this.hub.counters.subscriber_lagged(this.session, this.stream, dropped);
                        this.position = newest;
                        return Poll::Ready(Some(StreamItem::Lagged { dropped }));
                    }
                    return Poll::Ready(None);
                }
                None => break,
            }
        }
        if live.me.take_heartbeat() {
            let id = EventId::marker(this.stream, this.position, this.hub.next_tick());
            return Poll::Ready(Some(StreamItem::Heartbeat(id)));
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}
