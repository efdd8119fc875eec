//! Live fan-out: the subscriber currently attached to each stream, and the keep-alive schedule.
//!
//! The replay log (in the store) is the record of what was published; the hub only carries
//! events to whoever is connected right now. Each stream has an `async-broadcast` channel in
//! overflow mode sized like the replay log, so a subscriber that falls behind learns exactly how
//! many events it missed, and a stream has at most one subscriber at a time (a client resuming a
//! stream replaces the connection it lost).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_broadcast::{InactiveReceiver, Receiver, Sender, TrySendError};
use event_listener::{Event as Notify, EventListener};
use futures_util::task::AtomicWaker;
use hashbrown::HashMap;

use super::event::Event;
use super::id::StreamId;
use crate::clock::{MonotonicNow, Timestamp};
use crate::metrics::Counters;
use crate::session::SessionId;

/// Channels start this small and double up to the replay capacity as a slow subscriber falls
/// behind, so an idle connected stream costs a few hundred bytes rather than the full window.
const INITIAL_CHANNEL_CAPACITY: usize = 8;

pub(crate) struct Hub {
    live: Mutex<Live>,
    clock: MonotonicNow,
    capacity: usize,
    keep_alive: Option<Duration>,
    pub(crate) counters: Counters,
    /// Markers (priming, heartbeats) take ticks from here: strictly increasing and at least the
    /// current time in milliseconds, so ids stay unique even across a restart.
    tick: AtomicU64,
    /// The earliest deadline a host has been told about; an earlier new one wakes it.
    armed: AtomicU64,
    deadline_changed: Notify,
}

#[derive(Default)]
struct Live {
    sessions: HashMap<SessionId, Vec<LiveStream>>,
    heartbeats: BTreeMap<(Timestamp, u64), Arc<Subscriber>>,
    next_serial: u64,
}

struct LiveStream {
    id: StreamId,
    tx: Sender<Event>,
    /// Keeps the channel open while no subscriber is attached; subscribers are made from it.
    idle: InactiveReceiver<Event>,
    shared: Arc<StreamShared>,
    current: Option<Arc<Subscriber>>,
}

impl LiveStream {
    /// A stream whose channel drops the oldest event for a subscriber that falls `capacity`
    /// behind (it learns how many), and never makes a sender wait for a subscriber to attach.
    fn new(id: StreamId, capacity: usize) -> Self {
        let (mut tx, rx) = async_broadcast::broadcast(INITIAL_CHANNEL_CAPACITY.min(capacity));
        tx.set_overflow(true);
        tx.set_await_active(false);
        Self { id, tx, idle: rx.deactivate(), shared: Arc::default(), current: None }
    }
}

impl Live {
    fn stream(&mut self, session: SessionId, stream: StreamId) -> Option<&mut LiveStream> {
        self.sessions.get_mut(&session)?.iter_mut().find(|s| s.id == stream)
    }
}

/// State of a live stream that its subscriber reads without the hub's lock.
#[derive(Debug, Default)]
pub(crate) struct StreamShared {
    /// Woken when a subscriber takes an event off a full channel (senders that wait for room).
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
}

/// One attached subscriber, as the hub sees it.
#[derive(Debug)]
pub(crate) struct Subscriber {
    serial: u64,
    /// Set when the subscriber must end: replaced, disconnected by the server, session removed.
    kicked: AtomicBool,
    heartbeat_due: AtomicBool,
    waker: AtomicWaker,
    /// Next heartbeat, in the hub's schedule; `u64::MAX` when not scheduled.
    next_heartbeat: AtomicU64,
}

