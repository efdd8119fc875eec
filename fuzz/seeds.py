#!/usr/bin/env python3
"""Writes the seeds of the structured targets (engine_handle, sse_encoder) as the bytes that
`arbitrary` 1.x decodes into the scenarios below. The text targets' seeds are written by hand.

    python3 fuzz/seeds.py      # rewrites fuzz/corpus/{engine_handle,sse_encoder}/seed-*

The encoding mirrors `#[derive(Arbitrary)]`: an enum variant is a little-endian u32 `t` with
`(t * variants) >> 32` the variant's index, integers are little-endian, a bool is a byte whose
low bit is set, `Option` is a bool then the value, and every `Vec` element is preceded by a
`true` byte (a `false` byte, or the end of the input for the last field, ends it). The types
here must follow the field and variant order of the targets; replay a seed with
`MCP_FUZZ_TRACE=1 cargo +nightly fuzz run engine_handle <seed>` to see what it decodes to.
"""

import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def variant(index, count, *fields):
    tag = ((2 * index + 1) << 32) // (2 * count)
    return struct.pack("<I", tag) + b"".join(fields)


def u8(n):
    return bytes([n])


def u16(n):
    return struct.pack("<H", n)


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def boolean(b):
    return b"\x01" if b else b"\x00"


def option(value):
    return b"\x00" if value is None else b"\x01" + value


def vec(items, last=False):
    out = b"".join(b"\x01" + item for item in items)
    return out if last else out + b"\x00"


# ---------------------------------------------------------------------------------------------
# engine_handle

ADAPTIVE, JSON_MODE, SSE_MODE = range(3)
V2025_03_26, V2025_06_18, V2025_11_25 = range(3)
ECHO, NOTIFY, WAIT, WAIT_THEN_LOG, ASK, CLOSE_STREAM, ANNOUNCE, MISSING = range(8)
GET, POST, DELETE, PUT, OPTIONS = range(5)


END_RELEASE, END_DELETE, END_HANG_UP = range(3)


def config(mode=ADAPTIVE, stateless=False, activity_holds=True, keep_alive=True, ending=END_RELEASE):
    return (
        variant(mode, 3)
        + boolean(stateless)
        + boolean(activity_holds)
        + boolean(keep_alive)
        + variant(ending, 3)
    )


def header_usual(value):
    return b"\xff" + value  # the first byte: 32 and up is the usual value


HEADER_ABSENT = b"\x00"


def id_number(n):
    return variant(0, 3, u8(n))


def msg_initialize(id_, version, capabilities=True):
    return variant(0, 12, id_number(id_), u8(version), boolean(capabilities))


MSG_INITIALIZED = variant(1, 12)


def msg_ping(id_):
    return variant(2, 12, id_number(id_))


def msg_tools_list(id_):
    return variant(3, 12, id_number(id_))


def msg_call(id_, tool, count=0, progress=False):
    return variant(4, 12, id_number(id_), variant(tool, 8), u8(count), boolean(progress))


def msg_cancel(id_):
    return variant(5, 12, id_number(id_))


def msg_answer(server_request, error=False):
    return variant(6, 12, u8(server_request - 1), boolean(error))


def msg_set_level(id_, level):
    return variant(7, 12, id_number(id_), u8(level))


def msg_subscribe(id_):
    return variant(8, 12, id_number(id_))


def req(method, body=None, session=None, version=None, last_event_id=None, accept=0, tenant=None):
    """A request as a well-behaved client sends it; `session` and `last_event_id` index the
    ids issued and seen so far in the run."""
    if body is None:
        body_bytes = variant(0, 4)
    elif isinstance(body, list):
        body_bytes = variant(3, 4, vec(body))
    else:
        body_bytes = variant(2, 4, body)
    return (
        variant(method, 5)
        + u8(0)  # odd_path
        + header_usual(variant(accept, 4))  # accept: both, json, event-stream, */*
        + (header_usual(b"") if method == POST else HEADER_ABSENT)  # content type
        + header_usual(variant(0, 4))  # host: localhost:3000
        + option(None)  # origin
        + option(None if version is None else header_usual(u8(version)))
        + (u8(0) if session is None else u8(0xFF) + u8(session))  # none, or an issued id
        + option(None if last_event_id is None else variant(0, 3, u8(last_event_id)))
        + option(None if tenant is None else u8(tenant))
        + u8(0)  # deny
        + body_bytes
    )


def send(request):
    return variant(0, 6, request)


def advance(wait):
    return variant(1, 6, variant(wait, 6))


SECOND, HEARTBEAT, MINUTE, HALF_HOUR, FIVE_HOURS = range(5)


def read(body, chunks=7):
    return variant(2, 6, u8(body), u8(chunks))


def drop_body(body):
    return variant(3, 6, u8(body))


def drop_pending(pending):
    return variant(4, 6, u8(pending))


RELEASE = variant(5, 6)


def engine_input(cfg, steps):
    return cfg + vec(steps, last=True)


def connect(version, session=0):
    """`initialize`, then `notifications/initialized` on the session it issued."""
    return [
        send(req(POST, msg_initialize(1, version))),
        send(req(POST, MSG_INITIALIZED, session=session, version=version)),
    ]


