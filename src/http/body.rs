//! Response bodies: nothing, a JSON document, or an SSE stream encoded frame by frame.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Frame, SizeHint};

use crate::server::{LocalFrame, ResponseStream};
use crate::stream::{EventId, StreamItem};

/// Frames are coalesced up to this size when several items are ready at once, so a burst of
/// notifications leaves in few writes.
const COALESCE_BYTES: usize = 32 * 1024;

/// The body of a response from [`Engine::handle`](crate::Engine::handle).
///
/// Implements [`http_body::Body`] (hand it to hyper as is) and [`Stream`] of `Bytes` chunks (for
/// hosts that write chunks themselves, such as a `ReadableStream` in a worker).
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Sse(SseBody),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(bytes) => write!(f, "Body::Full({} bytes)", bytes.as_ref().map_or(0, Bytes::len)),
            Kind::Sse(_) => f.write_str("Body::Sse"),
        }
    }
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self { kind: Kind::Full(Some(bytes.into())) }
    }

    pub(crate) fn sse(source: ResponseStream, retry_ms: u64) -> Self {
        Self { kind: Kind::Sse(SseBody { source, retry_ms, done: false }) }
    }

    /// Whether this is an SSE stream (which may stay open indefinitely).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Sse(_))
    }

    /// Takes the whole of a body that is not a stream (`Some(None)` for no body); `None`, and
    /// the body left as it is, for a stream.
    #[cfg(feature = "tower")]
    pub(crate) fn take_complete(&mut self) -> Option<Option<Bytes>> {
        match &mut self.kind {
            Kind::Empty => Some(None),
            Kind::Full(bytes) => Some(bytes.take()),
            Kind::Sse(_) => None,
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take()),
            Kind::Sse(sse) => sse.poll_chunk(cx),
        }
    }
}

struct SseBody {
    source: ResponseStream,
    retry_ms: u64,
    done: bool,
}

