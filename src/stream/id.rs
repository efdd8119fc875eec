//! Stream and event identifiers, and their text form in SSE `id:` fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One stream of a session: the standalone stream (a GET) or the stream of one POSTed request.
///
/// Numbers are per session; the standalone stream is always [`StreamId::STANDALONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(u32);

impl StreamId {
    /// The session's standalone stream, opened with GET, carrying messages unrelated to any
    /// request.
    pub const STANDALONE: Self = Self(0);

    /// The stream with this number.
    pub const fn new(number: u32) -> Self {
        Self(number)
    }

    /// The stream's number within its session.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Whether this is the standalone stream.
    pub const fn is_standalone(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Position of an event within its stream.
///
/// Every message published to a stream takes the next sequence number, starting at 1; 0 means
/// "before the first event" (a client that has seen nothing). Markers that carry no message
/// (the priming event a subscriber gets on connect, keep-alive heartbeats) do not take a sequence
/// number: they repeat the sequence number of the last message before them and add a `tick`, so
/// that their ids are unique too and resuming from one of them is resuming from that message.
///
/// Text form (the SSE `id:` field): `<stream>-<seq>` for messages, `<stream>-<seq>.<tick>` for
/// markers. Ids of one stream sort by `(seq, tick)`, strictly increasing in the order sent; ids of
/// different streams of a session never collide because they start with the stream number.
///
/// ```
/// use mcp_session::{EventId, StreamId};
///
/// let id: EventId = "3-17".parse().unwrap();
/// assert_eq!(id.stream(), StreamId::new(3));
/// assert_eq!(id.seq(), 17);
/// let heartbeat: EventId = "3-17.1763700000123".parse().unwrap();
/// assert_eq!(heartbeat.seq(), 17);
/// assert!(heartbeat > id);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    stream: StreamId,
    seq: u64,
    tick: u64,
}

impl EventId {
    /// The id of message number `seq` of `stream`.
    pub const fn message(stream: StreamId, seq: u64) -> Self {
        Self { stream, seq, tick: 0 }
    }

    /// The id of a marker sent after message `seq` of `stream`; `tick` must be non-zero and
    /// unique among the markers after that message.
    pub const fn marker(stream: StreamId, seq: u64, tick: u64) -> Self {
        assert!(tick != 0, "a marker's tick is never zero");
        Self { stream, seq, tick }
    }

    /// The stream this event belongs to.
    pub const fn stream(self) -> StreamId {
        self.stream
    }

    /// The sequence number of the last message at or before this event.
    pub const fn seq(self) -> u64 {
        self.seq
    }

    /// Whether this id names a marker (priming or heartbeat) rather than a message.
    pub const fn is_marker(self) -> bool {
        self.tick != 0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tick == 0 {
            write!(f, "{}-{}", self.stream, self.seq)
        } else {
            write!(f, "{}-{}.{}", self.stream, self.seq, self.tick)
        }
    }
}

/// The text is not an event id this engine could have sent (a bad `Last-Event-ID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed event id: expected <stream>-<seq> or <stream>-<seq>.<tick>")]
pub struct MalformedEventId;

fn parse_decimal<T: FromStr>(text: &str) -> Result<T, MalformedEventId> {
    // `u64::from_str` accepts a leading '+'; ids we send never have one.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MalformedEventId);
    }
    text.parse().map_err(|_| MalformedEventId)
}

impl FromStr for EventId {
    type Err = MalformedEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (stream, rest) = text.split_once('-').ok_or(MalformedEventId)?;
        let stream = StreamId(parse_decimal(stream)?);
        match rest.split_once('.') {
            None => Ok(Self::message(stream, parse_decimal(rest)?)),
            Some((seq, tick)) => {
                let tick = parse_decimal(tick)?;
                if tick == 0 {
                    return Err(MalformedEventId);
                }
                Ok(Self { stream, seq: parse_decimal(seq)?, tick })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for id in [
            EventId::message(StreamId::STANDALONE, 0),
            EventId::message(StreamId::new(7), 1),
            EventId::marker(StreamId::new(7), 1, 99),
            EventId::message(StreamId::new(u32::MAX), u64::MAX),
        ] {
            assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        }
    }

    #[test]
    fn order_is_seq_then_tick_within_a_stream() {
        let s = StreamId::new(1);
        let sent = [
            EventId::marker(s, 0, 5),
            EventId::message(s, 1),
            EventId::marker(s, 1, 6),
            EventId::marker(s, 1, 7),
            EventId::message(s, 2),
        ];
        assert!(sent.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in ["", "1", "-1", "1-", "a-1", "1-b", "1-2.", "1-2.0", "1-+2", "1-2.3.4", "4294967296-1", " 1-2"] {
            assert_eq!(bad.parse::<EventId>(), Err(MalformedEventId), "{bad:?}");
        }
    }
}
