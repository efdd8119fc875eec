//! Live fan-out: the subscriber currently attached to each stream, what keeps each session
//! busy, and the keep-alive schedule.
//!
//! The replay log (in the store) is the record of what was published; the hub only carries
//! events to whoever is connected right now. A stream has at most one subscriber at a time (a
//! client resuming a stream replaces the connection it lost), and each subscriber has its own
//! bounded window of events handed to it and not yet taken, with the replay log's limits: a
//! subscriber that falls behind loses the oldest of them and, because sequence numbers are
//! dense, learns exactly how many. A replaced subscriber's window is no longer fed, so it can
//! never hold a sender back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use event_listener::{Event as Notify, EventListener};
use futures_util::task::AtomicWaker;
use hashbrown::HashMap;

use crate::clock::{MonotonicNow, Timestamp};
use crate::metrics::Counters;
use crate::session::SessionId;
use crate::stream::{event_cost, Event, LogLimits, Replay, StreamId};

pub(crate) struct Hub {
    live: Mutex<Live>,
    clock: MonotonicNow,
    limits: LogLimits,
    keep_alive: Option<Duration>,
    /// Whether attached streams and running calls hold their session (see
    /// [`crate::SessionsConfig::activity_holds`]).
    holds: bool,
    pub(crate) counters: Counters,
    /// Markers (priming, heartbeats) take ticks from here: strictly increasing and at least the
    /// current time in milliseconds, so ids stay unique even across a restart.
    tick: AtomicU64,
    /// The earliest deadline a host has been told about; an earlier new one wakes it.
    armed: AtomicU64,
    deadline_changed: Notify,
    /// Sessions removed so far: a stream opened while one was removed checks its session again.
    removals: AtomicU64,
    /// Whether transitions wait to be told (read without the lock on every lookup).
    untold: AtomicBool,
}

#[derive(Default)]
struct Live {
    sessions: HashMap<SessionId, SessionLive>,
    heartbeats: BTreeMap<(Timestamp, u64), Arc<Subscriber>>,
    next_serial: u64,
    /// Sessions whose activity went from none to some or back, for the store, in order.
    transitions: Vec<Transition>,
}

/// Transitions are told to the store this soon at the latest (by a host's `handle_timeout`), and
/// sooner by any lookup. Batching them keeps a busy server from waking its timer per call; the
/// store still learns the exact instant of each, so no expiry decision is affected, and a
/// released session is expired on time unless its idle timeout is shorter than this.
pub(crate) const TELL_WITHIN: Duration = Duration::from_secs(1);

#[derive(Default)]
struct SessionLive {
    streams: Vec<LiveStream>,
    /// Attached subscribers plus running calls.
    activity: u32,
}

impl SessionLive {
    fn is_unused(&self) -> bool {
        self.streams.is_empty() && self.activity == 0
    }
}

struct LiveStream {
    id: StreamId,
    shared: Arc<StreamShared>,
    current: Option<Arc<Subscriber>>,
    /// A request stream another process opened and produces (the store is shared): it is live
    /// here only while a subscriber reads it, fed from the log on every doorbell.
    remote: bool,
}

impl LiveStream {
    fn new(id: StreamId) -> Self {
        Self { id, shared: Arc::default(), current: None, remote: false }
    }
}

impl Live {
    fn stream(&mut self, session: SessionId, stream: StreamId) -> Option<&mut LiveStream> {
        self.sessions.get_mut(&session)?.streams.iter_mut().find(|s| s.id == stream)
    }

    /// One more thing keeps `session` busy. The host is not woken for it: a hold only makes a
    /// session live longer, and every expiry decision tells the store of queued holds first.
    fn busy(&mut self, session: SessionId, now: Timestamp, holds: bool) {
        let entry = self.sessions.entry(session).or_default();
        entry.activity += 1;
        if entry.activity == 1 && holds {
            self.queue(Transition { session, held: true, at: now, sent: false });
        }
    }

