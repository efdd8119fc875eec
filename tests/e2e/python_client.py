"""Python SDK client check, both eras against one server.

    .venv/bin/python python_client.py http://127.0.0.1:PORT/mcp
    E2E_TRACE=1 .venv/bin/python python_client.py URL     # also print every HTTP request and response head

legacy (`Client(url, mode="legacy")`, the 2025 initialize handshake and a session): initialize,
tools/list, tools/call echo, then resources/subscribe test://watched-resource and
notifications/resources/updated on the GET stream.

modern (`Client(url)`, mcp 2.x's default mode="auto": it probes server/discover and must stay on
2026-07-28): the negotiated version and the probe on the wire, tools/list, tools/call echo,
test_tool_with_progress with a progress callback (0, 50, 100 of 100),
test_input_required_result_elicitation answered by the elicitation callback (the client drives the
input_required round itself: a second tools/call with inputResponses), and
subscriptions/listen for tool list changes and for updates of test://watched-resource while
test_trigger_tool_change and test_trigger_resource_update run.

Prints one line per step and exits 0 when every step worked, 1 otherwise.
Written for the `mcp` package pinned in requirements.txt (2.x: `mcp.Client`, `mode=`, `listen()`).
"""

import json
import os
import sys
import warnings

import anyio
import httpx2

import mcp
from mcp import types
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged

WATCHED = "test://watched-resource"
MODERN = "2026-07-28"
# 2.x warns that resources/subscribe is gone in the 2026-07-28 revision; the legacy flow uses it on purpose.
warnings.filterwarnings("ignore", message="resources/subscribe is removed")
STEP_TIMEOUT = 10
TRACE = bool(os.environ.get("E2E_TRACE"))


def step(name):
    print(f"python client: {name}", flush=True)


class Wire:
    """Records the JSON-RPC method (from the Mcp-Method header or the body) and the headers of
    every request the SDK sends, so a flow can assert what went over the wire."""

    def __init__(self, label):
        self.label = label
        self.requests = []  # (http method, jsonrpc method or None, headers)

    async def on_request(self, request):
        rpc = request.headers.get("mcp-method")
        body = b""
        if request.method == "POST":
            body = request.content
            if rpc is None:
                try:
                    rpc = json.loads(body).get("method")
                except (ValueError, AttributeError):
                    rpc = None
        self.requests.append((request.method, rpc, dict(request.headers)))
        if TRACE:
            print(f"  > [{self.label}] {request.method} {request.headers.get('mcp-protocol-version', '-')} "
                  f"session={request.headers.get('mcp-session-id', '-')} {body.decode(errors='replace')[:600]}",
                  flush=True)

    async def on_response(self, response):
        if TRACE:
            print(f"  < [{self.label}] {response.status_code} {response.headers.get('content-type', '')} "
                  f"session={response.headers.get('mcp-session-id', '-')}", flush=True)

    def methods(self):
        return [rpc for (verb, rpc, _) in self.requests if verb == "POST"]

    def transport(self, url):
        client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
        )
        return client, streamable_http_client(url, http_client=client)


def text_of(result):
    return [c.text for c in result.content if getattr(c, "type", None) == "text"]


async def legacy_flow(url):
    updated = anyio.Event()
    seen_uri = []

    async def on_message(message):
        if isinstance(message, Exception):
            step(f"legacy: transport exception: {message!r}")
            return
        if getattr(message, "method", None) == "notifications/resources/updated":
            seen_uri.append(str(message.params.uri))
            updated.set()

    wire = Wire("legacy")
    http, transport = wire.transport(url)
    async with http:
        # No fail_after around the connect: the Client's task group must not nest in a shorter scope.
        async with mcp.Client(transport, mode="legacy", message_handler=on_message, cache=None) as client:
            if client.protocol_version in (MODERN,):
                raise AssertionError(f"mode='legacy' negotiated {client.protocol_version}")
            info = client.server_info
            init = client.session.initialize_result
            if init is None:
                raise AssertionError("mode='legacy' connected without an InitializeResult")
            if "server/discover" in wire.methods() or wire.methods()[:1] != ["initialize"]:
                raise AssertionError(f"legacy connect sent {wire.methods()}, expected initialize first and no discover")
            step(f"legacy: initialize ok: {info.name} {info.version}, protocol {client.protocol_version}")

            with anyio.fail_after(STEP_TIMEOUT):
                tools = await client.list_tools()
            names = {tool.name for tool in tools.tools}
            missing = {"echo", "test_simple_text"} - names
            if missing:
                raise AssertionError(f"tools/list lacks {sorted(missing)}")
            sessions = {h.get("mcp-session-id") for (_, rpc, h) in wire.requests if rpc == "tools/list"}
            if len(sessions) != 1 or None in sessions:
                raise AssertionError(f"tools/list went with session ids {sessions}, expected the one from initialize")
            step(f"legacy: tools/list ok: {len(names)} tools, session {sessions.pop()}")

            with anyio.fail_after(STEP_TIMEOUT):
                result = await client.call_tool("echo", {"text": "hello from python"})
            if result.is_error or text_of(result) != ["hello from python"]:
                raise AssertionError(f"echo returned {result!r}")
            step("legacy: tools/call echo ok")

            with anyio.fail_after(STEP_TIMEOUT):
                await client.subscribe_resource(WATCHED)
                await updated.wait()
            if WATCHED not in seen_uri:
                raise AssertionError(f"resources/updated for {seen_uri}, expected {WATCHED}")
            gets = [h for (verb, _, h) in wire.requests if verb == "GET"]
            if not gets:
                raise AssertionError("resources/updated arrived but the SDK opened no GET stream")
            step("legacy: GET SSE stream: notifications/resources/updated received")


