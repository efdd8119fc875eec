//! What flows on a stream: published events, and the items a subscriber receives.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::id::EventId;

/// A message published to a stream: one serialized JSON-RPC message with its id.
///
/// The payload is shared, not copied, between the replay log and every subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    id: EventIdRepr,
    #[serde(serialize_with = "payload_as_str", deserialize_with = "payload_from_str")]
    payload: Bytes,
}

/// Events are persisted with the text form of their id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EventIdRepr(EventId);

impl Serialize for EventIdRepr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventIdRepr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map(EventIdRepr).map_err(serde::de::Error::custom)
    }
}

fn payload_as_str<S: Serializer>(payload: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    let text = std::str::from_utf8(payload).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

fn payload_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    String::deserialize(deserializer).map(Bytes::from)
}

impl Event {
    /// An event with this id carrying `payload`, one serialized JSON-RPC message (UTF-8). Line
    /// breaks in it are allowed: the SSE encoder writes one `data:` line per line.
    pub fn new(id: EventId, payload: Bytes) -> Self {
        Self { id: EventIdRepr(id), payload }
    }

    /// The event's id.
    pub fn id(&self) -> EventId {
        self.id.0
    }

    /// The serialized JSON-RPC message.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// What a subscriber receives, in order.
///
/// The kinds mirror what a client sees on the wire: a priming [`StreamItem::Init`] first, then
/// messages, with [`StreamItem::Heartbeat`]s on idle streams and a [`StreamItem::Lagged`] notice
/// wherever events were lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamItem {
    /// A published message (a notification such as `notifications/message` or
    /// `notifications/progress`, a request to the client, or a response).
    Event(Event),
    /// Sent once when a subscriber connects, before anything else; its id lets the client resume
    /// from exactly this point even if no message follows.
    Init(EventId),
    /// Keep-alive on an idle stream; its id lets the client resume from here.
    Heartbeat(EventId),
    /// `dropped` events of this stream will never reach this subscriber: it fell behind the live
    /// fan-out, or it resumed from an id older than the oldest retained event. What follows
    /// continues without a further gap.
    Lagged {
        /// How many events were lost, exactly.
        dropped: u64,
    },
}

impl StreamItem {
    /// The id a client records on receiving this item, if it carries one.
    pub fn id(&self) -> Option<EventId> {
        match self {
            Self::Event(event) => Some(event.id()),
            Self::Init(id) | Self::Heartbeat(id) => Some(*id),
            Self::Lagged { .. } => None,
        }
    }
}
