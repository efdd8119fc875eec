//! The bounded, per-stream replay log behind `Last-Event-ID`.

use std::collections::VecDeque;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::event::Event;
use super::id::{EventId, StreamId};

/// What one retained event costs beyond its payload: the log entry, the event's id, the shared
/// payload's header. An estimate, on the high side, so that a byte budget is never undercounted
/// for small events.
pub const EVENT_OVERHEAD_BYTES: usize = 96;

/// The bytes an event with `payload_len` bytes of payload counts against a byte budget.
pub const fn event_cost(payload_len: usize) -> usize {
    payload_len + EVENT_OVERHEAD_BYTES
}

/// How much one stream's log may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Events retained at most. Default 256.
    pub events: usize,
    /// Bytes retained at most, counted with [`event_cost`]. Default 8 MiB.
    pub bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self { events: 256, bytes: 8 * 1024 * 1024 }
    }
}

/// The retained tail of one stream's messages.
///
/// Holds at most `limits.events` events and `limits.bytes` bytes; publishing into a full log
/// drops the oldest. Sequence numbers are dense (every message takes the next one), so the number
/// of events lost between a client's position and the oldest retained event is exact, whatever
/// dropped them (a cap, a memory budget, a write that never reached storage).
#[derive(Clone, Debug)]
pub struct ReplayLog {
    stream: StreamId,
    limits: LogLimits,
    next_seq: u64,
    events: VecDeque<Retained>,
    bytes: usize,
    finished: bool,
    /// Messages up to here may have reached a subscriber of an earlier process (the log was read
    /// back from storage, where delivery is not recorded).
    maybe_delivered: u64,
}

#[derive(Clone, Debug)]
struct Retained {
    event: Event,
    /// Publication order across every log of a store, for "drop the oldest first" under a
    /// shared budget (0 for events read back from storage: older than anything published since).
    stamp: u64,
}

/// The events of a stream after a client's position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Events after the position that are no longer retained.
    pub lost: u64,
    /// The retained events after the position, oldest first.
    pub events: Vec<Event>,
    /// No message will ever be added to this stream: once `events` are delivered, it is over.
    pub finished: bool,
    /// Messages up to this sequence number may already have reached a connection of an earlier
    /// process: the log was read back from storage, which does not record delivery. A
    /// subscription without `Last-Event-ID` starts after them, so nothing is sent twice.
    pub maybe_delivered: u64,
}

/// A position the stream never reached: the client claims to have seen message `requested`,
/// but only `latest` were ever published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("position {requested} is ahead of the stream, whose latest message is {latest}")]
pub struct AheadOfStream {
    /// The position asked for.
    pub requested: u64,
    /// The sequence number of the stream's latest message (0 if none).
    pub latest: u64,
}

/// What [`ReplayLog::push`] did.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The new event, with its id.
    pub event: Event,
    /// How many older events were dropped to stay within the limits.
    pub evicted: usize,
    /// Bytes those events counted.
    pub freed: usize,
}

impl ReplayLog {
    /// An empty log for `stream` keeping at most `limits`.
    ///
    /// # Panics
    ///
    /// If `limits.events` is zero: a log that retains nothing cannot honour `Last-Event-ID`;
    /// configurations are validated before they reach here.
    pub fn new(stream: StreamId, limits: LogLimits) -> Self {
        assert!(limits.events > 0, "replay capacity must be at least 1");
        Self { stream, limits, next_seq: 1, events: VecDeque::new(), bytes: 0, finished: false, maybe_delivered: 0 }
    }

    /// Rebuilds a log from persisted parts: the retained events (dense, ascending, all of
    /// `stream`) and whether the stream was finished. `latest_seq` is the sequence number of the
    /// newest message ever published, needed when no event is retained. Refuses parts that do
    /// not fit together; [`ReplayLog::recover`] makes the best of them instead.
    pub fn restore(
        stream: StreamId,
        limits: LogLimits,
        latest_seq: u64,
        events: Vec<Event>,
        finished: bool,
    ) -> Result<Self, RestoreError> {
        let dense = events.windows(2).all(|w| w[1].id().seq() == w[0].id().seq() + 1);
        let own = events.iter().all(|e| e.id().stream() == stream && !e.id().is_marker());
        let newest = events.last().map_or(latest_seq, |e| e.id().seq());
        if !dense || !own || newest != latest_seq || events.first().is_some_and(|e| e.id().seq() == 0) {
            return Err(RestoreError);
        }
        Ok(Self::rebuild(stream, limits, latest_seq, events, finished))
    }

