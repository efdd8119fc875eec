#!/usr/bin/env bash
# Builds the npm package's wasm into pkg/ (and the worker example's copy in worker/pkg/):
# cargo (size profile) -> wasm-bindgen --target web -> wasm-opt -Oz (npm binaryen; Debian's
# binaryen 108 breaks wasm-bindgen's externref table). Prints the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(cd ../.. && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# Panic locations name source files; without remapping, the shipped .wasm would carry this
# machine's cargo registry and checkout paths.
CARGO_HOME_DIR=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd)
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$CARGO_HOME_DIR=/cargo --remap-path-prefix=$ROOT=/mcp-session"
cargo build -p mcp-session-wasm --target wasm32-unknown-unknown --profile wasm-release
rm -rf pkg
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir pkg \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/mcp_session_wasm.wasm"
bindgen_bytes=$(wc -c < pkg/mcp_session_wasm_bg.wasm)
node_modules/.bin/wasm-opt -Oz pkg/mcp_session_wasm_bg.wasm -o pkg/mcp_session_wasm_bg.wasm
raw=$(wc -c < pkg/mcp_session_wasm_bg.wasm)
gz=$(gzip -9 -c pkg/mcp_session_wasm_bg.wasm | wc -c)
for local_path in "$CARGO_HOME_DIR" "$ROOT"; do
  if leaks=$(grep -a -o -F "$local_path" pkg/mcp_session_wasm_bg.wasm | wc -l) && [ "$leaks" -gt 0 ]; then
    echo "pkg/mcp_session_wasm_bg.wasm names the build machine's $local_path $leaks times" >&2
    exit 1
  fi
done
rm -rf worker/pkg && cp -r pkg worker/pkg
echo "wasm: $bindgen_bytes bytes from wasm-bindgen; after wasm-opt -Oz: $raw bytes raw, $gz bytes gzipped (-9)"
