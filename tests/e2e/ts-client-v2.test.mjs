// The official TypeScript SDK v2 client (@modelcontextprotocol/client: Client +
// StreamableHTTPClientTransport) against an example server, in both eras.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp node --test ts-client-v2.test.mjs
//   E2E_TRACE=1 MCP_URL=... node --test ts-client-v2.test.mjs      # print every exchange
//
// modern: `versionNegotiation: { mode: { pin: '2026-07-28' } }` (no fallback) and `mode: 'auto'`
// (probe, stays modern): server/discover on the wire and nothing session-era; tools/list, echo,
// progress, the input_required elicitation round driven by the client through its
// `elicitation/create` handler, and `subscriptions/listen` for tool list changes and updates of
// `test://watched-resource`.
// legacy: the client's default (`'legacy'`): initialize with no probe, a session id on every
// later request, a tool call and a sampling round trip over the session's POST stream.
//
// Every transport goes through a recording `fetch` (`Tap`), so the tests assert what went over
// the wire as well as what the SDK surfaced.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const URL_ = process.env.MCP_URL;
if (!URL_) throw new Error('set MCP_URL to the server endpoint, e.g. http://127.0.0.1:8080/mcp');

const MODERN = '2026-07-28';
const WATCHED = 'test://watched-resource';
const TEST_TIMEOUT = 20_000; // per test
const WAIT = 5_000; // for one awaited step
// A trigger's "told N" counts the listen streams of the replica it ran on: behind replicas, the
// client's listen stream may be on another one (told through the bus), so N may be 0 there.
const TOLD = process.env.MCP_REPLICAS === '1' ? /^told \d+$/ : /^told [1-9]\d*$/;

/** Resolves with `promise`, or rejects after `ms` with a message naming `what`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Parses the `data:` lines of SSE text into JSON-RPC messages (comments and other fields skipped). */
function sseMessages(text) {
  const messages = [];
  for (const raw of text.split(/\r\n\r\n|\n\n|\r\r/)) {
    const data = raw
      .split(/\r\n|\n|\r/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''));
    if (data.length === 0) continue;
    try {
      messages.push(JSON.parse(data.join('\n')));
    } catch {
      messages.push({ unparsed: data.join('\n') });
    }
  }
  return messages;
}

/**
 * A `fetch` that records each exchange: request headers and body, response status and headers,
 * and the JSON-RPC messages of the response body (a clone of it is read in the background, so
 * long-lived SSE streams are recorded as they arrive).
 */
class Tap {
  constructor(name) {
    this.name = name;
    this.exchanges = [];
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
    const exchange = { method, headers, body, status: undefined, responseHeaders: undefined, messages: [], text: '' };
    this.exchanges.push(exchange);
    const response = await fetch(url, init);
    exchange.status = response.status;
    exchange.responseHeaders = response.headers;
    if (response.body) {
      const type = response.headers.get('content-type') ?? '';
      const copy = response.clone();
      (async () => {
        const reader = copy.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            exchange.text += value;
            if (type.startsWith('text/event-stream')) exchange.messages = sseMessages(exchange.text);
          }
          if (type.startsWith('application/json') && exchange.text) exchange.messages = [JSON.parse(exchange.text)];
        } catch {
          // the SDK aborted the request (a closed listen stream, the client closing)
        }
      })();
    }
    return response;
  }

  /** Exchanges that are POSTs of this JSON-RPC method (and tool name). */
  posts(method, tool) {
    return this.exchanges.filter(
      (x) => x.method === 'POST' && x.body?.method === method && (tool === undefined || x.body?.params?.name === tool),
    );
  }

  describe() {
    return this.exchanges
      .map((x) => {
        const what = x.body?.method ? `${x.body.method}${x.body.params?.name ? ` ${x.body.params.name}` : ''}` : '';
        const version = x.headers.get('mcp-protocol-version') ?? '-';
        const session = x.headers.get('mcp-session-id') ?? '-';
        const got = x.messages.map((m) => m.method ?? (m.result ? `result:${m.result.resultType ?? '-'}` : m.error ? `error:${m.error.code}` : '?'));
        return `  ${x.method} ${what} [version ${version}, session ${session}] -> ${x.status} ${x.responseHeaders?.get('content-type') ?? ''} [${got.join(' ')}]\n    > ${JSON.stringify(x.body) ?? ''}\n    < ${x.text.slice(0, 800).replace(/\n/g, '\\n')}`;
      })
      .join('\n');
  }
}

