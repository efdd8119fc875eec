//! The bounded, per-stream replay log behind `Last-Event-ID`.

use std::collections::VecDeque;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::id::{EventId, StreamId};

/// The retained tail of one stream's messages.
///
/// Holds at most `capacity` events; publishing into a full log drops the oldest. Sequence
/// numbers are dense (every message takes the next one), so the number of events lost between a
/// client's position and the oldest retained event is exact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplayLog {
    stream: StreamId,
    capacity: usize,
    next_seq: u64,
    events: VecDeque<Event>,
    finished: bool,
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

impl ReplayLog {
    /// An empty log for `stream` keeping at most `capacity` events.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero: a log that retains nothing cannot honour `Last-Event-ID`; configs
    /// are validated before they reach here.
    pub fn new(stream: StreamId, capacity: usize) -> Self {
        assert!(capacity > 0, "replay capacity must be at least 1");
        Self { stream, capacity, next_seq: 1, events: VecDeque::new(), finished: false }
    }

    /// Rebuilds a log from persisted parts: the retained events (dense, ascending, all of
    /// `stream`) and whether the stream was finished. `latest_seq` is the sequence number of the
    /// newest message ever published, needed when no event is retained.
    pub fn restore(
        stream: StreamId,
        capacity: usize,
        latest_seq: u64,
        events: Vec<Event>,
        finished: bool,
    ) -> Result<Self, RestoreError> {
        let mut log = Self::new(stream, capacity);
        let dense = events.windows(2).all(|w| w[1].id().seq() == w[0].id().seq() + 1);
        let own = events.iter().all(|e| e.id().stream() == stream && !e.id().is_marker());
        let newest = events.last().map_or(latest_seq, |e| e.id().seq());
        if !dense || !own || newest != latest_seq || events.first().is_some_and(|e| e.id().seq() == 0) {
            return Err(RestoreError);
        }
        let skip = events.len().saturating_sub(capacity);
        log.events = events.into_iter().skip(skip).collect();
        log.next_seq = latest_seq + 1;
        log.finished = finished;
        Ok(log)
    }

    /// The retained events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// The stream this log belongs to.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// Appends a message, dropping the oldest if the log is full. Returns the new event and
    /// whether an older one was dropped.
    ///
    /// # Panics
    ///
    /// If the stream is finished: publishing after the final message is a caller bug.
    pub fn push(&mut self, payload: Bytes) -> (Event, bool) {
        assert!(!self.finished, "publish to finished stream {}", self.stream);
        let event = Event::new(EventId::message(self.stream, self.next_seq), payload);
        self.next_seq += 1;
        let evicted = if self.events.len() == self.capacity {
            self.events.pop_front();
            true
        } else {
            false
        };
        self.events.push_back(event.clone());
        (event, evicted)
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
        let oldest = self.events.front().map_or(self.next_seq, |e| e.id().seq());
        let lost = oldest.saturating_sub(after + 1);
        // Sequence numbers are dense, so the first wanted event sits at a computable index.
        let skip = usize::try_from((after + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        let events = self.events.iter().skip(skip).cloned().collect();
        Ok(Replay { lost, events, finished: self.finished })
    }
}

/// Persisted log parts that do not fit together (a gap, a foreign event, a wrong latest
/// sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("persisted replay log is inconsistent")]
pub struct RestoreError;

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(capacity: usize, count: u64) -> ReplayLog {
        let mut log = ReplayLog::new(StreamId::new(2), capacity);
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
        let mut log = ReplayLog::new(StreamId::new(2), 4);
        assert_eq!(log.latest_seq(), 0);
        let (event, evicted) = log.push(Bytes::from_static(b"{}"));
        assert_eq!(event.id(), EventId::message(StreamId::new(2), 1));
        assert!(!evicted);
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
        let back = ReplayLog::restore(StreamId::new(2), 3, 10, events.clone(), true).unwrap();
        assert_eq!(back.after(6).unwrap().lost, 1);
        assert!(back.is_finished());
        assert_eq!(back.latest_seq(), 10);
        let gap = vec![events[0].clone(), events[2].clone()];
        assert_eq!(ReplayLog::restore(StreamId::new(2), 3, 10, gap, false).unwrap_err(), RestoreError);
        assert!(ReplayLog::restore(StreamId::new(9), 3, 10, events, false).is_err(), "foreign stream");
        let empty = ReplayLog::restore(StreamId::STANDALONE, 3, 0, Vec::new(), false).unwrap();
        assert_eq!(empty.latest_seq(), 0);
    }

    #[test]
    fn serde_round_trip_keeps_ids_and_payloads() {
        let log = log_with(2, 3);
        let json = serde_json::to_string(&log).unwrap();
        assert!(json.contains(r#""id":"2-3""#), "{json}");
        let back: ReplayLog = serde_json::from_str(&json).unwrap();
        assert_eq!(back.after(0).unwrap(), log.after(0).unwrap());
        assert_eq!(back.latest_seq(), 3);
    }
}