async def modern_flow(url):
    progress = []
    elicited = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async def on_elicit(context, params):
        elicited.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    wire = Wire("modern")
    http, transport = wire.transport(url)
    async with http:
        # mode="auto" is the default; the SDK bounds its server/discover probe (10 s) itself.
        async with mcp.Client(transport, elicitation_callback=on_elicit, cache=None) as client:
            if client.protocol_version != MODERN:
                raise AssertionError(
                    f"mode='auto' negotiated {client.protocol_version!r}, expected {MODERN} "
                    f"(requests: {wire.methods()})")
            if client.session.discover_result is None or client.session.initialize_result is not None:
                raise AssertionError("mode='auto' did not settle on the server/discover result")
            if wire.methods() != ["server/discover"]:
                raise AssertionError(f"auto connect sent {wire.methods()}, expected just server/discover")
            discover = client.session.discover_result
            info = client.server_info
            step(f"modern: server/discover ok: protocol {client.protocol_version}, supported "
                 f"{discover.supported_versions}, server {info.name if info else None}")

            with anyio.fail_after(STEP_TIMEOUT):
                tools = await client.list_tools()
            names = {tool.name for tool in tools.tools}
            missing = {"echo", "test_tool_with_progress", "test_input_required_result_elicitation",
                       "test_trigger_tool_change", "test_trigger_resource_update"} - names
            if missing:
                raise AssertionError(f"tools/list lacks {sorted(missing)}")
            step(f"modern: tools/list ok: {len(names)} tools")

            with anyio.fail_after(STEP_TIMEOUT):
                result = await client.call_tool("echo", {"text": "hello from python"})
            if result.is_error or text_of(result) != ["hello from python"]:
                raise AssertionError(f"echo returned {result!r}")
            step("modern: tools/call echo ok")

            with anyio.fail_after(STEP_TIMEOUT):
                result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            if result.is_error or text_of(result) != ["Progress reported"]:
                raise AssertionError(f"test_tool_with_progress returned {result!r}")
            if [(p, t) for (p, t, _) in progress] != [(0, 100), (50, 100), (100, 100)]:
                raise AssertionError(f"progress seen: {progress}, expected 0, 50, 100 of 100")
            step(f"modern: progress ok: {[p for (p, _, _) in progress]} of 100")

            calls_before = wire.methods().count("tools/call")
            with anyio.fail_after(STEP_TIMEOUT):
                result = await client.call_tool("test_input_required_result_elicitation", {})
            rounds = wire.methods().count("tools/call") - calls_before
            if result.is_error or text_of(result) != ["Hello, Ada!"]:
                raise AssertionError(f"test_input_required_result_elicitation returned {result!r}")
            if len(elicited) != 1 or rounds != 2:
                raise AssertionError(f"{len(elicited)} elicitations in {rounds} tools/call rounds, expected 1 in 2")
            step(f"modern: input_required elicitation ok: {elicited[0].message!r} answered, {rounds} rounds, "
                 "'Hello, Ada!'")

            changed = anyio.Event()
            updated = anyio.Event()
            updates = []
            with anyio.fail_after(STEP_TIMEOUT):
                async with client.listen(tools_list_changed=True, resource_subscriptions=[WATCHED]) as subscription:
                    honored = subscription.honored
                    if not honored.tools_list_changed:
                        raise AssertionError(f"listen honoured {honored!r}, not toolsListChanged")
                    if list(honored.resource_subscriptions or ()) != [WATCHED]:
                        raise AssertionError(f"listen honoured {honored!r}, not resourceSubscriptions [{WATCHED}]")

                    async def watch():
                        async for event in subscription:
                            if isinstance(event, ToolsListChanged):
                                changed.set()
                            elif isinstance(event, ResourceUpdated):
                                updates.append(event.uri)
                                updated.set()

                    async with anyio.create_task_group() as group:
                        group.start_soon(watch)
                        result = await client.call_tool("test_trigger_tool_change", {})
                        if result.is_error:
                            raise AssertionError(f"test_trigger_tool_change returned {result!r}")
                        await changed.wait()
                        update = await client.call_tool("test_trigger_resource_update", {"uri": WATCHED})
                        if update.is_error or not text_of(update)[0].startswith("told "):
                            raise AssertionError(f"test_trigger_resource_update returned {update!r}")
                        await updated.wait()
                        group.cancel_scope.cancel()
            if updates != [WATCHED]:
                raise AssertionError(f"resources/updated for {updates}, expected {WATCHED}")
            step(f"modern: subscriptions/listen ok: tools list_changed after test_trigger_tool_change "
                 f"({text_of(result)[0]}), resources/updated {WATCHED} after test_trigger_resource_update "
                 f"({text_of(update)[0]})")

            stray = [(verb, rpc) for (verb, rpc, h) in wire.requests
                     if verb != "POST" or rpc == "initialize" or "mcp-session-id" in h]
            if stray:
                raise AssertionError(f"the modern flow sent session-era requests: {stray}")


async def main(url):
    await legacy_flow(url)
    await modern_flow(url)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python_client.py URL", file=sys.stderr)
        sys.exit(2)
    try:
        anyio.run(main, sys.argv[1])
    except BaseException as error:  # noqa: BLE001 - report any failure as the check's verdict
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        print(f"python client: FAILED: {error!r}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("python client: ok", flush=True)
