// The official TypeScript SDK client (Client + StreamableHTTPClientTransport) against an example
// server started with --test-clock.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp node --test ts-client.test.mjs
//
// Every transport goes through a tapping `fetch` (see `Tap`) that records each HTTP exchange and
// the SSE events of each response, and can drop a response's connection for real (the fetch is
// aborted, so undici closes the socket and the server sees the TCP close). The tests then assert
// both what the SDK surfaced and on which HTTP stream it travelled.
//
// The last tests move the server's manual clock past the idle and then the absolute timeout,
// which expires every session on that server: they must stay last, and the server must not be
// shared.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const URL_ = process.env.MCP_URL;
if (!URL_) throw new Error('set MCP_URL to the server endpoint, e.g. http://127.0.0.1:8080/mcp');

const TEST_TIMEOUT = 20_000; // per test
// Behind replicas each one has its own manual clock, so `advance_clock` moves one of them:
// expiry across replicas is tested in process with one ManualClock (tests/redis_replicas.rs).
const ONE_CLOCK = process.env.MCP_REPLICAS === '1' && 'each replica has its own manual clock (see tests/redis_replicas.rs)';
const WAIT = 5_000; // for one awaited event
const IDLE_TIMEOUT_MS = 30 * 60 * 1000; // the example server's default --idle-timeout-secs 1800
const ABSOLUTE_TIMEOUT_MS = 4 * 60 * 60 * 1000; // its default --absolute-timeout-secs 14400

// ---------------------------------------------------------------------------------------------
// helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects after `ms` with a message naming `what`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `predicate` until it returns a truthy value. */
async function until(what, predicate, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Splits an SSE text buffer into complete events (raw text incl. the blank line) and a rest. */
function splitEvents(buffer) {
  const events = [];
  const boundary = /\r\n\r\n|\n\n|\r\r/g;
  let start = 0;
  let match;
  while ((match = boundary.exec(buffer)) !== null) {
    const end = match.index + match[0].length;
    events.push(buffer.slice(start, end));
    start = end;
  }
  return { events, rest: buffer.slice(start) };
}

/** Parses one raw SSE event into {id, event, data, retry}. */
function parseEvent(raw) {
  const event = { id: undefined, event: undefined, data: undefined, retry: undefined };
  const data = [];
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') event.id = value;
    else if (field === 'event') event.event = value;
    else if (field === 'retry') event.retry = Number(value);
    else if (field === 'data') data.push(value);
  }
  if (data.length > 0) event.data = data.join('\n');
  try {
    event.message = event.data ? JSON.parse(event.data) : undefined;
  } catch {
    event.message = undefined;
  }
  return event;
}

/**
 * A `fetch` for the SDK transport that records every exchange and every SSE event, and can cut a
 * response stream: `dropWhen(exchange, event)` is asked after each event is passed on; when it
 * returns true the request is aborted (undici closes the connection) and the SDK's body stream
 * errors, exactly as when the network drops. `exchange.drop()` does the same at any moment.
 * While `hold` is a promise, a GET that carries Last-Event-ID (an SDK reconnect) waits for it.
 */
class Tap {
  constructor(name) {
    this.name = name;
    this.exchanges = [];
    this.dropWhen = null;
    this.hold = null;
    this.fetch = this.fetch.bind(this);
  }

  async fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    const method = (init.method ?? 'GET').toUpperCase();
    let body;
    try {
      body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    } catch {
      body = undefined;
    }
    const exchange = {
      method,
      lastEventId: headers.get('last-event-id') ?? undefined,
      sessionId: headers.get('mcp-session-id') ?? undefined,
      body,
      status: undefined,
      events: [],
      dropped: false,
      ended: false,
      drop: () => {},
    };
    this.exchanges.push(exchange);
    if (method === 'GET' && exchange.lastEventId && this.hold) await this.hold;

