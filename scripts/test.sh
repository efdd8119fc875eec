#!/usr/bin/env bash
# Sets up everything a fresh machine needs, then runs every test. See README.md.
#
#   bash scripts/test.sh
#
# Set-up (idempotent, reused when present): the wasm32 target, wasm-bindgen-cli pinned to the
# wasm-bindgen crate in Cargo.lock, redis-server and nginx (Debian's packages), the npm packages of
# tests/e2e and bindings/wasm (Node 22 from the npm `node` package for the conformance CLI,
# workerd, binaryen).
# Tests: lints, native tests (tokio, async-std and smol matrix, the whole-engine simulation over
# 10,000 seeds, the store rules over MemoryStore and RedisStore, replicas sharing one Redis), core
# tests in Node through wasm-bindgen-test, benchmarks run once and the idle memory target, then
# end to end: the official conformance suite and the official TypeScript and Python clients
# against both native hosts and the axum example (host::tower) in memory, and against the native
# hosts over Redis (tests/e2e/redis.sh), the load and fault suite (examples/fault_suite.rs)
# against both native hosts, the same end-to-end clients against the worker in workerd, and every
# fuzz target for 30 s (cargo-fuzz, installed when missing, on the nightly toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

# Each step says when it starts, so a slow run shows which step grew.
step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS"; }
SECONDS=0

step "set-up: wasm32 target"
rustup target add wasm32-unknown-unknown

step "set-up: wasm-bindgen-cli"
WASM_BINDGEN_VERSION=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "wasm-bindgen not found in Cargo.lock" >&2; exit 1; }
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  # --locked fails on this registry mirror (a pinned transitive dependency is missing), and the
  # default features only add browser-driver downloads the tests do not use.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --no-default-features
fi
wasm-bindgen --version

step "set-up: redis-server and nginx (the Redis store's tests and the replicas behind nginx)"
missing=()
command -v redis-server > /dev/null && command -v redis-cli > /dev/null || missing+=(redis-server)
command -v nginx > /dev/null || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  # Debian's packages; their policy-rc.d keeps the packaged daemons from starting: the tests
  # start their own, on free loopback ports (Redis with persistence off).
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi
redis-server --version
nginx -v
# A missing Redis fails the Redis tests instead of skipping them.
export MCP_REQUIRE_REDIS=1

step "set-up: npm packages"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
# The lock file lists workerd's builds for every platform (optional packages), so `npm ci` installs
# exactly the locked versions here as on a developer's Mac.
(cd bindings/wasm && npm ci --no-audit --no-fund --loglevel=error)

step "lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p mcp-session-wasm --all-targets --target wasm32-unknown-unknown -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features -p mcp-session

step "native tests (tokio, async-std, smol)"
cargo test --workspace --all-features

step "core tests in Node (wasm32 + wasm-bindgen-test)"
# --lib --tests: the doc examples use tokio, which is a native-only dev-dependency.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p mcp-session --target wasm32-unknown-unknown --lib --tests

step "benchmarks run once each (criterion's --test); idle memory per session"
cargo bench -p mcp-session --all-features --no-run
cargo bench -p mcp-session --bench engine -- --test
cargo bench -p mcp-session --bench idle_memory

step "end to end: native hosts, and the engine mounted in axum (host::tower)"
cargo build --release --all-features --examples
bash tests/e2e/run.sh "$ROOT/target/release/examples/server" "$ROOT/target/release/examples/server_async_std" \
  "$ROOT/target/release/examples/axum"

step "end to end: the example servers over Redis (sessions in a redis-server of their own)"
for server in server server_async_std; do
  bash tests/e2e/redis.sh "$ROOT/target/release/examples/$server"
done

step "load and faults: native hosts"
# Same features as the build above, so nothing is rebuilt. Under a minute per host.
cargo run --release --all-features --example fault_suite -- \
  --server target/release/examples/server --server target/release/examples/server_async_std

step "end to end: the worker in workerd"
bash bindings/wasm/scripts/test.sh

step "fuzzing: every target briefly (cargo-fuzz on the nightly toolchain)"
FUZZ_SECONDS=${FUZZ_SECONDS:-30} bash scripts/fuzz.sh

echo
echo "all tests passed in ${SECONDS}s"
