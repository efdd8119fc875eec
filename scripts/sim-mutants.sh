#!/usr/bin/env bash
# Reintroduces each defect the whole-engine simulation exists to catch (tests/sim/mutants/*.patch:
# a lost wake-up for a sender paced by a replaced reader, a JSON-mode disconnect that strands its
# handler, a failed subscribe that leaves its stream live, a store outage taken for "the session
# still exists", which strands a request's resource watches, a release lost when the request telling
# the store of it is dropped mid-way, a connection a resume replaced left open) in a scratch copy
# of the tree, and
# checks that the simulation fails on each. Not part of the test command: each mutant is a
# rebuild. Usage: bash scripts/sim-mutants.sh [seeds per mutant, default 10000]; the lost wake-up
# shows in about 1 seed in 10,000 (19 of 200,000; 7 with SIM_PLAIN=1, the fixed mix), the outage
# taken for survival in about 1 in 60,000 (pass 200000 to be sure of either), the others within
# 10,000.
#
# Patches named `redis-*` are defects between replicas (a reconnect on another replica ignored,
# an attach left live when its request went while Redis answered): they run the simulation over
# two replicas on a real redis-server (which must be installed), REDIS_SEEDS of them (default
# 1500; real I/O runs about 10 seeds/s). The first shows in about 1 seed in 10, the second in
# about 1 in 1,500 (tests/failed_subscribe.rs is its sure check).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SEEDS=${1:-10000}
REDIS_SEEDS=${REDIS_SEEDS:-1500}
# One target directory for every mutant: only the crate itself is rebuilt each time.
export CARGO_TARGET_DIR="$ROOT/target/mutants"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$SCRATCH"
missed=0
for patch in tests/sim/mutants/*.patch; do
  name=$(basename "$patch" .patch)
  (cd "$SCRATCH" && patch -s -p1 < "$ROOT/$patch")
  case "$name" in
    redis-*) (cd "$SCRATCH" && MCP_REQUIRE_REDIS=1 SIM_REDIS_SEEDS=$REDIS_SEEDS cargo test --release --quiet \
      --features redis,tokio --test simulation over_two_replicas > "$SCRATCH/out.txt" 2>&1) || true ;;
    *) (cd "$SCRATCH" && SIM_SEEDS=$SEEDS cargo test --release --quiet --test simulation > "$SCRATCH/out.txt" 2>&1) || true ;;
  esac
  if grep -q "simulation seed" "$SCRATCH/out.txt"; then
    grep -m1 "simulation seed" "$SCRATCH/out.txt" | cut -c1-160
    echo "$name: caught"
  else
    echo "$name: NOT caught"
    missed=$((missed + 1))
  fi
  (cd "$SCRATCH" && patch -s -R -p1 < "$ROOT/$patch")
done
exit "$missed"