    /// Rebuilds a log from whatever storage held, which a failed or partial write may have left
    /// with gaps, strays or duplicates: keeps the newest dense run of the stream's own events and
    /// drops the rest. A client resuming from before the run is told exactly how many events it
    /// lost (sequence numbers are dense), so a lost write costs events, never the stream.
    ///
    /// `latest_seq` is the newest sequence number known to have been published (0 if unknown);
    /// the log never goes back behind it, so no id a client may have seen is issued twice.
    pub fn recover(
        stream: StreamId,
        limits: LogLimits,
        latest_seq: u64,
        mut events: Vec<Event>,
        finished: bool,
    ) -> (Self, Recovery) {
        let offered = events.len();
        events.retain(|e| e.id().stream() == stream && !e.id().is_marker() && e.id().seq() > 0);
        events.sort_by_key(|e| e.id().seq());
        events.dedup_by_key(|e| e.id().seq());
        let latest = events.last().map_or(0, |e| e.id().seq()).max(latest_seq);
        // Only a run that reaches `latest` can be served: anything before a gap is unreachable
        // without a silent hole, so it counts as lost.
        let mut start = events.len();
        let mut expected = latest;
        while start > 0 && events[start - 1].id().seq() == expected {
            start -= 1;
            expected -= 1;
        }
        let kept = events.split_off(start);
        let recovery = Recovery { dropped: offered - kept.len() };
        (Self::rebuild(stream, limits, latest, kept, finished), recovery)
    }

    fn rebuild(stream: StreamId, limits: LogLimits, latest_seq: u64, events: Vec<Event>, finished: bool) -> Self {
        let mut log = Self::new(stream, limits);
        for event in events {
            log.bytes += event_cost(event.payload().len());
            log.events.push_back(Retained { event, stamp: 0 });
        }
        log.next_seq = latest_seq + 1;
        log.finished = finished;
        log.maybe_delivered = latest_seq;
        log.trim();
        log
    }

    /// The retained events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().map(|r| &r.event)
    }

    /// The stream this log belongs to.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The limits this log keeps to.
    pub fn limits(&self) -> LogLimits {
        self.limits
    }

    /// Appends a message, dropping the oldest events until the log is within its limits again.
    /// A single message larger than the byte limit is not retained at all (a resume reports it
    /// lost); it still gets its id and goes to live subscribers.
    ///
    /// # Panics
    ///
    /// If the stream is finished: publishing after the final message is a caller bug.
    pub fn push(&mut self, payload: Bytes) -> Pushed {
        self.push_stamped(payload, 0)
    }

    /// [`ReplayLog::push`] with the event's place in a store-wide publication order.
    pub(crate) fn push_stamped(&mut self, payload: Bytes, stamp: u64) -> Pushed {
        assert!(!self.finished, "publish to finished stream {}", self.stream);
        let event = Event::new(EventId::message(self.stream, self.next_seq), payload);
        self.next_seq += 1;
        self.bytes += event_cost(event.payload().len());
        self.events.push_back(Retained { event: event.clone(), stamp });
        let (evicted, freed) = self.trim();
        Pushed { event, evicted, freed }
    }

    /// Drops the oldest events until the log is within its limits; returns how many and their bytes.
    fn trim(&mut self) -> (usize, usize) {
        let (mut evicted, mut freed) = (0, 0);
        while self.events.len() > self.limits.events || (self.bytes > self.limits.bytes && !self.events.is_empty()) {
            freed += self.pop_oldest().expect("a log over its limits is not empty");
            evicted += 1;
        }
        (evicted, freed)
    }

    /// Drops the oldest retained event (a memory budget shared by many logs needs room);
    /// returns the bytes it counted, `None` if the log is empty.
    pub fn pop_oldest(&mut self) -> Option<usize> {
        let oldest = self.events.pop_front()?;
        let cost = event_cost(oldest.event.payload().len());
        self.bytes -= cost;
        Some(cost)
    }

    /// The publication stamp of the oldest retained event.
    pub(crate) fn oldest_stamp(&self) -> Option<u64> {
        self.events.front().map(|r| r.stamp)
    }

    /// Bytes retained, counted with [`event_cost`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Marks the stream as complete: no message follows.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`ReplayLog::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Sequence number of the latest message, 0 if there is none.
    pub fn latest_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Sequence number of the oldest retained message, if any is retained.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.events.front().map(|r| r.event.id().seq())
    }

    /// Number of events retained.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is retained.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Everything after message `after` (0 for "from the start").
    pub fn after(&self, after: u64) -> Result<Replay, AheadOfStream> {
        if after > self.latest_seq() {
            return Err(AheadOfStream { requested: after, latest: self.latest_seq() });
        }
        let oldest = self.oldest_seq().unwrap_or(self.next_seq);
        let lost = oldest.saturating_sub(after + 1);
        // Sequence numbers are dense, so the first wanted event sits at a computable index.
        let skip = usize::try_from((after + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        let events = self.events.iter().skip(skip).map(|r| r.event.clone()).collect();
        Ok(Replay { lost, events, finished: self.finished, maybe_delivered: self.maybe_delivered })
    }
}

/// What [`ReplayLog::recover`] had to leave out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Stored events that could not be kept: before a gap, duplicated, or not this stream's.
    pub dropped: usize,
}

