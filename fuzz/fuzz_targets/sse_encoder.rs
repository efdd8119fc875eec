//! Arbitrary stream items through the SSE encoder, read back by an event-stream parser written
//! here from the WHATWG algorithm (HTML §9.2.6): one event per item, each with the id, type,
//! retry and data the item carries. SSE cannot carry CR, so data is compared after turning CR LF
//! and lone CR into LF, as any reader would see it.
#![no_main]

use std::num::NonZeroU64;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mcp_session::fuzzing::{encode_bare, encode_session};
use mcp_session::{Event, EventId, StreamId, StreamItem};

#[derive(Arbitrary, Debug)]
struct Input {
    retry_ms: u64,
    items: Vec<Item>,
}

#[derive(Arbitrary, Debug)]
enum Item {
    Message { stream: u32, seq: u64, payload: Payload },
    Init { stream: u32, seq: u64, tick: NonZeroU64 },
    Heartbeat { stream: u32, seq: u64, tick: NonZeroU64 },
    Lagged { dropped: u64 },
    Bare { payload: Payload },
}

/// A payload: raw bytes, or lines of text joined by a chosen break (the shapes a
/// pre-serialized, pretty-printed reply takes).
#[derive(Arbitrary, Debug)]
enum Payload {
    Raw(Vec<u8>),
    Lines(Vec<(String, Break)>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Break {
    Lf,
    Cr,
    CrLf,
    None,
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Raw(bytes) => bytes.clone(),
            Self::Lines(lines) => {
                let mut out = Vec::new();
                for (text, end) in lines {
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(match end {
                        Break::Lf => b"\n",
                        Break::Cr => b"\r",
                        Break::CrLf => b"\r\n",
                        Break::None => b"",
                    });
                }
                out
            }
        }
    }
}

/// What a reader dispatches for an event.
#[derive(Debug, PartialEq, Eq)]
struct Dispatched {
    kind: Vec<u8>,
    data: Vec<u8>,
    last_event_id: Vec<u8>,
    retry: Option<u64>,
}

fuzz_target!(|input: Input| {
    let mut out = BytesMut::new();
    let mut expected = Vec::new();
    let mut last_id = Vec::new();
    let mut retry = None;
    for item in &input.items {
        let before = out.len();
        let (kind, data) = match item {
            Item::Message { stream, seq, payload } => {
                let id = EventId::message(StreamId::new(*stream), *seq);
                let payload = payload.bytes();
                encode_session(
                    &mut out,
                    StreamItem::Event(Event::new(id, Bytes::from(payload.clone()))),
                    input.retry_ms,
                );
                last_id = id.to_string().into_bytes();
                (&b"message"[..], normalize(&payload))
            }
            Item::Init { stream, seq, tick } => {
                let id = EventId::marker(StreamId::new(*stream), *seq, tick.get());
                encode_session(&mut out, StreamItem::Init(id), input.retry_ms);
                last_id = id.to_string().into_bytes();
                retry = Some(input.retry_ms);
                (&b"message"[..], Vec::new())
            }
            Item::Heartbeat { stream, seq, tick } => {
                let id = EventId::marker(StreamId::new(*stream), *seq, tick.get());
                encode_session(&mut out, StreamItem::Heartbeat(id), input.retry_ms);
                last_id = id.to_string().into_bytes();
                (&b"message"[..], Vec::new())
            }
            Item::Lagged { dropped } => {
                encode_session(&mut out, StreamItem::Lagged { dropped: *dropped }, input.retry_ms);
                (&b"lagged"[..], format!("{{\"dropped\":{dropped}}}").into_bytes())
            }
            Item::Bare { payload } => {
                let payload = payload.bytes();
                encode_bare(&mut out, Bytes::from(payload.clone()), input.retry_ms);
                (&b"message"[..], normalize(&payload))
            }
        };
        let frame = &out[before..];
        assert!(!frame.contains(&b'\r'), "a CR in a frame: {frame:?}");
        assert!(frame.ends_with(b"\n\n"), "a frame ends with a blank line: {frame:?}");
        expected.push(Dispatched { kind: kind.to_vec(), data, last_event_id: last_id.clone(), retry });
    }
    let read = parse(&out);
    assert_eq!(read.len(), expected.len(), "events read from {:?}", String::from_utf8_lossy(&out));
    for (i, (got, want)) in read.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {i} of {:?}", String::from_utf8_lossy(&out));
    }
    // Each id a client records resumes: it parses as the id that was sent.
    for event in &read {
        if !event.last_event_id.is_empty() {
            let text = std::str::from_utf8(&event.last_event_id).unwrap();
            assert!(text.parse::<EventId>().is_ok(), "{text:?}");
        }
    }
});

fn normalize(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'\r' if payload.get(i + 1) == Some(&b'\n') => {
                out.push(b'\n');
                i += 1;
            }
            b'\r' => out.push(b'\n'),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The WHATWG event-stream interpretation, on bytes: a line ends at CR LF, LF or CR (none of
/// them occurs inside a UTF-8 sequence, so splitting bytes is splitting text), and the stream
/// ends without dispatching an unterminated event.
fn parse(stream: &[u8]) -> Vec<Dispatched> {
    let mut events = Vec::new();
    let (mut data, mut kind, mut last_id) = (Vec::new(), Vec::new(), Vec::new());
    let mut retry = None;
    let mut rest = stream;
    // Only lines that end are processed.
    while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        let line = &rest[..end];
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') { 2 } else { 1 };
        rest = &rest[end + skip..];
        if line.is_empty() {
            // Dispatch.
            if data.is_empty() {
                kind.clear();
                continue;
            }
            if data.last() == Some(&b'\n') {
                data.pop();
            }
            let event_kind = if kind.is_empty() { b"message".to_vec() } else { std::mem::take(&mut kind) };
            events.push(Dispatched {
                kind: event_kind,
                data: std::mem::take(&mut data),
                last_event_id: last_id.clone(),
                retry,
            });
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => kind = value.to_vec(),
            b"data" => {
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            b"id" if !value.contains(&0) => last_id = value.to_vec(),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                retry = std::str::from_utf8(value).unwrap().parse().ok();
            }
            _ => {}
        }
    }
    assert!(rest.is_empty(), "the stream ends inside a line: {rest:?}");
    events
}