    const abort = new AbortController();
    const signal = init.signal ? AbortSignal.any([init.signal, abort.signal]) : abort.signal;
    const response = await fetch(url, { ...init, signal });
    exchange.status = response.status;
    const type = response.headers.get('content-type') ?? '';
    if (!response.body || !type.startsWith('text/event-stream')) {
      exchange.ended = true;
      return response;
    }

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const encoder = new TextEncoder();
    const tap = this;
    const stream = new ReadableStream({
      start(controller) {
        exchange.drop = () => {
          if (exchange.dropped || exchange.ended) return;
          exchange.dropped = true;
          abort.abort();
          controller.error(new TypeError('e2e: connection dropped by the test'));
        };
        (async () => {
          let buffer = '';
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              const { events, rest } = splitEvents(buffer + value);
              buffer = rest;
              for (const raw of events) {
                if (exchange.dropped) return;
                const event = parseEvent(raw);
                exchange.events.push(event);
                controller.enqueue(encoder.encode(raw));
                if (tap.dropWhen?.(exchange, event)) {
                  exchange.drop();
                  return;
                }
              }
            }
            exchange.ended = true;
            controller.close();
          } catch (error) {
            if (exchange.dropped) return;
            exchange.ended = true;
            controller.error(error);
          }
        })();
      },
      cancel() {
        exchange.ended = true;
        abort.abort();
      },
    });
    return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  /** Exchanges that are POSTs of a request with this JSON-RPC method (and tool name). */
  posts(method, tool) {
    return this.exchanges.filter(
      (x) => x.method === 'POST' && x.body?.method === method && (tool === undefined || x.body?.params?.name === tool),
    );
  }

  gets() {
    return this.exchanges.filter((x) => x.method === 'GET');
  }

  /** Every SSE event that carried a JSON-RPC message, with the exchange it came on. */
  messages() {
    return this.exchanges.flatMap((x) => x.events.filter((e) => e.message).map((e) => ({ exchange: x, event: e })));
  }

  describe() {
    return this.exchanges
      .map((x) => {
        const what = x.body?.method ? `${x.body.method}${x.body.params?.name ? ` ${x.body.params.name}` : ''}` : '';
        const lei = x.lastEventId ? ` last-event-id=${x.lastEventId}` : '';
        const events = x.events.map((e) => `${e.id ?? '-'}:${e.message?.method ?? (e.message ? 'response' : e.event ?? 'prime')}`);
        return `  ${x.method} ${what}${lei} -> ${x.status}${x.dropped ? ' DROPPED' : ''} [${events.join(' ')}]`;
      })
      .join('\n');
  }
}

const open = [];

/** Connects a client through a Tap. `tenant` sets `Authorization: Bearer tenant:principal`. */
async function connect({ name = 'e2e', tenant, principal = 'alice', capabilities = {}, setup } = {}) {
  const tap = new Tap(name);
  const requestInit = tenant ? { headers: { Authorization: `Bearer ${tenant}:${principal}` } } : undefined;
  const transport = new StreamableHTTPClientTransport(new URL(URL_), { fetch: tap.fetch, requestInit });
  const client = new Client({ name: `mcp-session-e2e-${name}`, version: '1.0.0' }, { capabilities });
  const errors = [];
  client.onerror = (error) => errors.push(error);
  setup?.(client);
  await within(WAIT, `${name}: connect`, client.connect(transport));
  const session = { client, transport, tap, errors, sessionId: transport.sessionId };
  open.push(session);
  return session;
}

/** Waits until the session's standalone GET stream is open (answered 200). */
async function getStreamOpen(session) {
  return until(`${session.tap.name}: GET stream open`, () =>
    session.tap.gets().find((x) => x.status === 200 && !x.dropped && !x.ended),
  );
}

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

function range(n) {
  return Array.from({ length: n }, (_, i) => i + 1);
}

after(async () => {
  if (process.env.E2E_TRACE) {
    for (const { tap } of open) console.log(`${tap.name}:\n${tap.describe()}`);
  }
  for (const { client } of open) await client.close().catch(() => {});
});

// ---------------------------------------------------------------------------------------------
// tests (in order; the expiry tests must stay last)

test('initialize: session id, protocol version, capabilities', { timeout: TEST_TIMEOUT }, async () => {
  const { client, transport, tap } = await connect({ name: 'init' });
  assert.match(transport.sessionId ?? '', /^[\x21-\x7e]+$/, 'Mcp-Session-Id is visible ASCII');
  assert.equal(transport.protocolVersion, '2025-11-25');
  const caps = client.getServerCapabilities();
  assert.ok(caps?.tools && caps?.prompts && caps?.logging, 'tools, prompts and logging declared');
  assert.equal(caps?.resources?.subscribe, true, 'resources.subscribe declared');
  assert.ok(client.getServerVersion()?.name, 'serverInfo.name');
  const [init, initialized] = tap.exchanges;
  assert.equal(init.body.method, 'initialize');
  assert.equal(init.status, 200);
  assert.equal(initialized.body.method, 'notifications/initialized');
  assert.equal(initialized.status, 202);
  await getStreamOpen({ tap });
});