const open = [];

/** Connects a v2 client through a Tap; `negotiation` is `ClientOptions.versionNegotiation`. */
async function connect({ name, negotiation, capabilities = {}, setup }) {
  const tap = new Tap(name);
  const transport = new StreamableHTTPClientTransport(new URL(URL_), { fetch: tap.fetch });
  const options = { capabilities };
  if (negotiation) options.versionNegotiation = negotiation;
  const client = new Client({ name: `mcp-session-e2e-v2-${name}`, version: '1.0.0' }, options);
  const errors = [];
  client.onerror = (error) => errors.push(error);
  setup?.(client);
  const entry = { client, transport, tap, errors };
  open.push(entry);
  await within(WAIT, `${name}: connect`, client.connect(transport));
  return entry;
}

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

/** A failure message with the exchanges of the tap, for assertions on the wire. */
function wire(tap) {
  return `\nexchanges of ${tap.name}:\n${tap.describe()}`;
}

/** Asserts that nothing of the session era went over the wire of a modern client. */
function assertSessionless(tap) {
  for (const x of tap.exchanges) {
    assert.equal(x.method, 'POST', `a modern client sent ${x.method}${wire(tap)}`);
    assert.notEqual(x.body?.method, 'initialize', `a modern client sent initialize${wire(tap)}`);
    assert.equal(x.headers.get('mcp-session-id'), null, `a modern client sent Mcp-Session-Id${wire(tap)}`);
    assert.equal(x.responseHeaders?.get('mcp-session-id') ?? null, null, `the server minted a session for a modern request${wire(tap)}`);
    if (x.body?.id !== undefined) {
      assert.equal(x.headers.get('mcp-protocol-version'), MODERN, `${x.body.method} went without MCP-Protocol-Version ${MODERN}${wire(tap)}`);
      assert.equal(x.body.params?._meta?.['io.modelcontextprotocol/protocolVersion'], MODERN, `${x.body.method} went without the _meta envelope${wire(tap)}`);
    }
    for (const m of x.messages) {
      assert.ok(m.method === undefined || m.method.startsWith('notifications/'), `a server request on a modern stream: ${JSON.stringify(m)}${wire(tap)}`);
    }
  }
}

after(async () => {
  if (process.env.E2E_TRACE) {
    for (const { tap } of open) console.log(`${tap.name}:\n${tap.describe()}`);
  }
  for (const { client } of open) await client.close().catch(() => {});
});

/** Answers every elicitation with the name Ada, counting the requests. */
function answerAda(asked) {
  return (client) =>
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params);
      return { action: 'accept', content: { name: 'Ada' } };
    });
}

