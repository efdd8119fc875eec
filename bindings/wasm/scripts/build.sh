#!/usr/bin/env bash
# Builds the npm package's wasm into pkg/ (and the worker example's copy in worker/pkg/):
# cargo (size profile) -> wasm-bindgen --target web -> wasm-opt -Oz (npm binaryen; Debian's
# binaryen 108 breaks wasm-bindgen's externref table). Prints the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(cd ../.. && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build -p mcp-session-wasm --target wasm32-unknown-unknown --profile wasm-release
rm -rf pkg
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir pkg \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/mcp_session_wasm.wasm"
bindgen_bytes=$(wc -c < pkg/mcp_session_wasm_bg.wasm)
node_modules/.bin/wasm-opt -Oz pkg/mcp_session_wasm_bg.wasm -o pkg/mcp_session_wasm_bg.wasm
raw=$(wc -c < pkg/mcp_session_wasm_bg.wasm)
gz=$(gzip -9 -c pkg/mcp_session_wasm_bg.wasm | wc -c)
rm -rf worker/pkg && cp -r pkg worker/pkg
echo "wasm: $bindgen_bytes bytes from wasm-bindgen; after wasm-opt -Oz: $raw bytes raw, $gz bytes gzipped (-9)"
