// Behaviours of the example worker that only workerd shows: the tenant directory's fan-out across
// Durable Objects (to sessions and to 2026-07-28 listen streams), and header bytes and `Host` as
// workerd hands them to the wasm.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp node --test tests/worker.test.mjs   (run by scripts/test.sh)

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect } from "node:net";

const URL_ = process.env.MCP_URL;
if (!URL_) throw new Error("set MCP_URL to the worker's endpoint, e.g. http://127.0.0.1:8787/mcp");
const VERSION = "2025-11-25";
const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INITIALIZE = {
  protocolVersion: VERSION,
  capabilities: {},
  clientInfo: { name: "worker-test", version: "1" },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The JSON-RPC messages of a reply, whether JSON or SSE. */
async function messagesOf(response) {
  const text = await response.text();
  if (!text) return [];
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) return [JSON.parse(text)];
  return text
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).trim())
    .filter((data) => data !== "")
    .map((data) => JSON.parse(data));
}

/**
 * Reads an SSE body to its end (or its abort), pushing each frame's JSON-RPC message onto `into`.
 * Resolves when the stream ends.
 */
async function collectMessages(response, into) {
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = buffer
          .slice(0, end)
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        buffer = buffer.slice(end + 2);
        if (data) into.push(JSON.parse(data));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") throw error;
  }
}

/** One client session of `tenant`, authenticated as `principal` (the fixture's demo scheme). */
class Session {
  static async open(tenant, principal) {
    const session = new Session(`Bearer ${tenant}:${principal}`);
    const response = await session.post({ jsonrpc: "2.0", id: 0, method: "initialize", params: INITIALIZE });
    assert.equal(response.status, 200);
    session.id = response.headers.get("mcp-session-id");
    assert.match(session.id, /^[0-9a-f]{32}$/);
    await response.text();
    const initialized = await session.post({ jsonrpc: "2.0", method: "notifications/initialized" });
    assert.equal(initialized.status, 202);
    return session;
  }

  constructor(authorization) {
    this.authorization = authorization;
    this.id = undefined;
    this.nextId = 1;
    this.events = [];
    this.get = undefined;
  }

  headers(extra = {}) {
    const headers = { ...HEADERS, authorization: this.authorization, "mcp-protocol-version": VERSION, ...extra };
    if (this.id) headers["mcp-session-id"] = this.id;
    return headers;
  }

  post(message) {
    return fetch(URL_, { method: "POST", headers: this.headers(), body: JSON.stringify(message) });
  }

  /** Calls `method` and resolves with its result (throws on a JSON-RPC error). */
  async call(method, params = {}) {
    const id = this.nextId++;
    const response = await this.post({ jsonrpc: "2.0", id, method, params });
    assert.equal(response.status, 200, `${method}: HTTP ${response.status}`);
    const reply = (await messagesOf(response)).find((m) => m.id === id);
    assert.ok(reply && !reply.error, `${method}: ${JSON.stringify(reply)}`);
    return reply.result;
  }

  /** Opens the GET stream; its JSON-RPC messages collect in `events` until `close()`. */
  async listen() {
    const controller = new AbortController();
    const response = await fetch(URL_, { headers: this.headers({ accept: "text/event-stream" }), signal: controller.signal });
    assert.equal(response.status, 200, `GET: HTTP ${response.status}`);
    const reading = collectMessages(response, this.events);
    this.get = { controller, reading };
  }

  /** The change notifications heard so far. */
  changes() {
    return this.events.filter((m) => m.method === "notifications/message" && m.params?.logger === "changes");
  }

  async close() {
    this.get?.controller.abort();
    await this.get?.reading;
    await fetch(URL_, { method: "DELETE", headers: this.headers() });
  }
}

async function recordChange(session, kind) {
  const result = await session.call("tools/call", { name: "record_change", arguments: { kind } });
  const told = /^notified (\d+) other session/.exec(result.content[0].text);
  assert.ok(told, result.content[0].text);
  return Number(told[1]);
}