def session_call(tool, id_=2, count=0, progress=False, version=V2025_11_25, session=0):
    return send(req(POST, msg_call(id_, tool, count, progress), session=session, version=version))


ENGINE_SEEDS = {
    "seed-call-and-stream": engine_input(
        config(),
        connect(V2025_11_25)
        + [
            send(req(POST, msg_tools_list(2), session=0, version=V2025_11_25)),
            session_call(ECHO, id_=3),
            session_call(NOTIFY, id_=4, count=3, progress=True),
            read(0),
            send(req(GET, session=0, version=V2025_11_25, accept=2)),
            advance(HEARTBEAT),
            read(1),
            send(req(DELETE, session=0, version=V2025_11_25)),
            read(1),
        ],
    ),
    "seed-resume-after-drop": engine_input(
        config(ending=END_DELETE),
        connect(V2025_11_25)
        + [
            session_call(WAIT_THEN_LOG, id_=5),
            read(0, chunks=1),
            drop_body(0),
            RELEASE,
            send(req(GET, session=0, version=V2025_11_25, last_event_id=0, accept=2)),
            read(0),
        ],
    ),
    "seed-json-mode-elicit": engine_input(
        config(mode=JSON_MODE, ending=END_HANG_UP),
        connect(V2025_06_18)
        + [
            session_call(ECHO, id_=2, version=V2025_06_18),
            session_call(ASK, id_=3, version=V2025_06_18),
            read(0, chunks=2),
            send(req(POST, msg_answer(1), session=0, version=V2025_06_18)),
            read(0),
            session_call(WAIT, id_=4, version=V2025_06_18),
            drop_pending(0),
        ],
    ),
    "seed-batch-2025-03-26": engine_input(
        config(mode=SSE_MODE, ending=END_DELETE),
        connect(V2025_03_26)
        + [
            send(req(POST, [msg_ping(7), msg_call(8, NOTIFY, count=6), MSG_INITIALIZED], session=0)),
            read(0, chunks=2),
            send(req(POST, [msg_call(9, WAIT), msg_cancel(9)], session=0)),
            read(1),
            send(req(POST, msg_set_level(10, 4), session=0)),
        ],
    ),
    "seed-expiry": engine_input(
        config(activity_holds=False),
        [send(req(POST, msg_initialize(1, V2025_11_25))), advance(MINUTE)]
        + connect(V2025_11_25, session=1)
        + [
            send(req(GET, session=1, version=V2025_11_25, accept=2)),
            advance(HALF_HOUR),
            send(req(POST, msg_ping(3), session=1, version=V2025_11_25)),
            advance(FIVE_HOURS),
        ],
    ),
    "seed-subscribe-announce": engine_input(
        config(),
        connect(V2025_11_25)
        + [send(req(POST, msg_initialize(1, V2025_11_25)))]
        + [send(req(POST, MSG_INITIALIZED, session=1, version=V2025_11_25))]
        + [
            send(req(POST, msg_subscribe(2), session=1, version=V2025_11_25)),
            send(req(GET, session=1, version=V2025_11_25, accept=2)),
            session_call(ANNOUNCE, id_=3),
            read(0),
            session_call(CLOSE_STREAM, id_=4),
            read(1),
        ],
    ),
    "seed-stateless": engine_input(
        config(stateless=True),
        [
            send(req(POST, msg_initialize(1, V2025_11_25))),
            send(req(POST, msg_call(2, NOTIFY, count=2), version=V2025_11_25)),
            read(0),
            send(req(GET, accept=2)),
        ],
    ),
}

# ---------------------------------------------------------------------------------------------
# sse_encoder


def raw_payload(data):
    return variant(0, 2, vec([u8(b) for b in data]))


def item_message(stream, seq, data):
    return variant(0, 5, u32(stream), u64(seq), raw_payload(data))


def item_init(stream, seq, tick):
    return variant(1, 5, u32(stream), u64(seq), u64(tick))


def item_heartbeat(stream, seq, tick):
    return variant(2, 5, u32(stream), u64(seq), u64(tick))


def item_lagged(dropped):
    return variant(3, 5, u64(dropped))


def item_bare(data):
    return variant(4, 5, raw_payload(data))


def sse_input(retry_ms, items):
    return u64(retry_ms) + vec(items, last=True)


LOG = json.dumps(
    {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hello"}},
    separators=(",", ":"),
).encode()
PRETTY = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"content": []}}, indent=2).encode()

SSE_SEEDS = {
    "seed-primed-stream": sse_input(
        1000,
        [item_init(3, 0, 1763700000123), item_message(3, 1, LOG), item_heartbeat(3, 1, 1763700015123)],
    ),
    "seed-line-breaks": sse_input(
        1500,
        [
            item_message(0, 17, PRETTY),
            item_message(0, 18, PRETTY.replace(b"\n", b"\r\n")),
            item_message(0, 19, b"a\rb\r\n\r\nc\n"),
            item_bare(b"\n"),
        ],
    ),
    "seed-lagged": sse_input(250, [item_message(1, 5, b"{}"), item_lagged(12), item_message(1, 18, b"")]),
}


def write(target, seeds):
    directory = os.path.join(ROOT, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("engine_handle", ENGINE_SEEDS)
    write("sse_encoder", SSE_SEEDS)