    /// One thing less keeps `session` busy; forgets the session once nothing is left of it.
    /// Returns whether a release was queued first in line: the host must then wake to tell it,
    /// or the session would idle out only at its absolute deadline.
    fn idle(&mut self, session: SessionId, now: Timestamp, holds: bool) -> bool {
        let Some(entry) = self.sessions.get_mut(&session) else { return false };
        entry.activity = entry.activity.saturating_sub(1);
        let released = entry.activity == 0;
        if entry.is_unused() {
            self.sessions.remove(&session);
        }
        if !released || !holds {
            return false;
        }
        // The store has not heard of the hold yet: it need not hear of it at all. A hold that
        // ended in the instant it began (a quick call) changes nothing; a longer one is a touch
        // at its end, which is what the release alone tells. A hold whose telling began may
        // have been written by a store that never answered: only a release undoes it.
        let untold = self.transitions.iter().rposition(|t| t.session == session);
        if let Some(index) = untold {
            let hold = self.transitions[index];
            if hold.held && !hold.sent {
                self.transitions.remove(index);
                if hold.at == now {
                    return false;
                }
            }
        }
        self.queue(Transition { session, held: false, at: now, sent: false })
    }

    /// Queues a transition; returns whether it is the first release in the queue (the one the
    /// host's next deadline now depends on).
    fn queue(&mut self, transition: Transition) -> bool {
        let first_release = !transition.held && self.transitions.iter().all(|t| t.held);
        self.transitions.push(transition);
        first_release
    }
}

/// A session started or stopped being held by something in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) session: SessionId,
    pub(crate) held: bool,
    pub(crate) at: Timestamp,
    /// Its telling began and did not finish (the store refused, or the request telling it went
    /// away): the store may have heard it all the same.
    pub(crate) sent: bool,
}

/// State of a live stream shared by its successive subscribers.
#[derive(Debug, Default)]
pub(crate) struct StreamShared {
    /// Woken when the current subscriber takes an event, and whenever a subscriber leaves or is
    /// replaced (senders waiting for room).
    room: Notify,
    /// Highest message sequence number handed to any subscriber of this stream.
    delivered: AtomicU64,
}

impl StreamShared {
    pub(crate) fn note_delivered(&self, seq: u64) {
        self.delivered.fetch_max(seq, Ordering::Relaxed);
        self.room.notify(1);
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// An event left the window without being yielded (already yielded, or counted lost):
    /// its room is free all the same.
    pub(crate) fn note_skipped(&self) {
        self.room.notify(1);
    }
}

/// One attached subscriber, as the hub sees it.
#[derive(Debug)]
pub(crate) struct Subscriber {
    serial: u64,
    limits: LogLimits,
    /// Set when the subscriber must end: replaced, disconnected by the server, session removed.
    kicked: AtomicBool,
    /// Set when its stream finished: once the window is empty, nothing more comes.
    finished: AtomicBool,
    heartbeat_due: AtomicBool,
    waker: AtomicWaker,
    /// Next heartbeat, in the hub's schedule; `u64::MAX` when not scheduled.
    next_heartbeat: AtomicU64,
    window: Mutex<Window>,
}

/// Events handed to a subscriber and not yet taken, within the log's limits.
#[derive(Debug, Default)]
struct Window {
    events: VecDeque<Event>,
    bytes: usize,
    /// Sequence number of the newest event ever handed over (taken or dropped), or, if higher,
    /// the newest the subscriber had from the replay log when it connected: the next event in
    /// order is the one after it.
    newest: u64,
}

/// What became of an event offered to a stream's subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Handed over, or nobody to hand it to, or the subscriber had it already.
    Done,
    /// Not handed over: events between the subscriber's newest and this one have not reached it
    /// (another thread or process appended them and has not delivered them yet). Read the log
    /// after [`Hub::fed`] and [`Hub::feed`] what it holds, so the subscriber sees them in order.
    Gap,
}