describe('2026-07-28, pinned', { timeout: 60_000 }, () => {
  let session;
  const asked = [];

  test('connect: server/discover only, modern era', { timeout: TEST_TIMEOUT }, async () => {
    session = await connect({
      name: 'pinned',
      negotiation: { mode: { pin: MODERN } },
      capabilities: { elicitation: { form: {} } },
      setup: answerAda(asked),
    });
    const { client, tap } = session;
    assert.equal(client.getProtocolEra(), 'modern', wire(tap));
    assert.equal(client.getNegotiatedProtocolVersion(), MODERN, wire(tap));
    assert.deepEqual(tap.exchanges.map((x) => x.body?.method), ['server/discover'], wire(tap));
    const [probe] = tap.exchanges;
    assert.equal(probe.status, 200, wire(tap));
    assert.equal(probe.headers.get('mcp-method'), 'server/discover', wire(tap));
    const discover = client.getDiscoverResult();
    assert.ok(discover.supportedVersions.includes(MODERN), JSON.stringify(discover));
    assert.equal(client.getServerVersion()?.name, 'mcp-session-example', JSON.stringify(discover));
    assert.ok(client.getServerCapabilities()?.tools, JSON.stringify(discover));
    assertSessionless(tap);
  });

  test('tools/list', { timeout: TEST_TIMEOUT }, async () => {
    const { tools } = await within(WAIT, 'tools/list', session.client.listTools());
    const names = tools.map((t) => t.name);
    for (const name of ['echo', 'test_tool_with_progress', 'test_input_required_result_elicitation', 'test_trigger_tool_change', 'test_trigger_resource_update']) {
      assert.ok(names.includes(name), `tools/list lacks ${name}: ${names.join(', ')}`);
    }
    const [list] = session.tap.posts('tools/list');
    assert.equal(list.messages[0]?.result?.resultType, 'complete', wire(session.tap));
    assertSessionless(session.tap);
  });

  test('tools/call echo', { timeout: TEST_TIMEOUT }, async () => {
    const result = await within(WAIT, 'echo', session.client.callTool({ name: 'echo', arguments: { text: 'hello v2' } }));
    assert.equal(result.isError ?? false, false, JSON.stringify(result));
    assert.equal(text(result), 'hello v2');
    const [call] = session.tap.posts('tools/call', 'echo');
    assert.equal(call.headers.get('mcp-name'), 'echo', wire(session.tap));
    assertSessionless(session.tap);
  });

  test('progress on the call\'s own stream', { timeout: TEST_TIMEOUT }, async () => {
    const seen = [];
    const result = await within(
      WAIT,
      'test_tool_with_progress',
      session.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, { onprogress: (p) => seen.push(p) }),
    );
    assert.equal(text(result), 'Progress reported');
    assert.deepEqual(seen.map((p) => [p.progress, p.total]), [[0, 100], [50, 100], [100, 100]], wire(session.tap));
    const [call] = session.tap.posts('tools/call', 'test_tool_with_progress');
    const token = call.body.params._meta?.progressToken;
    assert.notEqual(token, undefined, 'no progressToken in the request _meta');
    const progress = call.messages.filter((m) => m.method === 'notifications/progress');
    assert.equal(progress.length, 3, wire(session.tap));
    assert.ok(progress.every((m) => m.params.progressToken === token), wire(session.tap));
    assertSessionless(session.tap);
  });

  test('input_required: the client answers the elicitation and retries', { timeout: TEST_TIMEOUT }, async () => {
    const result = await within(
      WAIT,
      'test_input_required_result_elicitation',
      session.client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
    );
    assert.equal(text(result), 'Hello, Ada!', wire(session.tap));
    assert.equal(asked.length, 1, `elicitation handler called ${asked.length} times`);
    const rounds = session.tap.posts('tools/call', 'test_input_required_result_elicitation');
    assert.equal(rounds.length, 2, wire(session.tap));
    const first = rounds[0].messages[0]?.result;
    assert.equal(first?.resultType, 'input_required', wire(session.tap));
    assert.equal(first.inputRequests?.user_name?.method, 'elicitation/create', wire(session.tap));
    const retry = rounds[1].body;
    assert.notEqual(retry.id, rounds[0].body.id, 'the retry reused the request id');
    assert.deepEqual(retry.params.inputResponses, { user_name: { action: 'accept', content: { name: 'Ada' } } }, wire(session.tap));
    assert.equal(retry.params.requestState, first.requestState, 'requestState not echoed byte for byte');
    assert.equal(rounds[1].messages[0]?.result?.resultType, 'complete', wire(session.tap));
    assertSessionless(session.tap);
  });

  test('subscriptions/listen: tools list_changed and resources/updated after the triggers', { timeout: TEST_TIMEOUT }, async () => {
    const { client, tap } = session;
    let changed;
    const notified = new Promise((resolve) => {
      changed = resolve;
    });
    const updates = [];
    let updated;
    const resourceNotified = new Promise((resolve) => {
      updated = resolve;
    });
    client.setNotificationHandler('notifications/tools/list_changed', (n) => changed(n));
    client.setNotificationHandler('notifications/resources/updated', (n) => {
      updates.push(n.params.uri);
      updated(n);
    });
    const subscription = await within(
      WAIT,
      'listen ack',
      client.listen({ toolsListChanged: true, resourceSubscriptions: [WATCHED] }),
    );
    assert.equal(subscription.honoredFilter.toolsListChanged, true, JSON.stringify(subscription.honoredFilter));
    assert.deepEqual(subscription.honoredFilter.resourceSubscriptions, [WATCHED], JSON.stringify(subscription.honoredFilter));
    const result = await within(WAIT, 'test_trigger_tool_change', client.callTool({ name: 'test_trigger_tool_change', arguments: {} }));
    assert.equal(result.isError ?? false, false, JSON.stringify(result));
    await within(WAIT, 'notifications/tools/list_changed', notified);
    const update = await within(
      WAIT,
      'test_trigger_resource_update',
      client.callTool({ name: 'test_trigger_resource_update', arguments: { uri: WATCHED } }),
    );
    assert.equal(update.isError ?? false, false, JSON.stringify(update));
    assert.match(text(update), TOLD, JSON.stringify(update));
    await within(WAIT, 'notifications/resources/updated', resourceNotified);
    assert.deepEqual(updates, [WATCHED], wire(tap));

    const [listen] = tap.posts('subscriptions/listen');
    assert.equal(listen.responseHeaders.get('content-type')?.split(';')[0], 'text/event-stream', wire(tap));
    const frames = listen.messages;
    assert.equal(frames[0]?.method, 'notifications/subscriptions/acknowledged', wire(tap));
    assert.ok(frames.some((m) => m.method === 'notifications/tools/list_changed'), wire(tap));
    assert.ok(
      frames.some((m) => m.method === 'notifications/resources/updated' && m.params?.uri === WATCHED),
      wire(tap),
    );
    for (const frame of frames) {
      assert.deepEqual(frame.params?._meta?.['io.modelcontextprotocol/subscriptionId'], listen.body.id, `frame without the subscriptionId: ${JSON.stringify(frame)}`);
    }
    await subscription.close();
    assert.equal(await within(WAIT, 'subscription closed', subscription.closed), 'local');
    assertSessionless(tap);
  });
});

