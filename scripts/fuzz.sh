#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine with cargo-fuzz (libFuzzer), see fuzz/.
#
#   bash scripts/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=180 bash scripts/fuzz.sh     # longer runs
#   FUZZ_TARGETS="headers event_id" bash scripts/fuzz.sh
#
# Set-up (idempotent): the nightly toolchain and cargo-fuzz. Each target starts from a copy of
# its seeds (fuzz/corpus/<target>/seed-*) in a temporary directory, so runs leave the repository
# clean. A crash, panic or hang fails the script; its input is kept under fuzz/artifacts/<target>/
# (replay it with `cargo +nightly fuzz run -s none -a <target> <file>`). One summary line per
# target gives the number of inputs executed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TERM_COLOR=never

SECONDS_EACH=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-"jsonrpc_body headers event_id sse_encoder engine_handle"}
# The crate has no unsafe code, so AddressSanitizer would only slow the build and the runs down;
# debug assertions and overflow checks stay on.
FLAGS=(-s none -a)

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== build (every target; the first build takes minutes)"
if ! cargo +nightly fuzz build "${FLAGS[@]}" >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  exit 1
fi
tail -n 1 "$WORK/build.log"
failed=0
summary=()
for target in $TARGETS; do
  echo "== $target (${SECONDS_EACH}s)"
  corpus="$WORK/$target"
  mkdir -p "$corpus"
  cp corpus/"$target"/seed-* "$corpus"/
  log="$WORK/$target.log"
  status=0
  cargo +nightly fuzz run "${FLAGS[@]}" "$target" "$corpus" -- \
    -max_total_time="$SECONDS_EACH" -timeout=20 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    summary+=("$target: ok, ${runs:-?} executions in ${SECONDS_EACH}s")
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    grep -E -A 3 -m 5 "panicked at|ERROR: libFuzzer" "$log" || tail -n 30 "$log"
    summary+=("$target: FAILED (exit $status) after ${runs:-?} executions; input: ${artifact:-none written, see the log above}")
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