impl Subscriber {
    pub(crate) fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub(crate) fn take_heartbeat(&self) -> bool {
        self.heartbeat_due.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    fn window(&self) -> MutexGuard<'_, Window> {
        // Single queue operations: a panic cannot leave the window half updated.
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The oldest event not yet taken, and the sequence number of the newest ever handed over.
    pub(crate) fn take(&self) -> (Option<Event>, u64) {
        let mut window = self.window();
        let event = window.events.pop_front();
        if let Some(event) = &event {
            window.bytes -= event_cost(event.payload().len());
            if window.events.is_empty() && window.events.capacity() > 32 {
                // A subscriber that caught up after lagging gives its burst allocation back.
                window.events = VecDeque::new();
            }
        }
        (event, window.newest)
    }

    /// Hands over `event` if it is the next in order; see [`Delivery`].
    fn offer(&self, event: &Event) -> Delivery {
        let window = self.window();
        let seq = event.id().seq();
        if seq <= window.newest {
            return Delivery::Done;
        }
        if seq > window.newest + 1 {
            return Delivery::Gap;
        }
        drop(window);
        self.push(event.clone());
        Delivery::Done
    }

    /// The subscriber has every event up to `seq` (from the replay log): the next in order is
    /// the one after it.
    pub(crate) fn raise_floor(&self, seq: u64) {
        let mut window = self.window();
        window.newest = window.newest.max(seq);
    }

    fn newest(&self) -> u64 {
        self.window().newest
    }

    fn push(&self, event: Event) {
        let mut window = self.window();
        window.newest = window.newest.max(event.id().seq());
        window.bytes += event_cost(event.payload().len());
        window.events.push_back(event);
        while window.events.len() > self.limits.events || window.bytes > self.limits.bytes {
            let Some(dropped) = window.events.pop_front() else { break };
            window.bytes -= event_cost(dropped.payload().len());
        }
        drop(window);
        self.waker.wake();
    }

    /// Whether handing over an event of `cost` bytes would push an older one out. An event
    /// larger than the whole window still goes into an empty one (and out at once, counted lost):
    /// waiting would never make room for it.
    fn would_overflow(&self, cost: usize) -> bool {
        let window = self.window();
        !window.events.is_empty()
            && (window.events.len() + 1 > self.limits.events || window.bytes + cost > self.limits.bytes)
    }

    fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A subscriber's attachment to a live stream. Dropping it detaches the subscriber (exactly
/// once, however the owner goes: a subscription ending, or a subscribe future dropped halfway).
pub(crate) struct Attachment {
    hub: Arc<Hub>,
    session: SessionId,
    stream_id: StreamId,
    pub(crate) stream: Arc<StreamShared>,
    pub(crate) me: Arc<Subscriber>,
    /// The attach made the stream live (nothing was attached to it before in this process).
    created: bool,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.hub.detach(self.session, self.stream_id, &self.me);
    }
}

/// An attachment the store has not vouched for yet: the log is being read, or the session's
/// survival checked. Dropped before [`Unconfirmed::confirm`] (the request that made it went
/// away while the store answered) it is abandoned ([`Hub::abandon`]): a stream it made live is
/// not left live for good in a session that may have ended meanwhile, when no removal would
/// ever come again to take it.
pub(crate) struct Unconfirmed(Option<Attachment>);

impl Unconfirmed {
    pub(crate) fn new(attachment: Attachment) -> Self {
        Self(Some(attachment))
    }

    /// The store vouched for the stream: it stays live as long as the attachment lives.
    pub(crate) fn confirm(mut self) -> Attachment {
        self.0.take().expect("an attachment is confirmed once")
    }

