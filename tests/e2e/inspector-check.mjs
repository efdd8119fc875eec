// MCP Inspector CLI smoke check, v1 and v2.
//
//   node inspector-check.mjs URL
//
// v1 (@modelcontextprotocol/inspector-cli 1.0.3, legacy only): `mcp-inspector-cli --cli URL
// --transport http --method ...` for tools/list, tools/call of test_simple_text and tools/call of
// echo with an argument, checking the JSON each prints.
// v2 (@modelcontextprotocol/inspector 2.x, `mcp-inspector --cli ... --protocol-era ERA --format
// json`): tools/list and tools/call echo with `--protocol-era modern` (pinned 2026-07-28, no
// fallback), tools/list with `auto` (must stay modern) and with `legacy`. The v2 runs go through a
// recording HTTP proxy on 127.0.0.1, so each check also asserts the era on the wire: modern =
// server/discover first, then the call, every request with MCP-Protocol-Version 2026-07-28 and the
// `_meta` envelope, no initialize, no Mcp-Session-Id, no GET; legacy = initialize first and a
// session id after it.
// The CLIs run with a private, temporary HOME and TMPDIR, so nothing is written into ~.
// Prints one line per call; exits 0 when all passed.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const V1 = join(HERE, 'node_modules/@modelcontextprotocol/inspector-cli');
const V2 = join(HERE, 'node_modules/@modelcontextprotocol/inspector');
const V2_BIN = join(V2, JSON.parse(readFileSync(join(V2, 'package.json'), 'utf8')).bin['mcp-inspector']);
const V2_VERSION = JSON.parse(readFileSync(join(V2, 'package.json'), 'utf8')).version;
const MODERN = '2026-07-28';
const CALL_TIMEOUT_MS = 30_000;

const url = process.argv[2];
if (!url) {
  console.error('usage: node inspector-check.mjs URL');
  process.exit(2);
}

const home = mkdtempSync(join(tmpdir(), 'inspector-home-'));
let failures = 0;

/** Runs node with `args`; resolves {status, stdout, stderr} (the event loop stays free for the proxy). */
function runNode(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, HOME: home, TMPDIR: home, USERPROFILE: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CALL_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status: signal ? `killed by ${signal} (timeout ${CALL_TIMEOUT_MS} ms?)` : status, stdout, stderr });
    });
  });
}

function parseJson(where, result) {
  if (result.status !== 0) throw new Error(`${where}: exit ${result.status}\n${result.stdout}\n${result.stderr}`);
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`${where}: stdout is not JSON:\n${result.stdout}\n${result.stderr}`);
  }
}

async function inspectorV1(...args) {
  const result = await runNode(
    [join(V1, 'build/cli.js'), '--cli', url, '--transport', 'http', ...args],
    // build/index.js looks for "../package.json" relative to the working directory to name
    // itself; from its own build/ folder that is the package's package.json.
    join(V1, 'build'),
  );
  return parseJson(`inspector v1 ${args.join(' ')}`, result);
}

/** v2 CLI through `target` (the proxy); `--format json` prints {"result": ...}. */
async function inspectorV2(target, era, ...args) {
  const argv = [V2_BIN, '--cli', target, '--transport', 'http', '--protocol-era', era, '--format', 'json', ...args];
  const out = parseJson(`inspector v2 --protocol-era ${era} ${args.join(' ')}`, await runNode(argv, home));
  if (!out || typeof out !== 'object' || !('result' in out)) {
    throw new Error(`inspector v2: no "result" in ${JSON.stringify(out).slice(0, 300)}`);
  }
  return out.result;
}

/**
 * A recording reverse proxy on 127.0.0.1 in front of `upstream`: every request's method, MCP
 * headers and JSON-RPC body, and the response status and session header. Streams pass through.
 */
