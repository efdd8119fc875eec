// Runs the official conformance suite against a server and judges the result from the
// checks.json files it writes (the CLI's own exit code and summary count checks, not scenarios,
// and ignore WARNINGs).
//
//   node conformance.mjs suite URL [--out DIR]   # 0.1.16, `server --suite all`: every listed
//                                                # scenario (32) passes, 0 FAILURE, 0 WARNING
//   node conformance.mjs next URL [--out DIR]    # 0.2.0-alpha.12, server-session-lifecycle and
//                                                # server-initialize: every check SUCCESS, and
//                                                # server-session-id-visible-ascii present
//   node conformance.mjs modern URL [--out DIR]  # 0.2.0-alpha.12, `server --suite all
//                                                # --spec-version 2026-07-28`: the 40 scenarios
//                                                # of the sessionless wire, 0 FAILURE, 0 WARNING
//   node conformance.mjs modern-alpha11 URL      # the same with 0.2.0-alpha.11
//   node conformance.mjs summarize DIR [--expect N]   # judge an existing -o directory
//
// Needs Node >= 22 (the CLI imports fs.globSync): run it with node_modules/.bin/node.
// Prints one line per scenario, then `conformance <version>: P/N scenarios passed`; exits 0 only
// when every expected scenario passed.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SUITES = {
  suite: {
    version: '0.1.16',
    cli: join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
    expectCount: 32,
    runs: [['--suite', 'all']],
    allSuccess: false,
    requiredChecks: [],
  },
  next: {
    version: '0.2.0-alpha.12',
    cli: join(HERE, 'node_modules/conformance-next/dist/index.js'),
    scenarios: ['server-session-lifecycle', 'server-initialize'],
    runs: [['--scenario', 'server-session-lifecycle'], ['--scenario', 'server-initialize']],
    allSuccess: true,
    requiredChecks: [['server-initialize', 'server-session-id-visible-ascii']],
  },
};
SUITES.modern = {
  version: '0.2.0-alpha.12 (2026-07-28 wire)',
  cli: SUITES.next.cli,
  // What `--suite all --spec-version 2026-07-28` runs (the tasks extension is excluded).
  scenarios: `caching completion-complete dns-rebinding-protection http-custom-header-server-validation
    http-header-validation input-required-result-basic-elicitation input-required-result-basic-list-roots
    input-required-result-basic-sampling input-required-result-capability-check
    input-required-result-ignore-extra-params input-required-result-missing-input-response
    input-required-result-multi-round input-required-result-multiple-input-requests
    input-required-result-non-tool-request input-required-result-request-state input-required-result-result-type
    input-required-result-tampered-state input-required-result-unsupported-methods
    input-required-result-validate-input json-schema-2020-12 prompts-get-embedded-resource prompts-get-simple
    prompts-get-with-args prompts-get-with-image prompts-list resources-list resources-read-binary
    resources-read-text resources-templates-read sep-2164-resource-not-found server-sse-multiple-streams
    server-stateless tools-call-audio tools-call-embedded-resource tools-call-error tools-call-image
    tools-call-mixed-content tools-call-simple-text tools-call-with-progress tools-list`.split(/\s+/),
  runs: [['--suite', 'all', '--spec-version', '2026-07-28']],
  allSuccess: false,
  requiredChecks: [],
};
// The same wire with the release the SDKs' CIs pin (alpha.11; alpha.12 above is newer).
SUITES['modern-alpha11'] = {
  ...SUITES.modern,
  version: '0.2.0-alpha.11 (2026-07-28 wire)',
  cli: join(HERE, 'node_modules/conformance-alpha11/dist/index.js'),
};
const CLI_TIMEOUT_MS = 240_000;

function usage() {
  console.error('usage: node conformance.mjs suite|next|modern|modern-alpha11 URL [--out DIR]\n       node conformance.mjs summarize DIR [--expect N]');
  process.exit(2);
}

/** Runs a command, sending its output to `log`; resolves with its exit code (or a signal name). */
function run(command, args, log, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[conformance.mjs] killed after ${timeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      writeFileSync(log, output, { flag: 'a' });
      resolve(code ?? signal);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      writeFileSync(log, `${output}\n${error.stack}\n`, { flag: 'a' });
      resolve(-1);
    });
  });
}

/** Scenario names from `conformance list --server`. */
async function listScenarios(cli, out) {
  const log = join(out, 'list.txt');
  const code = await run(process.execPath, [cli, 'list', '--server'], log, 30_000);
  if (code !== 0) throw new Error(`conformance list --server exited ${code}; see ${log}`);
  return readFileSync(log, 'utf8')
    .split('\n')
    .map((line) => line.match(/^\s+-\s+(\S+)/)?.[1])
    .filter(Boolean);
}