    /// The attachment, until it is confirmed.
    pub(crate) fn get(&self) -> &Attachment {
        self.0.as_ref().expect("an attachment is confirmed once")
    }
}

impl Drop for Unconfirmed {
    fn drop(&mut self) {
        if let Some(attachment) = self.0.take() {
            let hub = attachment.hub.clone();
            hub.abandon(attachment);
        }
    }
}

/// A stream already has a subscriber and the caller asked not to replace it.
#[derive(Debug)]
pub(crate) struct Busy;

/// Keeps a session busy while it lives (a call running); see [`Hub::hold`].
pub(crate) struct Hold {
    hub: Arc<Hub>,
    session: SessionId,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let now = self.hub.now();
        let first = {
            let mut live = self.hub.lock();
            let first = live.idle(self.session, now, self.hub.holds);
            self.hub.note_untold(&live);
            first
        };
        if first {
            self.hub.note_deadline(now.saturating_add(TELL_WITHIN));
        }
    }
}

/// How much the hub holds, for leak checks and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HubCensus {
    pub(crate) sessions: usize,
    pub(crate) streams: usize,
    pub(crate) subscribers: usize,
    pub(crate) activity: u64,
    pub(crate) heartbeats: usize,
}

impl Hub {
    pub(crate) fn new(clock: MonotonicNow, limits: LogLimits, keep_alive: Option<Duration>, holds: bool) -> Self {
        Self {
            live: Mutex::new(Live::default()),
            clock,
            limits,
            keep_alive,
            holds,
            counters: Counters::default(),
            tick: AtomicU64::new(0),
            armed: AtomicU64::new(u64::MAX),
            deadline_changed: Notify::new(),
            removals: AtomicU64::new(0),
            untold: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // Every critical section completes its bookkeeping before anything that could panic.
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The clock without monotonic bookkeeping (see [`MonotonicNow::read`]).
    pub(crate) fn read_clock(&self) -> Timestamp {
        self.clock.read()
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn next_tick(&self) -> u64 {
        let now = self.now().as_millis().max(1);
        let previous = self
            .tick
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| Some(t.saturating_add(1).max(now)))
            .unwrap_or_else(|t| t);
        previous.saturating_add(1).max(now)
    }

    /// How many sessions were removed so far (see [`Hub::remove_session`]).
    pub(crate) fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Opens a live stream with a subscriber attached from the start, so that nothing
    /// published before the subscriber is first polled can be missed.
    pub(crate) fn open(self: &Arc<Self>, session: SessionId, stream: StreamId) -> Attachment {
        let mut live = self.lock();
        live.sessions.entry(session).or_default().streams.push(LiveStream::new(stream));
        let mut attachment = self.connect(&mut live, session, stream, false).expect("a new stream has no subscriber");
        attachment.created = true;
        attachment
    }

    /// Attaches a subscriber to a stream, making it live here if it is not: the standalone stream
    /// on first use; a request stream not opened here, if `shared` (the store is shared by
    /// processes), as one another process produces. Without `shared` such a request stream
    /// gives `Ok(None)`: it is finished, unknown, or its producer was a process gone since.
    /// An existing subscriber is replaced, or `Busy` is returned if `exclusive`.
    pub(crate) fn attach(
        self: &Arc<Self>,
        session: SessionId,
        stream: StreamId,
        exclusive: bool,
        shared: bool,
    ) -> Result<Option<Attachment>, Busy> {
        let mut live = self.lock();
        let known = live.stream(session, stream).is_some();
        if !known {
            if !stream.is_standalone() && !shared {
                return Ok(None);
            }
            // A request stream not live here may be finished, unknown, or produced by another
            // process: the caller's replay tells which, and gives it back ([`Hub::abandon`])
            // unless it is the last.
            let mut entry = LiveStream::new(stream);
            entry.remote = !stream.is_standalone();
            live.sessions.entry(session).or_default().streams.push(entry);
        }
        let mut attachment = self.connect(&mut live, session, stream, exclusive);
        if let Ok(attachment) = &mut attachment {
            attachment.created = !known;
        }
        attachment.map(Some)
    }

    /// Makes a new subscriber the stream's current one (the stream exists).
    fn connect(
        self: &Arc<Self>,
        live: &mut Live,
        session: SessionId,
        stream: StreamId,
        exclusive: bool,
    ) -> Result<Attachment, Busy> {
        let entry = live.stream(session, stream).expect("caller made sure the stream is live");
        if let Some(current) = &entry.current {
            if exclusive && !current.is_kicked() {
                return Err(Busy);
            }
            current.kick();
        }
        // Senders paced by the replaced subscriber judge again, by the new one.
        entry.shared.room.notify(usize::MAX);
        let shared = entry.shared.clone();
        live.next_serial += 1;
        let me = Arc::new(Subscriber {
            serial: live.next_serial,
            limits: self.limits,
            kicked: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            heartbeat_due: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            next_heartbeat: AtomicU64::new(u64::MAX),
            window: Mutex::new(Window::default()),
        });
        let now = self.now();
        if let Some(every) = self.keep_alive {
            let at = now.saturating_add(every);
            me.next_heartbeat.store(at.as_millis(), Ordering::Relaxed);
            live.heartbeats.insert((at, me.serial), me.clone());
            self.note_deadline(at);
        }
        live.stream(session, stream).expect("found above").current = Some(me.clone());
        live.busy(session, now, self.holds);
        self.note_untold(live);
        Ok(Attachment { hub: self.clone(), session, stream_id: stream, stream: shared, me, created: false })
    }

    /// Called once per subscriber, when its [`Attachment`] drops: stops its heartbeats, frees
    /// the stream's slot if it still holds it, and wakes every sender waiting for room
    /// (whichever subscriber left, the window they wait on may be gone).
    fn detach(&self, session: SessionId, stream: StreamId, me: &Arc<Subscriber>) {
        let now = self.now();
        let mut live = self.lock();
        let at = me.next_heartbeat.swap(u64::MAX, Ordering::Relaxed);
        if at != u64::MAX {
            live.heartbeats.remove(&(Timestamp::from_millis(at), me.serial));
        }
        let mut forget = false;
        if let Some(entry) = live.stream(session, stream) {
            if entry.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, me)) {
                entry.current = None;
                // Nothing here produces a remote stream: with its reader gone, it is not live.
                forget = entry.remote;
            }
            entry.shared.room.notify(usize::MAX);
        }
        if forget {
            if let Some(entry) = live.sessions.get_mut(&session) {
                entry.streams.retain(|s| s.id != stream);
            }
        }
        let first = live.idle(session, now, self.holds);
        self.note_untold(&live);
        if first {
            drop(live);
            self.note_deadline(now.saturating_add(TELL_WITHIN));
        }
    }