describe('2026-07-28, auto', { timeout: 30_000 }, () => {
  test('auto probes, stays modern, and calls a tool', { timeout: TEST_TIMEOUT }, async () => {
    const asked = [];
    const { client, tap } = await connect({
      name: 'auto',
      negotiation: { mode: 'auto' },
      capabilities: { elicitation: { form: {} } },
      setup: answerAda(asked),
    });
    assert.equal(client.getProtocolEra(), 'modern', wire(tap));
    assert.equal(client.getNegotiatedProtocolVersion(), MODERN, wire(tap));
    assert.deepEqual(tap.exchanges.map((x) => x.body?.method), ['server/discover'], wire(tap));
    const result = await within(WAIT, 'elicitation tool', client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }));
    assert.equal(text(result), 'Hello, Ada!', wire(tap));
    assert.equal(asked.length, 1);
    assertSessionless(tap);
  });
});

describe('legacy (the default)', { timeout: 30_000 }, () => {
  test('initialize + tools/call over a session, sampling on its POST stream', { timeout: TEST_TIMEOUT }, async () => {
    const { client, tap } = await connect({
      name: 'legacy',
      capabilities: { sampling: {} },
      setup: (c) =>
        c.setRequestHandler('sampling/createMessage', async () => ({
          model: 'e2e-model',
          role: 'assistant',
          content: { type: 'text', text: 'forty-two' },
        })),
    });
    assert.equal(client.getProtocolEra(), 'legacy', wire(tap));
    assert.notEqual(client.getNegotiatedProtocolVersion(), MODERN, wire(tap));
    assert.equal(tap.posts('server/discover').length, 0, `the default mode probed${wire(tap)}`);
    const [init] = tap.posts('initialize');
    assert.equal(tap.exchanges[0], init, wire(tap));
    const sessionId = init.responseHeaders.get('mcp-session-id');
    assert.ok(sessionId, `initialize answered without Mcp-Session-Id${wire(tap)}`);
    assert.equal(client.getServerVersion()?.name, 'mcp-session-example');

    const echo = await within(WAIT, 'echo', client.callTool({ name: 'echo', arguments: { text: 'hello legacy v2' } }));
    assert.equal(text(echo), 'hello legacy v2');
    const sampled = await within(WAIT, 'test_sampling', client.callTool({ name: 'test_sampling', arguments: { prompt: 'question' } }));
    assert.equal(text(sampled), 'LLM response: forty-two', wire(tap));
    const [samplingCall] = tap.posts('tools/call', 'test_sampling');
    assert.ok(samplingCall.messages.some((m) => m.method === 'sampling/createMessage'), `no sampling request on the call's stream${wire(tap)}`);

    for (const x of tap.exchanges.slice(1)) {
      assert.equal(x.headers.get('mcp-session-id'), sessionId, `${x.method} ${x.body?.method ?? ''} without the session id${wire(tap)}`);
      assert.equal(x.body?.params?._meta?.['io.modelcontextprotocol/protocolVersion'], undefined, `a legacy request carried the modern _meta${wire(tap)}`);
    }
  });
});