async function startProxy(upstream) {
  const target = new URL(upstream);
  const exchanges = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body;
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const exchange = {
        method: req.method,
        headers: { ...req.headers },
        body,
        status: undefined,
        sessionOut: undefined,
      };
      exchanges.push(exchange);
      const headers = { ...req.headers, host: target.host };
      const up = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (upRes) => {
          exchange.status = upRes.statusCode;
          exchange.sessionOut = upRes.headers['mcp-session-id'];
          res.writeHead(upRes.statusCode, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      up.end(raw);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    exchanges,
    take() {
      return exchanges.splice(0, exchanges.length);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

function describe(exchanges) {
  return exchanges
    .map(
      (x) =>
        `${x.method} ${x.body?.method ?? ''} [version ${x.headers['mcp-protocol-version'] ?? '-'}, session ${
          x.headers['mcp-session-id'] ?? '-'
        }] -> ${x.status} ${JSON.stringify(x.body ?? '').slice(0, 300)}`,
    )
    .join('\n');
}

/** The exchanges of one modern CLI run: discover first, then `method`, nothing session-era. */
function expectModernWire(exchanges, method) {
  const wire = `\n${describe(exchanges)}`;
  const rpc = exchanges.filter((x) => x.body?.id !== undefined).map((x) => x.body.method);
  expect(rpc[0] === 'server/discover', `first request is ${rpc[0]}, not server/discover${wire}`);
  expect(rpc.includes(method), `no ${method} on the wire${wire}`);
  expect(!rpc.includes('initialize'), `initialize on the wire${wire}`);
  for (const x of exchanges) {
    expect(x.method === 'POST', `a ${x.method} request${wire}`);
    expect(x.headers['mcp-session-id'] === undefined, `a request with Mcp-Session-Id${wire}`);
    expect(x.sessionOut === undefined, `the server minted a session${wire}`);
    if (x.body?.id === undefined) continue;
    expect(x.headers['mcp-protocol-version'] === MODERN, `${x.body.method} without MCP-Protocol-Version ${MODERN}${wire}`);
    expect(x.headers['mcp-method'] === x.body.method, `${x.body.method} with Mcp-Method ${x.headers['mcp-method']}${wire}`);
    expect(
      x.body.params?._meta?.['io.modelcontextprotocol/protocolVersion'] === MODERN,
      `${x.body.method} without the 2026-07-28 _meta envelope${wire}`,
    );
    expect(x.status === 200, `${x.body.method} answered ${x.status}${wire}`);
  }
  return rpc;
}

async function check(name, body) {
  try {
    await body();
    console.log(`  PASS ${name}`);
  } catch (error) {
    failures += 1;
    console.log(`  FAIL ${name}\n${String(error.message).replace(/^/gm, '       ')}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function expectFixtureTools(out, also = []) {
  expect(Array.isArray(out.tools), `no tools array: ${JSON.stringify(out).slice(0, 300)}`);
  const names = out.tools.map((t) => t.name);
  for (const name of ['test_simple_text', 'echo', 'test_tool_with_progress', ...also]) {
    expect(names.includes(name), `tools/list lacks ${name}: ${names.join(', ')}`);
  }
  for (const tool of out.tools) {
    expect(typeof tool.description === 'string' && tool.description, `tool ${tool.name} has no description`);
    expect(tool.inputSchema?.type === 'object', `tool ${tool.name} has no object inputSchema`);
  }
  return names;
}

console.log('inspector v1 (@modelcontextprotocol/inspector-cli)');

await check('tools/list', async () => {
  expectFixtureTools(await inspectorV1('--method', 'tools/list'));
});

await check('tools/call test_simple_text', async () => {
  const out = await inspectorV1('--method', 'tools/call', '--tool-name', 'test_simple_text');
  expect(!out.isError, `isError: ${JSON.stringify(out)}`);
  expect(out.content?.[0]?.type === 'text', `first content is not text: ${JSON.stringify(out)}`);
  expect(out.content[0].text === 'This is a simple text response for testing.', `unexpected text: ${out.content[0].text}`);
});

await check('tools/call echo --tool-arg text=...', async () => {
  const out = await inspectorV1('--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=hello inspector');
  expect(out.content?.[0]?.text === 'hello inspector', `unexpected result: ${JSON.stringify(out)}`);
});

// The typed fixture tools: their schemas are derived from Rust types (descriptions from doc
// comments, ranges from attributes), and arguments that do not fit are a tool error naming the field.
function expectDerivedSchemas(out) {
  const tool = (name) => out.tools.find((t) => t.name === name) ?? {};
  const count = tool('word_count');
  expect(count.inputSchema?.properties?.text?.description === 'The text to count.', `word_count inputSchema: ${JSON.stringify(count.inputSchema)}`);
  expect(count.inputSchema?.$schema === 'https://json-schema.org/draft/2020-12/schema', `word_count inputSchema is not 2020-12: ${JSON.stringify(count.inputSchema)}`);
  expect(count.outputSchema?.properties?.words?.type === 'integer', `word_count outputSchema: ${JSON.stringify(count.outputSchema)}`);
  const notify = tool('notify');
  expect(notify.inputSchema?.properties?.count?.maximum === 1000000, `notify inputSchema: ${JSON.stringify(notify.inputSchema)}`);
  expect(JSON.stringify(notify.inputSchema?.required) === '["count"]', `notify required: ${JSON.stringify(notify.inputSchema)}`);
}

await check('tools/list shows the schemas derived from the typed tools', async () => {
  expectDerivedSchemas(await inspectorV1('--method', 'tools/list'));
});

await check('tools/call word_count: structuredContent beside its text', async () => {
  const out = await inspectorV1('--method', 'tools/call', '--tool-name', 'word_count', '--tool-arg', 'text=one two three');
  expect(JSON.stringify(out.structuredContent) === '{"characters":13,"words":3}', `structuredContent: ${JSON.stringify(out)}`);
  expect(JSON.parse(out.content?.[0]?.text ?? 'null')?.words === 3, `text content: ${JSON.stringify(out)}`);
});

await check('tools/call with a wrongly typed argument: isError naming the field', async () => {
  // The CLI converts by the schema first: "many" reaches the server as null, still not a u64.
  const out = await inspectorV1('--method', 'tools/call', '--tool-name', 'notify', '--tool-arg', 'count="many"');
  expect(out.isError === true, `not a tool error: ${JSON.stringify(out)}`);
  expect(/^invalid arguments: count: invalid type: /.test(out.content?.[0]?.text), `message: ${JSON.stringify(out)}`);
});

console.log(`inspector v2 (@modelcontextprotocol/inspector ${V2_VERSION}), through a recording proxy`);
const proxy = await startProxy(url);

await check('--protocol-era modern: tools/list', async () => {
  proxy.take();
  const out = await inspectorV2(proxy.url, 'modern', '--method', 'tools/list');
  const names = expectFixtureTools(out, ['test_input_required_result_elicitation', 'test_trigger_tool_change']);
  expectDerivedSchemas(out);
  const rpc = expectModernWire(proxy.take(), 'tools/list');
  console.log(`       ${names.length} tools; wire: ${rpc.join(', ')}`);
});

await check('--protocol-era modern: tools/call echo --tool-arg text=...', async () => {
  proxy.take();
  const out = await inspectorV2(proxy.url, 'modern', '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=hello modern inspector');
  expect(out.content?.[0]?.text === 'hello modern inspector', `unexpected result: ${JSON.stringify(out)}`);
  expect(out._meta?.['io.modelcontextprotocol/serverInfo']?.name, `no serverInfo in the result _meta: ${JSON.stringify(out)}`);
  const exchanges = proxy.take();
  expectModernWire(exchanges, 'tools/call');
  const call = exchanges.find((x) => x.body?.method === 'tools/call');
  expect(call.headers['mcp-name'] === 'echo', `tools/call with Mcp-Name ${call.headers['mcp-name']}`);
});

await check('--protocol-era auto: tools/list stays modern', async () => {
  proxy.take();
  expectFixtureTools(await inspectorV2(proxy.url, 'auto', '--method', 'tools/list'));
  expectModernWire(proxy.take(), 'tools/list');
});

await check('--protocol-era legacy: tools/list over a session', async () => {
  proxy.take();
  expectFixtureTools(await inspectorV2(proxy.url, 'legacy', '--method', 'tools/list'));
  const exchanges = proxy.take();
  const wire = `\n${describe(exchanges)}`;
  const rpc = exchanges.filter((x) => x.body?.id !== undefined).map((x) => x.body.method);
  expect(rpc[0] === 'initialize' && !rpc.includes('server/discover'), `legacy wire: ${rpc.join(', ')}${wire}`);
  const session = exchanges[0].sessionOut;
  expect(session, `initialize answered without Mcp-Session-Id${wire}`);
  for (const x of exchanges.slice(1)) {
    expect(x.headers['mcp-session-id'] === session, `${x.method} ${x.body?.method ?? ''} without the session id${wire}`);
  }
});

await proxy.close();
rmSync(home, { recursive: true, force: true });
console.log(`inspector: ${failures === 0 ? 'ok' : `${failures} failed`}`);
process.exit(failures === 0 ? 0 : 1);