test('tools/call with progress: onprogress gets every step, in order', { timeout: TEST_TIMEOUT }, async () => {
  const { client } = await connect({ name: 'progress' });
  const seen = [];
  const result = await client.callTool({ name: 'long_task', arguments: { steps: 5, step_ms: 20 } }, undefined, {
    onprogress: (p) => seen.push(p),
    timeout: WAIT,
  });
  assert.equal(text(result), 'finished 5 steps');
  assert.deepEqual(seen.map((p) => p.progress), range(5));
  assert.ok(seen.every((p) => p.total === 5), 'total is 5 on every notification');

  const fixture = [];
  await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
    onprogress: (p) => fixture.push(p.progress),
    timeout: WAIT,
  });
  assert.deepEqual(fixture, [0, 50, 100]);
});

test('sampling round trip: sampling/createMessage answered by the client', { timeout: TEST_TIMEOUT }, async () => {
  const requests = [];
  const { client } = await connect({
    name: 'sampling',
    capabilities: { sampling: {} },
    setup: (c) =>
      c.setRequestHandler(CreateMessageRequestSchema, async (request) => {
        requests.push(request.params);
        return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'Paris is the capital.' } };
      }),
  });
  const result = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital of France?' } }, undefined, {
    timeout: WAIT,
  });
  assert.equal(requests.length, 1, 'one sampling/createMessage request');
  assert.equal(requests[0].messages?.[0]?.content?.text, 'Capital of France?');
  assert.ok(!result.isError, `tool result is not an error: ${text(result)}`);
  assert.equal(text(result), 'LLM response: Paris is the capital.');
});

test('elicitation round trip: elicitation/create answered by the client', { timeout: TEST_TIMEOUT }, async () => {
  const requests = [];
  const { client } = await connect({
    name: 'elicitation',
    capabilities: { elicitation: {} },
    setup: (c) =>
      c.setRequestHandler(ElicitRequestSchema, async (request) => {
        requests.push(request.params);
        return { action: 'accept', content: { username: 'e2e-user', email: 'e2e@example.com' } };
      }),
  });
  const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } }, undefined, {
    timeout: WAIT,
  });
  assert.equal(requests.length, 1, 'one elicitation/create request');
  assert.equal(requests[0].message, 'Who are you?');
  assert.deepEqual(Object.keys(requests[0].requestedSchema?.properties ?? {}).sort(), ['email', 'username']);
  assert.ok(!result.isError, `tool result is not an error: ${text(result)}`);
  assert.match(text(result), /action=accept/);
  assert.match(text(result), /e2e-user/);
  assert.match(text(result), /e2e@example\.com/);
});

test('GET stream: resources/updated after resources/subscribe', { timeout: TEST_TIMEOUT }, async () => {
  const updates = [];
  const session = await connect({
    name: 'subscribe',
    setup: (c) => c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri)),
  });
  const get = await getStreamOpen(session);
  await session.client.subscribeResource({ uri: 'test://watched-resource' });
  await until('notifications/resources/updated', () => updates.length > 0);
  assert.deepEqual(updates, ['test://watched-resource']);
  assert.ok(
    get.events.some((e) => e.message?.method === 'notifications/resources/updated'),
    `the update travelled on the GET stream\n${session.tap.describe()}`,
  );
  await session.client.unsubscribeResource({ uri: 'test://watched-resource' });
});

test('GET stream: record_change reaches the other sessions of the same tenant only', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = `e2e-${randomUUID().slice(0, 8)}`;
  const heard = { listener: [], stranger: [] };
  const listen = (who) => (c) => c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => heard[who].push(n.params));
  const listener = await connect({ name: 'listener', tenant, principal: 'alice', setup: listen('listener') });
  const stranger = await connect({ name: 'stranger', tenant: `${tenant}-other`, principal: 'carol', setup: listen('stranger') });
  const actor = await connect({ name: 'actor', tenant, principal: 'bob' });
  const get = await getStreamOpen(listener);
  await getStreamOpen(stranger);

  const result = await actor.client.callTool({ name: 'record_change', arguments: { kind: 'document', reason: 'e2e' } }, undefined, {
    timeout: WAIT,
  });
  assert.equal(text(result), 'notified 1 other session(s)');
  await until('notifications/message on the listener', () => heard.listener.length > 0);
  assert.equal(heard.listener[0].level, 'info');
  // The SDK's schema keeps only level/logger/data; the bridge's `details` is read off the wire.
  const wire = get.events.find((e) => e.message?.method === 'notifications/message');
  assert.ok(wire, `the message travelled on the listener's GET stream\n${listener.tap.describe()}`);
  const { details } = wire.message.params;
  assert.equal(details?.kind, 'document');
  assert.equal(details?.reason, 'e2e');
  assert.equal(details?.tenant_id, tenant);
  await sleep(200);
  assert.equal(heard.listener.length, 1, 'exactly one message');
  assert.deepEqual(heard.stranger, [], 'another tenant hears nothing');
});