impl SseBody {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut out = BytesMut::new();
        loop {
            match self.source.poll_next_item(cx) {
                Poll::Ready(Some(item)) => {
                    encode(&mut out, item, self.retry_ms);
                    if out.len() >= COALESCE_BYTES {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    break;
                }
                Poll::Pending => {
                    if out.is_empty() {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        if out.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(out.freeze()))
        }
    }
}

impl ResponseStream {
    fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<SseItem>> {
        match self {
            Self::Session(subscription) => Pin::new(subscription).poll_next(cx).map(|i| i.map(SseItem::Session)),
            Self::Local(local) => Pin::new(&mut local.frames).poll_next(cx).map(|frame| {
                frame.map(|frame| match frame {
                    LocalFrame::Message(payload) => SseItem::Bare(payload),
                    LocalFrame::KeepAlive => SseItem::KeepAlive,
                })
            }),
        }
    }
}

/// One item of a response stream, before encoding.
pub(crate) enum SseItem {
    /// An item of a resumable session stream.
    Session(StreamItem),
    /// A message of a stream without a session: no id.
    Bare(Bytes),
    /// A keep-alive comment on a stream without a session (no id: nothing to resume from).
    KeepAlive,
}

fn put_id(out: &mut BytesMut, id: EventId) {
    use std::fmt::Write;
    out.put_slice(b"id: ");
    write!(out, "{id}").expect("writing to BytesMut cannot fail");
    out.put_u8(b'\n');
}

/// Writes `payload` as `data:` lines. A payload with line breaks (a pre-serialized reply
/// pretty-printed, say) becomes one `data:` line per line, which every SSE reader joins back
/// with `\n`; a bare `\r` or `\r\n` would otherwise end the field early and corrupt the frame.
fn put_data(out: &mut BytesMut, payload: &[u8]) {
    let mut rest = payload;
    loop {
        out.put_slice(b"data: ");
        match memchr::memchr2(b'\n', b'\r', rest) {
            None => {
                out.put_slice(rest);
                out.put_u8(b'\n');
                return;
            }
            Some(at) => {
                out.put_slice(&rest[..at]);
                out.put_u8(b'\n');
                let crlf = rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n');
                rest = &rest[at + if crlf { 2 } else { 1 }..];
            }
        }
    }
}

/// Writes one SSE frame.
///
/// - a message: `id: <id>\ndata: <json>\n\n` (one `data:` line per line of the payload);
/// - priming: `id: <id>\nretry: <ms>\ndata:\n\n` (an id and empty data, which clients record
///   without treating it as a message);
/// - heartbeat: `id: <id>\ndata:\n\n` (resumable from, ignored as a message);
/// - keep-alive without a session: `: keepalive\n\n` (a comment line, which readers skip);
/// - lagged: `event: lagged\ndata: {"dropped":<n>}\n\n` (a non-`message` event type, which
///   MCP clients skip and a raw SSE reader can act on).
pub(crate) fn encode(out: &mut BytesMut, item: SseItem, retry_ms: u64) {
    use std::fmt::Write;
    match item {
        SseItem::Session(StreamItem::Event(event)) => {
            out.reserve(event.payload().len() + 32);
            put_id(out, event.id());
            put_data(out, event.payload());
            out.put_u8(b'\n');
        }
        SseItem::Session(StreamItem::Init(id)) => {
            put_id(out, id);
            write!(out, "retry: {retry_ms}\ndata:\n\n").expect("writing to BytesMut cannot fail");
        }
        SseItem::Session(StreamItem::Heartbeat(id)) => {
            put_id(out, id);
            out.put_slice(b"data:\n\n");
        }
        SseItem::Session(StreamItem::Lagged { dropped }) => {
            write!(out, "event: lagged\ndata: {{\"dropped\":{dropped}}}\n\n").expect("writing to BytesMut cannot fail");
        }
        SseItem::Bare(payload) => {
            put_data(out, &payload);
            out.put_u8(b'\n');
        }
        SseItem::KeepAlive => out.put_slice(b": keepalive\n\n"),
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut().poll_chunk(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Sse(sse) => sse.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Sse(_) => SizeHint::default(),
        }
    }
}

impl Stream for Body {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().poll_chunk(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Event, StreamId};

    fn frame(item: SseItem) -> String {
        let mut out = BytesMut::new();
        encode(&mut out, item, 1500);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn frames() {
        let s = StreamId::new(3);
        let event = Event::new(EventId::message(s, 7), Bytes::from_static(br#"{"a":1}"#));
        assert_eq!(frame(SseItem::Session(StreamItem::Event(event))), "id: 3-7\ndata: {\"a\":1}\n\n");
        assert_eq!(
            frame(SseItem::Session(StreamItem::Init(EventId::marker(s, 0, 9)))),
            "id: 3-0.9\nretry: 1500\ndata:\n\n"
        );
        assert_eq!(frame(SseItem::Session(StreamItem::Heartbeat(EventId::marker(s, 7, 10)))), "id: 3-7.10\ndata:\n\n");
        assert_eq!(
            frame(SseItem::Session(StreamItem::Lagged { dropped: 4 })),
            "event: lagged\ndata: {\"dropped\":4}\n\n"
        );
        assert_eq!(frame(SseItem::Bare(Bytes::from_static(b"{}"))), "data: {}\n\n");
        assert_eq!(frame(SseItem::KeepAlive), ": keepalive\n\n");
    }

    /// What an SSE reader (WHATWG's algorithm) makes of the data lines of one frame.
    fn read_data(frame: &str) -> String {
        let mut data = Vec::new();
        for line in frame.trim_end_matches('\n').split('\n') {
            if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        data.join("\n")
    }

    #[test]
    fn payloads_with_line_breaks_stay_one_frame_and_read_back_whole() {
        for payload in ["{\n  \"a\": 1\n}", "a\r\nb", "a\rb", "\n", "x\n", "\r\n\r\n", "  lead"] {
            let event = Event::new(EventId::message(StreamId::new(1), 1), Bytes::from(payload));
            let text = frame(SseItem::Session(StreamItem::Event(event)));
            assert!(!text.contains('\r'), "{text:?}");
            assert_eq!(text.matches("\n\n").count(), 1, "one frame: {text:?}");
            assert!(text.ends_with("\n\n"));
            let expected = payload.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(read_data(&text), expected, "{payload:?} -> {text:?}");
            let bare = frame(SseItem::Bare(Bytes::from(payload)));
            assert_eq!(read_data(&bare), expected);
        }
    }
}