impl Subscriber {
    pub(crate) fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    pub(crate) fn take_heartbeat(&self) -> bool {
        self.heartbeat_due.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A subscriber's attachment to a live stream.
pub(crate) struct Attachment {
    pub(crate) rx: Receiver<Event>,
    pub(crate) stream: Arc<StreamShared>,
    pub(crate) me: Arc<Subscriber>,
}

/// A stream already has a subscriber and the caller asked not to replace it.
#[derive(Debug)]
pub(crate) struct Busy;

impl Hub {
    pub(crate) fn new(clock: MonotonicNow, capacity: usize, keep_alive: Option<Duration>) -> Self {
        Self {
            live: Mutex::new(Live::default()),
            clock,
            capacity,
            keep_alive,
            counters: Counters::default(),
            tick: AtomicU64::new(0),
            armed: AtomicU64::new(u64::MAX),
            deadline_changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // Every critical section completes its bookkeeping before anything that could panic.
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// Opens a live stream with a subscriber attached from the start, so that nothing
    /// published before the subscriber is first polled can be missed.
    pub(crate) fn open(&self, session: SessionId, stream: StreamId) -> Attachment {
        let mut live = self.lock();
        live.sessions.entry(session).or_default().push(LiveStream::new(stream, self.capacity));
        self.connect(&mut live, session, stream, false).expect("a new stream has no subscriber")
    }

    /// Attaches a subscriber to a live stream. The standalone stream is made live on first use;
    /// a request stream that is no longer live (finished, or never opened) gives `Ok(None)`.
    /// An existing subscriber is replaced, or `Busy` is returned if `exclusive`.
    pub(crate) fn attach(
        &self,
        session: SessionId,
        stream: StreamId,
        exclusive: bool,
    ) -> Result<Option<Attachment>, Busy> {
        let mut live = self.lock();
        let streams = live.sessions.entry(session).or_default();
        if !streams.iter().any(|s| s.id == stream) {
            if !stream.is_standalone() {
                if streams.is_empty() {
                    live.sessions.remove(&session);
                }
                return Ok(None);
            }
            streams.push(LiveStream::new(stream, self.capacity));
        }
        self.connect(&mut live, session, stream, exclusive).map(Some)
    }

    /// Makes a new subscriber the stream's current one (the stream exists).
    fn connect(
        &self,
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
        let rx = entry.idle.activate_cloned();
        let shared = entry.shared.clone();
        let me = self.register(live, session, stream);
        Ok(Attachment { rx, stream: shared, me })
    }

    fn register(&self, live: &mut Live, session: SessionId, stream: StreamId) -> Arc<Subscriber> {
        live.next_serial += 1;
        let me = Arc::new(Subscriber {
            serial: live.next_serial,
            kicked: AtomicBool::new(false),
            heartbeat_due: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            next_heartbeat: AtomicU64::new(u64::MAX),
        });
        if let Some(every) = self.keep_alive {
            let at = self.now().saturating_add(every);
            me.next_heartbeat.store(at.as_millis(), Ordering::Relaxed);
            live.heartbeats.insert((at, me.serial), me.clone());
            self.note_deadline(at);
        }
        let entry = live.stream(session, stream).expect("caller made sure the stream is live");
        entry.current = Some(me.clone());
        me
    }

    /// Called when a subscription ends: stops its heartbeats and frees the stream's slot.
    pub(crate) fn detach(&self, session: SessionId, stream: StreamId, me: &Arc<Subscriber>) {
        let mut live = self.lock();
        let at = me.next_heartbeat.swap(u64::MAX, Ordering::Relaxed);
        if at != u64::MAX {
            live.heartbeats.remove(&(Timestamp::from_millis(at), me.serial));
        }
        if let Some(entry) = live.stream(session, stream) {
            if entry.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, me)) {
                entry.current = None;
                // Nobody reads any more: senders waiting for room may go on.
                entry.shared.room.notify(usize::MAX);
            }
        }
    }

    /// Hands a freshly logged event to the stream's subscriber, if one is attached.
    pub(crate) fn deliver(&self, session: SessionId, event: &Event) {
        let mut live = self.lock();
        let Some(entry) = live.stream(session, event.id().stream()) else { return };
        let tx = &mut entry.tx;
        if tx.is_full() && tx.capacity() < self.capacity {
            let grown = (tx.capacity() * 2).min(self.capacity);
            tx.set_capacity(grown);
        }
        match tx.try_broadcast(event.clone()) {
            Ok(_) | Err(TrySendError::Inactive(_)) => {}
            // Overflow mode never reports Full; Closed needs every receiver gone, but `idle`
            // lives as long as the entry.
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                unreachable!("overflow channel with a held inactive receiver")
            }
        }
    }

    /// If the stream's subscriber has a full window of undelivered events, a listener that fires
    /// when it takes one; `None` if a send may go ahead now.
    pub(crate) fn room(&self, session: SessionId, stream: StreamId) -> Option<EventListener> {
        let mut live = self.lock();
        let entry = live.stream(session, stream)?;
        let full = |tx: &Sender<Event>| tx.receiver_count() > 0 && tx.len() >= self.capacity;
        if !full(&entry.tx) {
            return None;
        }
        let listener = entry.shared.room.listen();
        // Re-check after listening so a take between the check and `listen` is not missed.
        full(&entry.tx).then_some(listener)
    }

    /// Ends a request stream: its subscriber receives what was already delivered to the
    /// channel, then the end.
    pub(crate) fn finish(&self, session: SessionId, stream: StreamId) {
        let mut live = self.lock();
        if let Some(streams) = live.sessions.get_mut(&session) {
            for ended in streams.iter().filter(|s| s.id == stream) {
                ended.shared.room.notify(usize::MAX);
            }
            streams.retain(|s| s.id != stream);
            if streams.is_empty() {
                live.sessions.remove(&session);
            }
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

    /// Drops every live stream of a session and ends their subscribers.
    pub(crate) fn remove_session(&self, session: SessionId) {
        let removed = self.lock().sessions.remove(&session);
        for stream in removed.into_iter().flatten() {
            stream.shared.room.notify(usize::MAX);
            if let Some(subscriber) = stream.current {
                subscriber.kick();
            }
        }
    }

    pub(crate) fn next_heartbeat(&self) -> Option<Timestamp> {
        self.lock().heartbeats.first_key_value().map(|(&(at, _), _)| at)
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

    /// Remembers that a host was told `at` is the next deadline.
    pub(crate) fn arm(&self, at: Option<Timestamp>) {
        self.armed.store(at.map_or(u64::MAX, Timestamp::as_millis), Ordering::Release);
    }

    /// A new deadline exists; wake the host if it is earlier than what the host sleeps until.
    pub(crate) fn note_deadline(&self, at: Timestamp) {
        let previous = self.armed.fetch_min(at.as_millis(), Ordering::AcqRel);
        if at.as_millis() < previous {
            self.deadline_changed.notify(usize::MAX);
        }
    }

    pub(crate) fn deadline_changed(&self) -> EventListener {
        self.deadline_changed.listen()
    }
}