    /// Drops an attachment whose subscription could not be completed, and forgets the stream
    /// too if the attach made it live, so a refused subscribe leaves nothing.
    fn abandon(&self, attachment: Attachment) {
        let (session, stream, created) = (attachment.session, attachment.stream_id, attachment.created);
        drop(attachment);
        if !created {
            return;
        }
        let mut live = self.lock();
        if let Some(entry) = live.sessions.get_mut(&session) {
            entry.streams.retain(|s| s.id != stream || s.current.is_some());
            if entry.is_unused() {
                live.sessions.remove(&session);
            }
        }
    }

    /// Hands a freshly logged event to the stream's subscriber, if one is attached, in order
    /// (see [`Delivery`]).
    pub(crate) fn deliver(&self, session: SessionId, event: &Event) -> Delivery {
        let mut live = self.lock();
        let Some(entry) = live.stream(session, event.id().stream()) else { return Delivery::Done };
        match &entry.current {
            Some(current) => current.offer(event),
            None => Delivery::Done,
        }
    }

    /// The newest event the stream's current subscriber has, if one is attached here: a read of
    /// the log after it is what [`Hub::feed`] takes.
    pub(crate) fn fed(&self, session: SessionId, stream: StreamId) -> Option<u64> {
        let mut live = self.lock();
        let current = live.stream(session, stream)?.current.as_ref()?;
        (!current.is_kicked()).then(|| current.newest())
    }

