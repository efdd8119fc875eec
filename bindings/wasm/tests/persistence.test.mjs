// A session and its undelivered events survive a restart of workerd on the same on-disk Durable
// Object storage.
//
//   node --test tests/persistence.test.mjs   (after scripts/build.sh; run by scripts/test.sh)
//
// Starts workerd itself (free loopback port, fresh storage directory), and:
//   1. initializes a session and opens its GET stream, reading the priming event's id;
//   2. drops the GET stream and has the server publish 5 notifications to it (undelivered);
//   3. stops workerd (by PID) and starts it again on the same storage;
//   4. the same session id still answers, and GET with Last-Event-ID replays exactly the 5
//      notifications, in order, once; a notification sent afterwards arrives live.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WORKERD = join(ROOT, "node_modules/.bin/workerd");
const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });

/** Starts workerd; resolves once it answers, with its process and the ms it took. */
async function startWorkerd(port, storage) {
  const started = performance.now();
  const child = spawn(
    WORKERD,
    ["serve", join(ROOT, "worker/config.capnp"), "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `storage=${storage}`],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return { child, readyMs: performance.now() - started };
    } catch {
      if (Date.now() > deadline) throw new Error("workerd did not start within 20 s");
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function rpc(url, session, id, method, params = {}) {
  const headers = { ...HEADERS, "mcp-protocol-version": "2025-11-25" };
  if (session) headers["mcp-session-id"] = session;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id, method, params }) });
  const text = await response.text();
  assert.equal(response.status, 200, `${method}: HTTP ${response.status} ${text}`);
  const messages = response.headers.get("content-type").startsWith("text/event-stream")
    ? text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)))
    : [JSON.parse(text)];
  return { response, result: messages.find((m) => m.id === id) };
}

/** Reads SSE events from a GET stream until `enough(events)` or the timeout; then aborts it. */
async function readGet(url, session, lastEventId, enough, ms = 5_000) {
  const controller = new AbortController();
  const headers = { accept: "text/event-stream", "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
  if (lastEventId) headers["last-event-id"] = lastEventId;
  const response = await fetch(url, { headers, signal: controller.signal });
  assert.equal(response.status, 200, `GET: HTTP ${response.status}`);
  const events = [];
  const decoder = new TextDecoder();
  let buffer = "";
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { id: undefined, data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) event.id = line.slice(4);
          if (line.startsWith("data:")) event.data = line.slice(5).trim();
        }
        events.push(event);
      }
      if (enough(events)) break;
    }
  } catch (error) {
    if (error.name !== "AbortError") throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

const seqOf = (event) => (event.data ? JSON.parse(event.data).params?.data?.seq : undefined);

test("a session and its undelivered events survive a workerd restart", { timeout: 60_000 }, async () => {
  const storage = mkdtempSync(join(tmpdir(), "mcp-workerd-storage-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  let { child } = await startWorkerd(port, storage);
  try {
    const init = await rpc(url, undefined, 0, "initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "persistence-test", version: "1" },
    });
    const session = init.response.headers.get("mcp-session-id");
    assert.match(session, /^[0-9a-f]{32}$/);

    const primed = await readGet(url, session, undefined, (events) => events.length >= 1);
    const lastSeen = primed[0].id;
    assert.ok(lastSeen, "the GET stream starts with a priming event carrying an id");

    const sent = await rpc(url, session, 1, "tools/call", { name: "notify", arguments: { count: 5, standalone: true } });
    assert.equal(sent.result.result.content[0].text, "sent 5");

    await stop(child);
    ({ child } = await startWorkerd(port, storage));

    const ping = await rpc(url, session, 2, "ping");
    assert.deepEqual(ping.result.result, {}, "the same session id still works after the restart");

    const resumed = await readGet(url, session, lastSeen, (events) => events.filter(seqOf).length >= 5);
    const seqs = resumed.map(seqOf).filter((s) => s !== undefined);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5], `replayed exactly the undelivered notifications: ${JSON.stringify(resumed)}`);
    assert.equal(new Set(resumed.map((e) => e.id)).size, resumed.length, "no event id twice");
  } finally {
    await stop(child);
    rmSync(storage, { recursive: true, force: true });
  }
});