test('dropped POST stream: resumed with GET + Last-Event-ID, progress exactly 1..N, call resolves', { timeout: TEST_TIMEOUT }, async () => {
  const STEPS = 10;
  const DROP_AFTER = 3; // progress notifications passed on before the connection is cut
  const session = await connect({ name: 'post-drop' });
  const { client, tap } = session;
  await getStreamOpen(session);
  tap.dropWhen = (x, event) =>
    x.method === 'POST' &&
    x.body?.params?.name === 'long_task' &&
    event.message?.method === 'notifications/progress' &&
    x.events.filter((e) => e.message?.method === 'notifications/progress').length === DROP_AFTER;

  const seen = [];
  const result = await client.callTool({ name: 'long_task', arguments: { steps: STEPS, step_ms: 150 } }, undefined, {
    onprogress: (p) => seen.push(p.progress),
    timeout: 15_000,
  });
  tap.dropWhen = null;
  const trace = `\n${tap.describe()}`;
  assert.equal(text(result), `finished ${STEPS} steps`, trace);
  assert.deepEqual(seen, range(STEPS), `progress 1..${STEPS}, no duplicate, no gap, in order${trace}`);

  const [post] = tap.posts('tools/call', 'long_task');
  assert.ok(post.dropped, `the POST stream was cut${trace}`);
  const lastSeen = post.events.at(-1).id;
  assert.ok(lastSeen, 'the cut stream had event ids');
  const resumes = tap.gets().filter((x) => x.lastEventId);
  assert.equal(resumes.length, 1, `one resume GET${trace}`);
  assert.equal(resumes[0].lastEventId, lastSeen, 'the resume carries the last event id seen');
  assert.equal(resumes[0].status, 200, trace);
  const resumed = resumes[0].events.filter((e) => e.message?.method === 'notifications/progress');
  assert.deepEqual(
    resumed.map((e) => e.message.params.progress),
    range(STEPS).slice(DROP_AFTER),
    `the resumed stream carries exactly the rest${trace}`,
  );
  assert.ok(resumes[0].events.some((e) => e.message?.result), `the result came on the resumed stream${trace}`);
});

test('dropped GET stream: resumed with Last-Event-ID, every notification sent while down arrives once, in order', { timeout: TEST_TIMEOUT }, async () => {
  const M = 7;
  const seqs = [];
  const session = await connect({
    name: 'get-drop',
    setup: (c) =>
      c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        if (n.params.data?.seq !== undefined) seqs.push(n.params.data.seq);
      }),
  });
  const { client, tap } = session;
  const get = await getStreamOpen(session);
  await until('an event id on the GET stream', () => get.events.some((e) => e.id));

  // Cut the GET stream, and hold the SDK's reconnect until the notifications have been sent.
  let release;
  tap.hold = new Promise((resolve) => (release = resolve));
  get.drop();
  const result = await client.callTool({ name: 'notify', arguments: { count: M, standalone: true } }, undefined, { timeout: WAIT });
  assert.equal(text(result), `sent ${M}`);
  await until('the SDK to try to reconnect the GET stream', () => tap.gets().some((x) => x.lastEventId));
  tap.hold = null;
  release();

  await until(`${M} notifications after the reconnect`, () => seqs.length >= M, WAIT).catch((error) => {
    throw new Error(`${error.message}: got ${JSON.stringify(seqs)}\n${tap.describe()}`);
  });
  await sleep(300); // anything duplicated would arrive now
  const trace = `\n${tap.describe()}`;
  assert.deepEqual(seqs, range(M), `seq 1..${M}, none duplicated, in order${trace}`);
  const resume = tap.gets().find((x) => x.lastEventId);
  assert.equal(resume.lastEventId, get.events.filter((e) => e.id).at(-1).id, `resumed from the last id seen${trace}`);
  assert.equal(resume.status, 200, trace);
  const carried = resume.events.filter((e) => e.message?.params?.data?.seq !== undefined).map((e) => e.message.params.data.seq);
  assert.deepEqual(carried, range(M), `all ${M} came on the resumed GET${trace}`);
});

