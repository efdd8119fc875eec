"""Faults among three replicas on one Redis, the client choosing the replica of every request.

    python3 replica_faults.py REPLICAS_WORK_DIR

REPLICAS_WORK_DIR is the directory tests/e2e/replicas.sh prints ("replica pids in DIR/..."):
replica{1,2,3}.out name each replica's address, replica{1,2,3}.pid its process. The script is
the load balancer (a deterministic, non-sticky one) and checks, for a long call with progress:

1. the replica holding the client's resumed stream is killed (SIGKILL) mid-stream: the client
   resumes on another and sees every progress step once, in order, then the result once;
2. the replica running a call is paused (SIGSTOP) past its lease while the client's stream is
   resumed elsewhere: the stream ends with exactly one JSON-RPC error for the call; continued
   (SIGCONT), the paused replica adds nothing to it (a resume replays the same, then ends).

Standard library only. Prints one PASS line per check; exits non-zero on the first failure.
Waits are bounded: the lease of a replica runs 15 s and is checked every 5 s.
"""

import http.client
import json
import os
import re
import signal
import sys
import time

VERSION = "2025-11-25"
LEASE_BOUND = 15 + 5 + 10  # lease, tick, slack (seconds)


class Replica:
    def __init__(self, work, n):
        with open(os.path.join(work, f"replica{n}.out")) as out:
            host, port = re.search(r"127\.0\.0\.1:(\d+)", out.read()).group(0).split(":")
        self.port = int(port)
        with open(os.path.join(work, f"replica{n}.pid")) as pid:
            self.pid = int(pid.read().strip())
        self.name = f"replica{n}"

    def request(self, method, session=None, body=None, last_event_id=None, timeout=30):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": VERSION}
        if body is not None:
            headers["content-type"] = "application/json"
        if session:
            headers["mcp-session-id"] = session
        if last_event_id:
            headers["last-event-id"] = last_event_id
        connection.request(method, "/mcp", body=None if body is None else json.dumps(body), headers=headers)
        return connection, connection.getresponse()


def events(response):
    """(id, message) for every SSE event with data, as they arrive."""
    event_id, data = None, []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.decode().rstrip("\r\n")
        if line == "":
            text = "\n".join(data)
            if text:  # priming events and keep-alives carry no message
                yield event_id, json.loads(text)
            event_id, data = None, []
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def initialize(replica, other):
    _, response = replica.request("POST", body={
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "faults", "version": "1"}},
    })
    session = response.getheader("mcp-session-id")
    response.read()
    _, response = other.request("POST", session, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    if response.status != 202:
        fail(f"notifications/initialized on {other.name} answered {response.status}")
    return session


def long_task(replica, session, call_id, steps, step_ms):
    body = {
        "jsonrpc": "2.0", "id": call_id, "method": "tools/call",
        "params": {"name": "long_task", "arguments": {"steps": steps, "step_ms": step_ms},
                   "_meta": {"progressToken": f"t{call_id}"}},
    }
    connection, response = replica.request("POST", session, body)
    if response.status != 200:
        fail(f"long_task on {replica.name} answered {response.status}")
    return connection, events(response)


def progress_of(message):
    return message.get("params", {}).get("progress") if message.get("method") == "notifications/progress" else None


def delivery_replica_dies(r1, r2, r3):
    session = initialize(r1, r2)
    steps = 30
    connection, stream = long_task(r1, session, 1, steps, 100)
    seen, last = [], None
    for event_id, message in stream:
        last = event_id
        if progress_of(message) is not None:
            seen.append(progress_of(message))
            break
    connection.close()
    # Resumed on r2, which is killed while it delivers.
    connection, response = r2.request("GET", session, last_event_id=last)
    stream = events(response)
    for event_id, message in stream:
        last = event_id
        seen.append(progress_of(message))
        if len(seen) == 4:
            break
    os.kill(r2.pid, signal.SIGKILL)
    connection.close()
    # And again on r3, from the last event the client had.
    connection, response = r3.request("GET", session, last_event_id=last)
    result = None
    for event_id, message in events(response):
        if progress_of(message) is not None:
            seen.append(progress_of(message))
        elif message.get("id") == 1:
            if result is not None:
                fail("the result arrived twice")
            result = message
    connection.close()
    if seen != [float(n) for n in range(1, steps + 1)]:
        fail(f"progress across the kill, not each step once in order: {seen}")
    if not result or "result" not in result:
        fail(f"no result after the kill: {result}")
    print(f"PASS the replica holding a resumed stream killed mid-stream: {steps} steps once, in order, then the result")


def producer_replica_paused(r1, r3):
    session = initialize(r3, r1)
    connection, stream = long_task(r3, session, 2, 100, 300)
    last = None
    for event_id, message in stream:
        last = event_id
        if progress_of(message) is not None:
            break
    connection.close()
    os.kill(r3.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        connection, response = r1.request("GET", session, last_event_id=last, timeout=LEASE_BOUND)
        rest = [message for _, message in events(response)]
        connection.close()
        waited = time.monotonic() - started
        errors = [m for m in rest if m.get("id") == 2 and "error" in m]
        if len(errors) != 1 or rest[-1] is not errors[0]:
            fail(f"a paused producer's stream did not end with exactly one error: {rest}")
    finally:
        os.kill(r3.pid, signal.SIGCONT)
    # The paused replica runs on; the stream takes nothing more from it.
    time.sleep(1)
    connection, response = r1.request("GET", session, last_event_id=last)
    again = [message for _, message in events(response)]
    connection.close()
    if again != rest:
        fail(f"after SIGCONT the stream changed: {again} (was {rest})")
    print(f"PASS the replica running a call paused past its lease: one error after {waited:.0f} s, nothing from it after SIGCONT")


def main():
    work = sys.argv[1]
    r1, r2, r3 = (Replica(work, n) for n in (1, 2, 3))
    delivery_replica_dies(r1, r2, r3)
    producer_replica_paused(r1, r3)


if __name__ == "__main__":
    main()
