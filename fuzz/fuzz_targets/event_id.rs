//! `Last-Event-ID` parsing on arbitrary text: never a panic; an accepted id is exactly the text
//! the engine would send for it, and ids order by stream, then message, then marker tick.
//!
//! The input is one or more candidate ids separated by newlines, so that seeds read as ids.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use mcp_session::{EventId, StreamId};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // The engine only parses header values that are visible ASCII; lossy text still probes
        // the parser.
        check_one(&String::from_utf8_lossy(bytes));
        return;
    };
    let mut ids: Vec<EventId> = text.split('\n').filter_map(check_one).collect();
    // Pairs are compared all against all: a few ids are enough for the order, and many would
    // only slow the search down.
    ids.truncate(16);
    for a in &ids {
        for b in &ids {
            check_order(*a, *b);
        }
    }
});

/// Parses `text`; an accepted id round-trips through its text form.
fn check_one(text: &str) -> Option<EventId> {
    let id: EventId = text.parse().ok()?;
    let shown = id.to_string();
    // Ids are the canonical decimal form: no signs, no spaces, no leading zeros beyond "0".
    assert!(shown.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.'), "{shown:?}");
    assert_eq!(shown.parse::<EventId>(), Ok(id), "{text:?} -> {shown:?}");
    let (stream, seq, tick) = fields(text);
    assert_eq!(id.stream(), StreamId::new(stream), "{text:?}");
    assert_eq!(id.seq(), seq, "{text:?}");
    assert_eq!(id.is_marker(), tick.is_some(), "{text:?}");
    if let Some(tick) = tick {
        assert_ne!(tick, 0, "a marker's tick is never zero: {text:?}");
        assert_eq!(id, EventId::marker(id.stream(), seq, tick));
    } else {
        assert_eq!(id, EventId::message(id.stream(), seq));
    }
    // Text differing from the canonical form only by leading zeros names the same id.
    if shown != text {
        assert_eq!(strip_zeros(text), shown, "{text:?} is not a spelling of {shown:?}");
    }
    Some(id)
}

/// An independent reading of `<stream>-<seq>[.<tick>]` for text the parser accepted.
fn fields(text: &str) -> (u32, u64, Option<u64>) {
    let (stream, rest) = text.split_once('-').expect("accepted ids have a dash");
    let (seq, tick) = match rest.split_once('.') {
        Some((seq, tick)) => (seq, Some(tick.parse().expect("a decimal tick"))),
        None => (rest, None),
    };
    (stream.parse().expect("a decimal stream"), seq.parse().expect("a decimal seq"), tick)
}

fn strip_zeros(text: &str) -> String {
    let number = |n: &str| {
        let trimmed = n.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    };
    let (stream, rest) = text.split_once('-').unwrap();
    match rest.split_once('.') {
        Some((seq, tick)) => format!("{}-{}.{}", number(stream), number(seq), number(tick)),
        None => format!("{}-{}", number(stream), number(rest)),
    }
}

/// Ids sort by stream, then by the message they follow, then messages before their markers and
/// markers by tick: the order in which one stream sends them.
fn check_order(a: EventId, b: EventId) {
    let key = |id: EventId| {
        let tick = fields(&id.to_string()).2.unwrap_or(0);
        (id.stream().number(), id.seq(), tick)
    };
    let expected = key(a).cmp(&key(b));
    assert_eq!(a.cmp(&b), expected, "{a} vs {b}");
    assert_eq!(a.partial_cmp(&b), Some(expected));
    assert_eq!(a == b, expected == Ordering::Equal);
    assert_eq!(b.cmp(&a), expected.reverse());
}
