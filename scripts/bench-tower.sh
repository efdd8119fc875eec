#!/usr/bin/env bash
# What the tower bridge costs: the `server` example (the hyper host) and the `axum` example (the
# same fixture through host::tower::McpService) side by side, with the same worker count.
# Not part of the test command: a benchmark.
#
#   LOADGEN=/path/to/loadgen bash scripts/bench-tower.sh
#
# LOADGEN is the load generator of the shared bench (../shared/bench: `cargo build --release
# -p loadgen` there). Each repetition (REPS, default 3) runs `loadgen handshake` (initialize +
# notifications/initialized, conc 8) and `loadgen call` (tools/call echo, conc 16 on 16
# sessions) against each server, each run on a fresh server and bounded to SECS seconds
# (default 8), the two servers alternating. Each server gets WORKERS workers (default 2; the
# axum example also gives axum's own runtime that many threads). Prints every loadgen line, then
# the medians, the axum/server ratios, and the server's CPU time per operation.
# Everything it starts binds 127.0.0.1 on free ports and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOADGEN=${LOADGEN:?set LOADGEN to the shared bench loadgen binary}
REPS=${REPS:-3}
SECS=${SECS:-8}
WORKERS=${WORKERS:-2}
BIN=$ROOT/target/release/examples
[[ -x $BIN/server && -x $BIN/axum ]] || cargo build --release --features tokio,tower --example server --example axum
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-bench-tower.XXXXXX")
SERVER_PID=
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# start NAME: starts the example NAME on a free port; sets URL.
start() {
  "$BIN/$1" --port 0 --workers "$WORKERS" >"$WORK/out" 2>"$WORK/err" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$WORK/out" 2>/dev/null) && return
    sleep 0.05
  done
  echo "$1 did not say where it listens" >&2
  exit 1
}

LINES=$WORK/lines
for rep in $(seq "$REPS"); do
  echo "# rep $rep/$REPS, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  for scenario in handshake call; do
    for name in server axum; do
      start "$name"
      if [[ $scenario == handshake ]]; then
        args=(handshake --conc 8 --n 20000)
      else
        args=(call --conc 16 --sessions 16 --n 200000)
      fi
      if line=$("$LOADGEN" "${args[@]}" --secs "$SECS" --url "$URL" --name "$name" --pid "$SERVER_PID" 2>"$WORK/loadgen.err"); then
        echo "$line" | tee -a "$LINES"
      else
        echo "# $name $scenario: loadgen failed: $(head -n 1 "$WORK/loadgen.err")" >&2
      fi
      stop_server
    done
  done
done

# The median of KEY over the lines of SCENARIO and SERVER; with `cpu`, of the server's CPU time
# per operation in µs (srv_cpu_pct over the rate), which other load on the machine moves less.
median() { # scenario server key
  grep "scenario=$1 " "$LINES" | grep " server=$2 " | sed 's/=/ /g' | awk -v k="$3" '{
    for (i = 1; i < NF; i++) f[$i] = $(i + 1)
    rate = f["sessions_per_s"] + f["rps"]
    print (k == "cpu" ? (rate > 0 ? f["srv_cpu_pct"] * 1e4 / rate : 0) : f[k])
  }' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) print "na"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "# medians of $REPS runs, $WORKERS workers each"
for pair in handshake:sessions_per_s call:rps; do
  scenario=${pair%%:*} key=${pair#*:}
  s=$(median "$scenario" server "$key") a=$(median "$scenario" axum "$key")
  sc=$(median "$scenario" server cpu) ac=$(median "$scenario" axum cpu)
  awk -v sc="$scenario" -v k="$key" -v s="$s" -v a="$a" -v scpu="$sc" -v acpu="$ac" 'BEGIN {
    printf "%-9s %s: server %s, axum %s, axum/server %.2f; server CPU per op: %.1f vs %.1f us (%.2fx)\n",
      sc, k, s, a, (s > 0 ? a / s : 0), scpu, acpu, (scpu > 0 ? acpu / scpu : 0) }'
done
