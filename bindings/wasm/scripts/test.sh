#!/usr/bin/env bash
# Tests of the edge: the wasm bindings and the worker in workerd. Run by scripts/test.sh at the
# repository root, after `npm ci` here and in tests/e2e (whose Node 22, TypeScript SDK and
# conformance suite it reuses).
#
#   bash bindings/wasm/scripts/test.sh
#
#  1. builds pkg/ (cargo -> wasm-bindgen -> wasm-opt -Oz) and prints the sizes;
#  2. runs the bindings' own tests in Node (wasm-bindgen-test);
#  3. serves the worker with workerd on a free loopback port and runs, against it, the official
#     conformance suite (0.1.16: 32 of 32), the suite's 0.2.0-alpha.12 on the 2026-07-28 wire
#     (`--spec-version 2026-07-28`: 40 of 40, 0 FAILURE, 0 WARNING; no sessions: requests answered
#     by the front, listen streams by their Durable Object), the official TypeScript client end to
#     end, and the worker's own tests (tenant directory fan-out, header bytes, Host);
#  4. restarts workerd on the same Durable Object storage: the session and its undelivered events
#     survive;
#  5. prints the cold start to the first `initialize`.
set -euo pipefail
cd "$(dirname "$0")/.."
E2E=$(cd ../../tests/e2e && pwd)
NODE22=$E2E/node_modules/.bin/node
[ -x "$NODE22" ] || { echo "run 'npm ci' in tests/e2e first (Node 22 comes from there)" >&2; exit 2; }

step() { printf '\n-- %s\n' "$*"; }

step "build"
bash scripts/build.sh

step "bindings tests in Node (wasm-bindgen-test)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p mcp-session-wasm --target wasm32-unknown-unknown

step "worker in workerd"
STORAGE=$(mktemp -d "${TMPDIR:-/tmp}/mcp-workerd-storage.XXXXXX")
PORT=$("$NODE22" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
URL="http://127.0.0.1:$PORT/mcp"
node_modules/.bin/workerd serve worker/config.capnp --socket-addr "http=127.0.0.1:$PORT" \
  --directory-path "storage=$STORAGE" > "$STORAGE.log" 2>&1 &
WORKERD=$!
cleanup() {
  kill "$WORKERD" 2>/dev/null || true
  wait "$WORKERD" 2>/dev/null || true
  rm -rf "$STORAGE" "$STORAGE.log"
}
trap cleanup EXIT
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 "$WORKERD" 2>/dev/null || { cat "$STORAGE.log" >&2; exit 1; }
  sleep 0.05
done
echo "workerd (pid $WORKERD) serving $URL"

step "conformance suite against the worker"
"$NODE22" "$E2E/conformance.mjs" suite "$URL"

step "conformance suite, 2026-07-28 wire, against the worker"
"$NODE22" "$E2E/conformance.mjs" modern "$URL"

step "official TypeScript client through the worker"
# The expiry tests need the native example's --test-clock; the worker runs on real time.
(cd "$E2E" && MCP_URL=$URL "$NODE22" --test --test-reporter=spec --test-force-exit \
  --test-skip-pattern '^expiry' ts-client.test.mjs)

step "worker behaviours in workerd: tenant directory, header bytes, Host"
MCP_URL=$URL "$NODE22" --test --test-reporter=spec tests/worker.test.mjs

cleanup
trap - EXIT

step "persistence across a workerd restart"
"$NODE22" --test --test-reporter=spec tests/persistence.test.mjs

step "cold start"
"$NODE22" scripts/cold-start.mjs 5