/** {scenario: [checks] | Error} from DIR/server-<scenario>-<ISO time>/checks.json. */
function readResults(dir) {
  const results = new Map();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const match = entry.isDirectory() && entry.name.match(/^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    if (!match) continue;
    const file = join(dir, entry.name, 'checks.json');
    let checks;
    try {
      checks = JSON.parse(readFileSync(file, 'utf8'));
      if (!Array.isArray(checks)) throw new Error('checks.json is not an array');
    } catch (error) {
      checks = new Error(existsSync(file) ? `unreadable checks.json: ${error.message}` : 'no checks.json');
    }
    results.set(match[1], checks);
  }
  return results;
}

/** Judges the results; prints one line per scenario; returns the number of scenarios that failed. */
function judge({ version, expected, results, allSuccess, requiredChecks }) {
  let passed = 0;
  const names = [...new Set([...expected, ...results.keys()])];
  for (const name of names) {
    const checks = results.get(name);
    const problems = [];
    if (!expected.includes(name)) problems.push('not an expected scenario');
    if (checks === undefined) problems.push('no result directory (scenario did not run)');
    else if (checks instanceof Error) problems.push(checks.message);
    else {
      if (checks.length === 0) problems.push('no checks');
      for (const check of checks) {
        const bad = allSuccess ? check.status !== 'SUCCESS' : check.status === 'FAILURE' || check.status === 'WARNING';
        if (bad) problems.push(`${check.status} ${check.id}: ${check.errorMessage ?? check.description ?? ''}`.trim());
      }
      for (const [scenario, id] of requiredChecks) {
        if (scenario !== name) continue;
        const check = checks.find((c) => c.id === id);
        if (!check) problems.push(`required check ${id} missing`);
        else if (check.status !== 'SUCCESS' && !allSuccess) problems.push(`${check.status} ${id} (required)`);
      }
    }
    const counts = Array.isArray(checks)
      ? Object.entries(
          checks.reduce((acc, c) => ({ ...acc, [c.status]: (acc[c.status] ?? 0) + 1 }), {}),
        )
          .map(([status, n]) => `${n} ${status}`)
          .join(', ')
      : '';
    if (problems.length === 0) {
      passed += 1;
      console.log(`  PASS ${name} (${counts})`);
    } else {
      console.log(`  FAIL ${name}${counts ? ` (${counts})` : ''}`);
      for (const problem of problems) console.log(`       - ${problem}`);
    }
  }
  const total = expected.length;
  const failed = names.length - passed;
  console.log(`conformance ${version}: ${passed}/${total} scenarios passed`);
  return failed;
}

async function main() {
  const [mode, target, ...rest] = process.argv.slice(2);
  if (!mode || !target) usage();
  const option = (name) => {
    const i = rest.indexOf(name);
    return i === -1 ? undefined : rest[i + 1];
  };

  if (mode === 'summarize') {
    const results = readResults(target);
    const expectCount = Number(option('--expect') ?? results.size);
    const expected = [...results.keys()];
    let failed = judge({ version: target, expected, results, allSuccess: false, requiredChecks: [] });
    if (expected.length !== expectCount) {
      console.log(`expected ${expectCount} scenarios, found ${expected.length}`);
      failed += 1;
    }
    process.exit(failed === 0 ? 0 : 1);
  }

  const suite = SUITES[mode];
  if (!suite) usage();
  if (Number(process.versions.node.split('.')[0]) < 22) {
    console.error(`the conformance CLI needs Node >= 22 (this is ${process.version}); use node_modules/.bin/node`);
    process.exit(2);
  }
  const out = option('--out') ?? mkdtempSync(join(tmpdir(), `conformance-${mode}-`));
  const log = join(out, 'cli-output.txt');

  let expected = suite.scenarios;
  if (!expected) {
    expected = await listScenarios(suite.cli, out);
    if (expected.length !== suite.expectCount) {
      console.log(`  FAIL conformance ${suite.version} lists ${expected.length} server scenarios, expected ${suite.expectCount}`);
      process.exit(1);
    }
  }
  for (const args of suite.runs) {
    // The CLI exits 1 on any FAILURE; the verdict comes from checks.json, so the code is only logged.
    const code = await run(process.execPath, [suite.cli, 'server', '--url', target, ...args, '-o', out], log, CLI_TIMEOUT_MS);
    writeFileSync(log, `\n[conformance.mjs] ${args.join(' ')}: exit ${code}\n`, { flag: 'a' });
  }
  const failed = judge({ version: suite.version, expected, results: readResults(out), ...suite });
  console.log(`  results: ${out}`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  process.exit(1);
});
