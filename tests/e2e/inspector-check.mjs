// MCP Inspector CLI (v1, @modelcontextprotocol/inspector-cli) smoke check.
//
//   node inspector-check.mjs URL
//
// Runs `mcp-inspector-cli --cli URL --transport http --method ...` for tools/list, tools/call of
// test_simple_text and tools/call of echo with an argument, and checks the JSON each prints.
// The CLI runs with a private, temporary HOME and TMPDIR, so nothing is written into ~.
// Prints one line per call; exits 0 when all passed.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE = join(HERE, 'node_modules/@modelcontextprotocol/inspector-cli');
const CALL_TIMEOUT_MS = 30_000;

const url = process.argv[2];
if (!url) {
  console.error('usage: node inspector-check.mjs URL');
  process.exit(2);
}

const home = mkdtempSync(join(tmpdir(), 'inspector-home-'));
let failures = 0;

function inspector(...args) {
  const result = spawnSync(process.execPath, [join(PACKAGE, 'build/cli.js'), '--cli', url, '--transport', 'http', ...args], {
    // build/index.js looks for "../package.json" relative to the working directory to name
    // itself; from its own build/ folder that is the package's package.json.
    cwd: join(PACKAGE, 'build'),
    env: { ...process.env, HOME: home, TMPDIR: home, USERPROFILE: home },
    encoding: 'utf8',
    timeout: CALL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const where = `inspector ${args.join(' ')}`;
  if (result.error) throw new Error(`${where}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${where}: exit ${result.status}\n${result.stdout}\n${result.stderr}`);
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`${where}: stdout is not JSON:\n${result.stdout}\n${result.stderr}`);
  }
}

function check(name, body) {
  try {
    body();
    console.log(`  PASS ${name}`);
  } catch (error) {
    failures += 1;
    console.log(`  FAIL ${name}\n${String(error.message).replace(/^/gm, '       ')}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

check('tools/list', () => {
  const out = inspector('--method', 'tools/list');
  expect(Array.isArray(out.tools), `no tools array: ${JSON.stringify(out).slice(0, 300)}`);
  const names = out.tools.map((t) => t.name);
  for (const name of ['test_simple_text', 'echo', 'test_tool_with_progress']) {
    expect(names.includes(name), `tools/list lacks ${name}: ${names.join(', ')}`);
  }
  for (const tool of out.tools) {
    expect(typeof tool.description === 'string' && tool.description, `tool ${tool.name} has no description`);
    expect(tool.inputSchema?.type === 'object', `tool ${tool.name} has no object inputSchema`);
  }
});

check('tools/call test_simple_text', () => {
  const out = inspector('--method', 'tools/call', '--tool-name', 'test_simple_text');
  expect(!out.isError, `isError: ${JSON.stringify(out)}`);
  expect(out.content?.[0]?.type === 'text', `first content is not text: ${JSON.stringify(out)}`);
  expect(out.content[0].text === 'This is a simple text response for testing.', `unexpected text: ${out.content[0].text}`);
});

check('tools/call echo --tool-arg text=...', () => {
  const out = inspector('--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=hello inspector');
  expect(out.content?.[0]?.text === 'hello inspector', `unexpected result: ${JSON.stringify(out)}`);
});

rmSync(home, { recursive: true, force: true });
console.log(`inspector: ${failures === 0 ? 'ok' : `${failures} failed`}`);
process.exit(failures === 0 ? 0 : 1);
