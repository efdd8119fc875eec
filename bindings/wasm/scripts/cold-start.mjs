// Cold start of the worker: time from spawning workerd to the first answered `initialize`
// (the engine instantiated in the worker isolate and in a fresh Durable Object). Prints each
// run and the median; bounded: RUNS (default 5) runs, 20 s each at most.
//
//   node scripts/cold-start.mjs [RUNS]

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.argv[2] ?? 5);
const INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "cold-start", version: "1" } },
});

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function once() {
  const port = await freePort();
  const storage = mkdtempSync(join(tmpdir(), "mcp-cold-"));
  const started = performance.now();
  const child = spawn(
    join(ROOT, "node_modules/.bin/workerd"),
    ["serve", join(ROOT, "worker/config.capnp"), "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `storage=${storage}`],
    { stdio: "ignore" },
  );
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: INIT,
        });
        if (response.status === 200 && response.headers.get("mcp-session-id")) {
          await response.text();
          return performance.now() - started;
        }
        throw new Error(`initialize answered HTTP ${response.status}`);
      } catch (error) {
        if (!String(error.cause?.code ?? "").startsWith("ECONNREFUSED")) throw error;
        if (Date.now() > deadline) throw new Error("workerd did not answer within 20 s");
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  } finally {
    child.kill("SIGKILL");
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
    rmSync(storage, { recursive: true, force: true });
  }
}

const times = [];
for (let i = 0; i < RUNS; i++) {
  const ms = await once();
  times.push(ms);
  console.log(`cold start ${i + 1}/${RUNS}: ${ms.toFixed(0)} ms`);
}
times.sort((a, b) => a - b);
console.log(`cold start to first initialize: median ${times[Math.floor(times.length / 2)].toFixed(0)} ms (min ${times[0].toFixed(0)}, max ${times.at(-1).toFixed(0)})`);