    /// Hands the stream's current subscriber what a read of the log returned, skipping what it
    /// has (two reads may overlap); a gap before the first event is what the log no longer
    /// holds, which the subscriber reports as lost. A finished log ends the stream here.
    pub(crate) fn feed(&self, session: SessionId, stream: StreamId, after: u64, replay: Replay) {
        {
            let mut live = self.lock();
            let Some(entry) = live.stream(session, stream) else { return };
            let Some(current) = &entry.current else { return };
            if replay.events.is_empty() {
                // Everything after `after` was dropped: no later event reveals the gap, the
                // newest handed over does (see `Subscription`).
                current.raise_floor(after + replay.lost);
            }
            for event in replay.events {
                if event.id().seq() > current.newest() {
                    current.push(event);
                }
            }
        }
        if replay.finished {
            self.finish(session, stream);
        }
    }

    /// The request streams another process produces with a subscriber attached here.
    pub(crate) fn remote_streams(&self) -> Vec<(SessionId, StreamId)> {
        self.attached_where(|stream| stream.remote)
    }

    /// The streams with a subscriber attached here, to read their logs again after doorbells
    /// may have been lost.
    pub(crate) fn attached(&self) -> Vec<(SessionId, StreamId)> {
        self.attached_where(|_| true)
    }

    fn attached_where(&self, wanted: impl Fn(&LiveStream) -> bool) -> Vec<(SessionId, StreamId)> {
        let live = self.lock();
        let mut attached = Vec::new();
        for (&session, entry) in &live.sessions {
            let streams = entry.streams.iter().filter(|s| s.current.is_some() && wanted(s));
            attached.extend(streams.map(|s| (session, s.id)));
        }
        attached
    }

    /// If handing the stream's current subscriber an event of `cost` bytes would push out one it
    /// has not taken yet, a listener that fires when that may have changed; `None` if a send may
    /// go ahead now.
    pub(crate) fn room(&self, session: SessionId, stream: StreamId, cost: usize) -> Option<EventListener> {
        let mut live = self.lock();
        let entry = live.stream(session, stream)?;
        let full =
            |entry: &LiveStream| entry.current.as_ref().is_some_and(|c| !c.is_kicked() && c.would_overflow(cost));
        if !full(entry) {
            return None;
        }
        let listener = entry.shared.room.listen();
        // Taking an event notifies without the hub's lock: check again now that we listen.
        full(entry).then_some(listener)
    }

    /// Ends a request stream: its subscriber receives what its window holds, then the end.
    pub(crate) fn finish(&self, session: SessionId, stream: StreamId) {
        let mut live = self.lock();
        let Some(entry) = live.sessions.get_mut(&session) else { return };
        for ended in entry.streams.iter().filter(|s| s.id == stream) {
            ended.shared.room.notify(usize::MAX);
            if let Some(current) = &ended.current {
                current.finish();
            }
        }
        entry.streams.retain(|s| s.id != stream);
        if entry.is_unused() {
            live.sessions.remove(&session);
        }
    }

    /// Ends the current subscriber of a stream without ending the stream: the client is expected
    /// to come back with `Last-Event-ID`.
    pub(crate) fn disconnect(&self, session: SessionId, stream: StreamId) -> bool {
        let mut live = self.lock();
        match live.stream(session, stream).and_then(|s| s.current.as_ref()) {
            Some(subscriber) => {
                subscriber.kick();
                true
            }
            None => false,
        }
    }

    /// Drops everything live of a session and ends its subscribers. Holds of the session
    /// ([`Hold`]s, subscribers not yet dropped) count for nothing from here on.
    pub(crate) fn remove_session(&self, session: SessionId) {
        self.removals.fetch_add(1, Ordering::AcqRel);
        let removed = self.lock().sessions.remove(&session);
        for stream in removed.into_iter().flat_map(|s| s.streams) {
            stream.shared.room.notify(usize::MAX);
            if let Some(subscriber) = stream.current {
                subscriber.kick();
            }
        }
    }

