"""Python SDK client check: initialize, tools/list, tools/call echo, then subscribe to
test://watched-resource and wait for notifications/resources/updated on the GET stream.

    .venv/bin/python python_client.py http://127.0.0.1:PORT/mcp

Prints one line per step and exits 0 when every step worked, 1 otherwise.
Written for the `mcp` package pinned in requirements.txt (2.x API); the 1.x names are used when
the 2.x ones are missing.
"""

import sys
import warnings

import anyio

import mcp
from mcp import types

try:  # 2.x
    from mcp.client.streamable_http import streamable_http_client as _open_transport

    def open_transport(url):
        return _open_transport(url)

except ImportError:  # 1.x: yields (read, write, get_session_id)
    from mcp.client.streamable_http import streamablehttp_client as _open_transport

    def open_transport(url):
        return _open_transport(url)


WATCHED = "test://watched-resource"
# 2.x warns that resources/subscribe is gone in the 2026-07-28 revision; this server speaks 2025-11-25.
warnings.filterwarnings("ignore", message="resources/subscribe is removed")
STEP_TIMEOUT = 10


def step(name):
    print(f"python client: {name}", flush=True)


def notification_method(message):
    """The JSON-RPC method of a notification, whether wrapped in a RootModel (1.x) or not."""
    inner = getattr(message, "root", message)
    return getattr(inner, "method", None), getattr(inner, "params", None)


async def main(url):
    updated = anyio.Event()
    seen_uri = []

    async def on_message(message):
        if isinstance(message, Exception):
            step(f"transport exception: {message!r}")
            return
        method, params = notification_method(message)
        if method == "notifications/resources/updated":
            seen_uri.append(str(getattr(params, "uri", "")))
            updated.set()

    async with open_transport(url) as streams:
        read, write = streams[0], streams[1]
        async with mcp.ClientSession(read, write, message_handler=on_message) as session:
            with anyio.fail_after(STEP_TIMEOUT):
                init = await session.initialize()
            info = getattr(init, "server_info", None) or getattr(init, "serverInfo")
            version = getattr(init, "protocol_version", None) or getattr(init, "protocolVersion")
            step(f"initialize ok: {info.name} {info.version}, protocol {version}")

            with anyio.fail_after(STEP_TIMEOUT):
                tools = await session.list_tools()
            names = {tool.name for tool in tools.tools}
            missing = {"echo", "test_simple_text"} - names
            if missing:
                raise AssertionError(f"tools/list lacks {sorted(missing)}")
            step(f"tools/list ok: {len(names)} tools")

            with anyio.fail_after(STEP_TIMEOUT):
                result = await session.call_tool("echo", {"text": "hello from python"})
            is_error = getattr(result, "is_error", None)
            if is_error is None:
                is_error = getattr(result, "isError", False)
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            if is_error or texts != ["hello from python"]:
                raise AssertionError(f"echo returned {result!r}")
            step("tools/call echo ok")

            with anyio.fail_after(STEP_TIMEOUT):
                await session.subscribe_resource(WATCHED)
                await updated.wait()
            if WATCHED not in seen_uri:
                raise AssertionError(f"resources/updated for {seen_uri}, expected {WATCHED}")
            step("GET SSE stream: notifications/resources/updated received")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python_client.py URL", file=sys.stderr)
        sys.exit(2)
    try:
        anyio.run(main, sys.argv[1])
    except BaseException as error:  # noqa: BLE001 - report any failure as the check's verdict
        if isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0] if len(error.exceptions) == 1 else error
        print(f"python client: FAILED: {error!r}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("python client: ok", flush=True)