test('DELETE ends the session: a later request with its id gets 404', { timeout: TEST_TIMEOUT }, async () => {
  const { client, transport, tap } = await connect({ name: 'delete' });
  const sessionId = transport.sessionId;
  await client.listTools();
  await transport.terminateSession();
  const del = tap.exchanges.find((x) => x.method === 'DELETE');
  assert.ok(del && del.status >= 200 && del.status < 300, `DELETE answered 2xx (got ${del?.status})`);

  // The SDK forgets the id after DELETE; a new transport presents it again (connect() skips
  // initialize when a session id is given).
  const stale = new StreamableHTTPClientTransport(new URL(URL_), { sessionId });
  const again = new Client({ name: 'mcp-session-e2e-stale', version: '1.0.0' });
  again.onerror = () => {};
  await again.connect(stale);
  stale.setProtocolVersion('2025-11-25');
  const error = await again.listTools().then(
    () => null,
    (e) => e,
  );
  await again.close();
  assert.ok(error instanceof StreamableHTTPError, `listTools rejects with StreamableHTTPError (got ${error})`);
  assert.equal(error.code, 404);

  const raw = await fetch(URL_, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  assert.equal(raw.status, 404);
  const body = await raw.json();
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(typeof body.error?.code, 'number', 'a JSON-RPC error body');
});

// Moving the clock expires every session of this server: these two tests run last.
let expiry;

/** A session made with plain fetch: `initialize` and `notifications/initialized`, no GET stream. */
async function rawSession() {
  const post = (headers, body) =>
    fetch(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });
  const init = await post(
    {},
    {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    },
  );
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
  const initialized = await post(headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal(initialized.status, 202);
  return { ping: async () => (await post(headers, { jsonrpc: '2.0', id: 1, method: 'ping' })).status };
}

test('expiry: after advance_clock past the idle timeout, a session with nothing open gets 404', { timeout: TEST_TIMEOUT, skip: ONE_CLOCK }, async () => {
  // A session is idle only while no stream is open and no call runs: a plain-fetch session that
  // opened no GET stream is the idle one here. (The SDK's clients keep a GET stream open.)
  const idle = await rawSession();
  assert.equal(await idle.ping(), 200);
  const b = await connect({ name: 'expiry-clock' });
  // B's own call may or may not survive the move (see the next test); the idle session's fate is
  // what this test is about.
  expiry = await b.client
    .callTool({ name: 'advance_clock', arguments: { ms: IDLE_TIMEOUT_MS + 1000 } }, undefined, { timeout: WAIT })
    .then(
      (result) => ({ result }),
      (error) => ({ error }),
    );
  assert.equal(await idle.ping(), 404);
});

test('expiry: past the absolute timeout, every session gets 404, open streams or not', { timeout: TEST_TIMEOUT, skip: ONE_CLOCK }, async () => {
  const a = await connect({ name: 'expiry-absolute' });
  await a.client.listTools();
  const b = await connect({ name: 'expiry-clock-absolute' });
  await b.client
    .callTool({ name: 'advance_clock', arguments: { ms: ABSOLUTE_TIMEOUT_MS + 1000 } }, undefined, { timeout: WAIT })
    .catch(() => {});
  const error = await a.client.listTools().then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof StreamableHTTPError, `A's request rejects with StreamableHTTPError (got ${error})`);
  assert.equal(error.code, 404, String(error));
  assert.match(error.message, /"error"/, 'the 404 carries a JSON-RPC error body');
});

test('expiry: the advance_clock request itself is answered, never left without a response', { timeout: TEST_TIMEOUT, skip: ONE_CLOCK }, async () => {
  assert.ok(expiry, 'the previous test ran');
  if (expiry.error) {
    // An HTTP error status (e.g. 404 because the caller's own session expired) is an answer too;
    // a request timeout means the POST got no JSON-RPC response at all (e.g. 202 with no body).
    assert.ok(
      expiry.error instanceof StreamableHTTPError,
      `advance_clock got no answer: ${expiry.error}. A POST carrying a JSON-RPC request must be answered with ` +
        'JSON or SSE (or an HTTP error), not 202',
    );
  } else {
    assert.match(text(expiry.result), /^advanced \d+ ms$/);
  }
});