    /// Marks `session` busy until the returned guard drops (a call running).
    pub(crate) fn hold(self: &Arc<Self>, session: SessionId) -> Hold {
        let now = self.now();
        {
            let mut live = self.lock();
            live.busy(session, now, self.holds);
            self.note_untold(&live);
        }
        Hold { hub: self.clone(), session }
    }

    /// The activity transitions not yet told to the store, oldest first.
    pub(crate) fn take_transitions(&self) -> Vec<Transition> {
        let mut live = self.lock();
        self.untold.store(false, Ordering::Release);
        if live.transitions.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut live.transitions)
    }

    /// Puts back transitions the store could not be told (it was unavailable), ahead of any
    /// queued since, so that they are told in order on the next try, within [`TELL_WITHIN`].
    pub(crate) fn requeue_transitions(&self, untold: Vec<Transition>) {
        if untold.is_empty() {
            return;
        }
        let now = self.now();
        {
            let mut live = self.lock();
            let later = std::mem::replace(&mut live.transitions, untold);
            live.transitions.extend(later);
            self.note_untold(&live);
        }
        self.note_deadline(now.saturating_add(TELL_WITHIN));
    }

    fn note_untold(&self, live: &Live) {
        if !live.transitions.is_empty() {
            self.untold.store(true, Ordering::Release);
        }
    }

    /// Whether transitions may wait to be told (a cheap check before taking them).
    pub(crate) fn has_untold(&self) -> bool {
        self.untold.load(Ordering::Acquire)
    }

    /// Whether anything of `session` is live here (streams, subscribers, holds).
    /// The sessions with anything live in this process (streams, subscribers, holds).
    pub(crate) fn live_sessions(&self) -> Vec<SessionId> {
        self.lock().sessions.keys().copied().collect()
    }

    pub(crate) fn keep_alive(&self) -> Option<Duration> {
        self.keep_alive
    }

    /// Wakes the host now: something outside the sessions (a listen stream's keep-alive) has
    /// a deadline it has not been told about.
    pub(crate) fn wake_host(&self) {
        self.deadline_changed.notify(usize::MAX);
    }

    pub(crate) fn knows(&self, session: SessionId) -> bool {
        self.lock().sessions.contains_key(&session)
    }

    pub(crate) fn census(&self) -> HubCensus {
        let live = self.lock();
        let streams = live.sessions.values().map(|s| s.streams.len()).sum();
        let subscribers = live.sessions.values().flat_map(|s| &s.streams).filter(|s| s.current.is_some()).count();
        let activity = live.sessions.values().map(|s| u64::from(s.activity)).sum();
        HubCensus { sessions: live.sessions.len(), streams, subscribers, activity, heartbeats: live.heartbeats.len() }
    }

    /// The earliest of the next heartbeat and the time by which queued releases are due at the
    /// store.
    pub(crate) fn next_heartbeat_or_tell(&self) -> Option<Timestamp> {
        let live = self.lock();
        let heartbeat = live.heartbeats.first_key_value().map(|(&(at, _), _)| at);
        // Only releases need telling soon: a hold only makes its session live longer.
        let tell = live.transitions.iter().find(|t| !t.held).map(|t| t.at.saturating_add(TELL_WITHIN));
        match (heartbeat, tell) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Marks every subscriber whose keep-alive is due and wakes it; schedules the next one on the
    /// subscriber's fixed cadence (a late call fires once, not once per missed period).
    pub(crate) fn fire_heartbeats(&self, now: Timestamp) {
        let Some(every) = self.keep_alive else { return };
        let mut live = self.lock();
        while let Some(entry) = live.heartbeats.first_entry() {
            let (due, _) = *entry.key();
            if due > now {
                break;
            }
            let subscriber = entry.remove();
            let mut next = due.saturating_add(every);
            while next <= now {
                next = next.saturating_add(every);
            }
            subscriber.next_heartbeat.store(next.as_millis(), Ordering::Relaxed);
            subscriber.heartbeat_due.store(true, Ordering::Release);
            subscriber.waker.wake();
            live.heartbeats.insert((next, subscriber.serial), subscriber);
        }
    }

    /// A host is about to read the next deadline: from now on, any new deadline wakes it.
    /// Arming before reading closes the window in which a deadline noted between the read and
    /// the arm would be compared with a stale value and lost.
    pub(crate) fn arm_for_read(&self) {
        self.armed.store(u64::MAX, Ordering::SeqCst);
    }

    /// Remembers that a host was told `at` is the next deadline (keeping an earlier one noted
    /// while it read).
    pub(crate) fn arm(&self, at: Option<Timestamp>) {
        self.armed.fetch_min(at.map_or(u64::MAX, Timestamp::as_millis), Ordering::SeqCst);
    }

    /// A new deadline exists; wake the host if it is earlier than what the host sleeps until.
    pub(crate) fn note_deadline(&self, at: Timestamp) {
        let previous = self.armed.fetch_min(at.as_millis(), Ordering::SeqCst);
        if at.as_millis() < previous {
            self.deadline_changed.notify(usize::MAX);
        }
    }

    pub(crate) fn deadline_changed(&self) -> EventListener {
        self.deadline_changed.listen()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::clock::ManualClock;
    use crate::session::SessionIdGenerator;
    use crate::stream::EventId;

    fn event(seq: u64) -> Event {
        Event::new(EventId::message(StreamId::new(1), seq), Bytes::from_static(b"x"))
    }

    fn taken(attachment: &Attachment) -> Vec<u64> {
        std::iter::from_fn(|| attachment.me.take().0).map(|e| e.id().seq()).collect()
    }

    /// Invariant 12 of the crate docs, in one process. Two publishers (threads, or processes
    /// sharing a store) may deliver in the other order than they appended: the later event must wait for the earlier, which the log has, or the
    /// subscriber would count the earlier one lost and then drop it as already seen.
    #[test]
    fn an_event_ahead_of_the_subscriber_waits_for_those_before_it() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let hub = Arc::new(Hub::new(MonotonicNow::new(Arc::new(clock)), LogLimits::default(), None, true));
        let session = SessionIdGenerator::seeded(1).next_id();
        let stream = StreamId::new(1);
        let attachment = hub.open(session, stream);
        assert_eq!(hub.deliver(session, &event(1)), Delivery::Done);
        assert_eq!(hub.deliver(session, &event(3)), Delivery::Gap, "2 is not here yet");
        assert_eq!(hub.fed(session, stream), Some(1), "read the log after 1");
        let replay = Replay { events: vec![event(2), event(3)], ..Replay::default() };
        hub.feed(session, stream, 1, replay);
        assert_eq!(hub.deliver(session, &event(2)), Delivery::Done, "the late delivery finds it handed over");
        assert_eq!(taken(&attachment), [1, 2, 3], "in order, once");
    }

    #[test]
    fn a_log_read_hands_over_only_what_the_subscriber_lacks_and_a_finished_log_ends_it() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let hub = Arc::new(Hub::new(MonotonicNow::new(Arc::new(clock)), LogLimits::default(), None, true));
        let session = SessionIdGenerator::seeded(2).next_id();
        let stream = StreamId::new(4);
        // A request stream another process produces: live here while a subscriber reads it.
        let attachment = hub.attach(session, stream, false, true).unwrap().expect("attached");
        assert!(hub.attach(session, StreamId::new(5), false, false).unwrap().is_none(), "one process: no producer");
        attachment.me.raise_floor(2);
        let overlapping = Replay { events: vec![event(2), event(5)], lost: 2, ..Replay::default() };
        hub.feed(session, stream, 1, overlapping);
        assert_eq!(taken(&attachment), [5], "2 it had; 3 and 4 the log dropped (the gap says so)");
        hub.feed(session, stream, 5, Replay { finished: true, ..Replay::default() });
        assert!(attachment.me.is_finished());
        drop(attachment);
        assert_eq!(hub.census(), HubCensus::default(), "nothing of the remote stream stays");
    }
}