/// Persisted log parts that do not fit together (a gap, a foreign event, a wrong latest
/// sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("persisted replay log is inconsistent")]
pub struct RestoreError;

/// The persisted form. Deserializing goes through [`ReplayLog::restore`], so a stored log that
/// breaks the log's invariants is refused rather than trusted.
#[derive(Serialize, Deserialize)]
struct Persisted {
    stream: StreamId,
    capacity: usize,
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
    next_seq: u64,
    events: Vec<Event>,
    finished: bool,
}

fn default_max_bytes() -> usize {
    LogLimits::default().bytes
}

impl Serialize for ReplayLog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Persisted {
            stream: self.stream,
            capacity: self.limits.events,
            max_bytes: self.limits.bytes,
            next_seq: self.next_seq,
            events: self.events().cloned().collect(),
            finished: self.finished,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ReplayLog {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let parts = Persisted::deserialize(deserializer)?;
        if parts.capacity == 0 || parts.next_seq == 0 {
            return Err(D::Error::custom("replay log with zero capacity or sequence"));
        }
        let limits = LogLimits { events: parts.capacity, bytes: parts.max_bytes };
        Self::restore(parts.stream, limits, parts.next_seq - 1, parts.events, parts.finished).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(events: usize) -> LogLimits {
        LogLimits { events, ..LogLimits::default() }
    }

    fn log_with(capacity: usize, count: u64) -> ReplayLog {
        let mut log = ReplayLog::new(StreamId::new(2), limits(capacity));
        for i in 1..=count {
            log.push(Bytes::from(i.to_string()));
        }
        log
    }

    fn seqs(replay: &Replay) -> Vec<u64> {
        replay.events.iter().map(|e| e.id().seq()).collect()
    }

    #[test]
    fn first_event_is_one() {
        let mut log = ReplayLog::new(StreamId::new(2), limits(4));
        assert_eq!(log.latest_seq(), 0);
        let pushed = log.push(Bytes::from_static(b"{}"));
        assert_eq!(pushed.event.id(), EventId::message(StreamId::new(2), 1));
        assert_eq!(pushed.evicted, 0);
    }

    #[test]
    fn evicts_the_oldest_and_counts_the_loss_exactly() {
        let log = log_with(3, 10);
        assert_eq!(log.len(), 3);
        let replay = log.after(0).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (7, vec![8, 9, 10]));
        let replay = log.after(6).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (1, vec![8, 9, 10]));
        let replay = log.after(7).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (0, vec![8, 9, 10]));
        let replay = log.after(9).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (0, vec![10]));
        let replay = log.after(10).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (0, vec![]));
    }

    #[test]
    fn the_byte_limit_evicts_too_and_an_oversized_event_is_not_kept() {
        let mut log = ReplayLog::new(StreamId::new(1), LogLimits { events: 100, bytes: 3 * event_cost(10) });
        for _ in 0..3 {
            assert_eq!(log.push(Bytes::from(vec![b'x'; 10])).evicted, 0);
        }
        let pushed = log.push(Bytes::from(vec![b'y'; 10]));
        assert_eq!((pushed.evicted, pushed.freed), (1, event_cost(10)));
        assert_eq!((log.len(), log.bytes()), (3, 3 * event_cost(10)));
        let huge = log.push(Bytes::from(vec![b'z'; 1000]));
        assert_eq!(huge.evicted, 4, "the huge event and everything before it");
        assert_eq!((log.len(), log.bytes(), log.latest_seq()), (0, 0, 5));
        assert_eq!(log.after(2).unwrap().lost, 3, "its loss is counted like any other");
    }

    #[test]
    fn refuses_positions_never_reached() {
        let log = log_with(3, 2);
        assert_eq!(log.after(3), Err(AheadOfStream { requested: 3, latest: 2 }));
    }

    #[test]
    fn finish_is_reported() {
        let mut log = log_with(3, 1);
        log.finish();
        assert!(log.after(1).unwrap().finished);
    }

    #[test]
    #[should_panic(expected = "finished stream")]
    fn publishing_after_finish_is_a_bug() {
        let mut log = log_with(3, 1);
        log.finish();
        log.push(Bytes::new());
    }

    #[test]
    fn restore_rebuilds_exactly_and_refuses_gaps() {
        let log = log_with(3, 10);
        let events: Vec<Event> = log.events().cloned().collect();
        let back = ReplayLog::restore(StreamId::new(2), limits(3), 10, events.clone(), true).unwrap();
        assert_eq!(back.after(6).unwrap().lost, 1);
        assert!(back.is_finished());
        assert_eq!(back.latest_seq(), 10);
        assert_eq!(back.bytes(), log.bytes());
        let gap = vec![events[0].clone(), events[2].clone()];
        assert_eq!(ReplayLog::restore(StreamId::new(2), limits(3), 10, gap, false).unwrap_err(), RestoreError);
        assert!(ReplayLog::restore(StreamId::new(9), limits(3), 10, events, false).is_err(), "foreign stream");
        let empty = ReplayLog::restore(StreamId::STANDALONE, limits(3), 0, Vec::new(), false).unwrap();
        assert_eq!(empty.latest_seq(), 0);
    }

    #[test]
    fn recover_keeps_the_newest_dense_run_and_counts_the_rest_as_lost() {
        let log = log_with(10, 8);
        let mut stored: Vec<Event> = log.events().cloned().collect();
        stored.remove(4); // the write of message 5 failed
        stored.push(stored[0].clone()); // a duplicate
        stored.push(Event::new(EventId::message(StreamId::new(7), 3), Bytes::from_static(b"{}"))); // a stray
        stored.reverse(); // in no particular order
        let (back, recovery) = ReplayLog::recover(StreamId::new(2), limits(10), 0, stored, false);
        assert_eq!(recovery.dropped, 6, "1-4 sit before the gap; the duplicate and the stray go too");
        assert_eq!(back.latest_seq(), 8);
        let replay = back.after(2).unwrap();
        assert_eq!((replay.lost, seqs(&replay)), (3, vec![6, 7, 8]), "3, 4 and 5 are lost, exactly");
        let mut back = back;
        assert_eq!(back.push(Bytes::from_static(b"9")).event.id().seq(), 9, "ids continue, none reused");

        let (tail_lost, recovery) = ReplayLog::recover(StreamId::new(2), limits(10), 12, Vec::new(), true);
        assert_eq!((tail_lost.latest_seq(), recovery.dropped), (12, 0), "a known latest is never gone back on");
        assert_eq!(tail_lost.after(10).unwrap().lost, 2);
    }

    #[test]
    fn serde_round_trip_keeps_ids_and_payloads() {
        let log = log_with(2, 3);
        let json = serde_json::to_string(&log).unwrap();
        assert!(json.contains(r#""id":"2-3""#), "{json}");
        let back: ReplayLog = serde_json::from_str(&json).unwrap();
        let (replayed, original) = (back.after(0).unwrap(), log.after(0).unwrap());
        assert_eq!((replayed.lost, replayed.events), (original.lost, original.events));
        assert_eq!(back.latest_seq(), 3);
        assert_eq!(replayed.maybe_delivered, 3, "a log read back may have been delivered up to its end");
    }

    #[test]
    fn deserializing_refuses_a_log_that_breaks_its_invariants() {
        let bad = [
            r#"{"stream":1,"capacity":4,"next_seq":0,"events":[],"finished":false}"#,
            r#"{"stream":1,"capacity":0,"next_seq":1,"events":[],"finished":false}"#,
            r#"{"stream":1,"capacity":4,"next_seq":2,"events":[{"id":"1-2","payload":"{}"}],"finished":false}"#,
            r#"{"stream":1,"capacity":4,"next_seq":3,"events":[{"id":"1-1","payload":"{}"}],"finished":false}"#,
            r#"{"stream":1,"capacity":4,"next_seq":2,"events":[{"id":"5-1","payload":"{}"}],"finished":false}"#,
            r#"{"stream":1,"capacity":4,"next_seq":2,"events":[{"id":"1-1.7","payload":"{}"}],"finished":false}"#,
        ];
        for text in bad {
            assert!(serde_json::from_str::<ReplayLog>(text).is_err(), "accepted {text}");
        }
        let good = r#"{"stream":1,"capacity":4,"next_seq":2,"events":[{"id":"1-1","payload":"{}"}],"finished":false}"#;
        assert_eq!(serde_json::from_str::<ReplayLog>(good).unwrap().latest_seq(), 1);
    }
}