async function until(what, predicate, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

test("the tenant directory keeps a session that hears nothing at its log level", { timeout: 30_000 }, async () => {
  const tenant = `directory-${randomUUID()}`;
  const publisher = await Session.open(tenant, "alice");
  const quiet = await Session.open(tenant, "bob");
  try {
    await quiet.call("logging/setLevel", { level: "error" });
    await quiet.listen();

    assert.equal(await recordChange(publisher, "first"), 0, "a session at level error is not told of an info change");
    assert.equal(await recordChange(publisher, "second"), 0);
    await sleep(300);
    assert.deepEqual(quiet.changes(), [], "nothing reached the session at level error");

    await quiet.call("logging/setLevel", { level: "info" });
    assert.equal(await recordChange(publisher, "third"), 1, "the directory still lists the quiet session");
    await until("the change on the quiet session's GET stream", () => quiet.changes().length > 0);
    await sleep(100);
    const heard = quiet.changes().map((m) => m.params.details.kind);
    assert.deepEqual(heard, ["third"], "exactly the change published after the reset, once");
    assert.equal(publisher.changes().length, 0, "the publisher is not told of its own change");
  } finally {
    await quiet.close();
    await publisher.close();
  }
});

/** A 2026-07-28 `subscriptions/listen` of `tenant`; its messages collect in `messages`. */
async function listenAs(tenant, notifications) {
  const controller = new AbortController();
  const body = {
    jsonrpc: "2.0",
    id: `listen-${tenant}`,
    method: "subscriptions/listen",
    params: {
      notifications,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  };
  const response = await fetch(URL_, {
    method: "POST",
    headers: {
      ...HEADERS,
      authorization: `Bearer ${tenant}:listener`,
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "subscriptions/listen",
    },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  assert.equal(response.status, 200, `listen: HTTP ${response.status}`);
  const stream = { messages: [], close: () => controller.abort() };
  stream.reading = collectMessages(response, stream.messages);
  return stream;
}

test("a tenant's data change reaches that tenant's listen streams on any isolate, and no other tenant's", { timeout: 30_000 }, async () => {
  const tenant = `listen-${randomUUID()}`;
  const other = `listen-${randomUUID()}`;
  const uri = "changes://documents_updated";
  const mine = await listenAs(tenant, { resourceSubscriptions: [uri] });
  const theirs = await listenAs(other, { resourceSubscriptions: [uri] });
  const publisher = await Session.open(tenant, "alice");
  try {
    await until("both acknowledgements", () => mine.messages.length > 0 && theirs.messages.length > 0);
    assert.equal(mine.messages[0].method, "notifications/subscriptions/acknowledged");
    assert.deepEqual(mine.messages[0].params.notifications, { resourceSubscriptions: [uri] });

    assert.equal(await recordChange(publisher, "document"), 1, "the listen stream is told, through the directory");
    await until("the update on the tenant's listen stream", () => mine.messages.length > 1);
    const update = mine.messages[1];
    assert.equal(update.method, "notifications/resources/updated");
    assert.equal(update.params.uri, uri);
    assert.equal(update.params._meta["io.modelcontextprotocol/subscriptionId"], `listen-${tenant}`);
    await sleep(200);
    assert.equal(theirs.messages.length, 1, "another tenant's stream hears only its acknowledgement");
  } finally {
    mine.close();
    theirs.close();
    await Promise.all([mine.reading, theirs.reading]);
    await publisher.close();
  }
});

/**
 * Sends one HTTP/1.1 request as exact bytes (fetch would re-encode header values) and resolves
 * with its status, headers and body.
 */
function rawRequest(head, body = "") {
  const { hostname, port } = new URL(URL_);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(body)]));
    });
    const chunks = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const [headText, ...rest] = text.split("\r\n\r\n");
      const [statusLine, ...headerLines] = headText.split("\r\n");
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      let payload = rest.join("\r\n\r\n");
      if (headers["transfer-encoding"] === "chunked") {
        let decoded = "";
        for (;;) {
          const eol = payload.indexOf("\r\n");
          const size = parseInt(payload.slice(0, eol), 16);
          if (!size) break;
          decoded += payload.slice(eol + 2, eol + 2 + size);
          payload = payload.slice(eol + 2 + size + 2);
        }
        payload = decoded;
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: payload });
    });
  });
}

/** A POST of `message` with the extra header lines `extra` (raw bytes, latin1). */
function rawPost(message, extra, host = new URL(URL_).host) {
  const body = JSON.stringify(message);
  const head =
    `POST ${new URL(URL_).pathname} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n` +
    `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
    `MCP-Protocol-Version: ${VERSION}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`;
  return rawRequest(head, body);
}

function assertRpcError(response, status, pattern) {
  assert.equal(response.status, status, `HTTP ${response.status}: ${response.body}`);
  assert.match(response.headers["content-type"], /^application\/json/);
  const body = JSON.parse(response.body);
  assert.equal(body.jsonrpc, "2.0");
  assert.equal(body.id, null);
  assert.match(body.error.message, pattern);
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: INITIALIZE };

test("header values that are not ASCII reach the engine, which answers them itself", { timeout: 10_000 }, async () => {
  // Bytes above 0x7F are legal header bytes (obs-text), whether they are Latin-1 (which workerd
  // turns into U+FFFD) or UTF-8: the engine reads them and refuses them as it would any unusable
  // session id, with its own JSON-RPC error.
  const ping = { jsonrpc: "2.0", id: 2, method: "ping" };
  for (const cafe of ["caf\xe9", Buffer.from("café").toString("latin1")]) {
    assertRpcError(await rawPost(initialize, `Mcp-Session-Id: ${cafe}\r\n`), 400, /must not carry Mcp-Session-Id/);
    assertRpcError(await rawPost(ping, `Mcp-Session-Id: ${cafe}\r\n`), 404, /session/i);
    // A header the engine reads but does not parse passes untouched.
    const accepted = await rawPost(initialize, `Authorization: Bearer ${cafe}:z\r\n`);
    assert.equal(accepted.status, 200, accepted.body);
  }
});

test("a header value that cannot be a header is the engine's 400, not a 500", { timeout: 10_000 }, async () => {
  // Control characters pass the web Headers class but no HTTP header value.
  assertRpcError(await rawPost(initialize, "Authorization: a\x01b\r\n"), 400, /malformed request header/);
  assertRpcError(await rawPost(initialize, "Mcp-Session-Id: a\x7fb\r\n"), 400, /malformed request header/);
});

test("a foreign Host is refused: the URL workerd builds names the Host header", { timeout: 10_000 }, async () => {
  assertRpcError(await rawPost(initialize, "", "evil.example.com"), 403, /Host not allowed/);
  assertRpcError(await rawPost(initialize, "", `evil.example.com:${new URL(URL_).port}`), 403, /Host not allowed/);
  const local = await rawPost(initialize, "", `localhost:${new URL(URL_).port}`);
  assert.equal(local.status, 200, local.body);
});
