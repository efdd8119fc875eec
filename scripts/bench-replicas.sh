#!/usr/bin/env bash
# Throughput of the example server behind nginx (round-robin, no stickiness): one replica in
# memory, then 1, 2 and 3 replicas sharing one Redis. Not part of the test command: a benchmark.
#
#   LOADGEN=/path/to/loadgen bash scripts/bench-replicas.sh
#
# LOADGEN is the load generator of the shared bench (../shared/bench: `cargo build --release
# -p loadgen` there). Runs `loadgen handshake` (initialize + notifications/initialized, conc 8)
# and `loadgen call` (tools/call echo, conc 16 on 16 sessions) through nginx against each
# set-up, REPS times (default 3), and prints one line per run with the Redis round trips and
# commands per operation (from INFO commandstats) and the CPU time per operation of the replicas
# (all of them together), of Redis and of nginx (from /proc, user + system). Each replica gets
# WORKERS worker threads (default 1).
# Everything it starts binds 127.0.0.1 on free ports and is stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=../tests/e2e/nginx.sh
. tests/e2e/nginx.sh
LOADGEN=${LOADGEN:?set LOADGEN to the shared bench loadgen binary}
REPS=${REPS:-3}
WORKERS=${WORKERS:-1}
SERVER=$ROOT/target/release/examples/server
[[ -x $SERVER ]] || cargo build --release --features tokio,redis --example server
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-replicas.XXXXXX")
PIDS=()
# The PIDs of the current set-up's replicas, Redis and nginx (master; its workers are its children).
REPLICA_PIDS=() REDIS_PID= NGINX_PID=
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; return 1; }

start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" \
    --maxmemory 1gb --maxmemory-policy noeviction --loglevel warning >/dev/null 2>&1 &
  PIDS+=($!)
  REDIS_PID=$!
  wait_port "$REDIS_PORT"
}

# replicas N [redis]: starts N servers and nginx in front; sets URL.
start_setup() {
  local count=$1 store=$2 upstreams=
  REPLICA_PIDS=()
  for _ in $(seq "$count"); do
    local port
    port=$(free_port)
    if [[ $store == redis ]]; then
      "$SERVER" --port "$port" --workers "$WORKERS" --redis "redis://127.0.0.1:$REDIS_PORT/" >/dev/null 2>"$WORK/server.err" &
    else
      "$SERVER" --port "$port" --workers "$WORKERS" >/dev/null 2>"$WORK/server.err" &
    fi
    PIDS+=($!)
    REPLICA_PIDS+=($!)
    wait_port "$port"
    upstreams+="server 127.0.0.1:$port;"
  done
  local front
  front=$(free_port)
  nginx_conf "$WORK/nginx.conf" "$WORK" "$front" "" "$upstreams" 4096 64
  nginx -c "$WORK/nginx.conf" -p "$WORK" &
  PIDS+=($!)
  NGINX_PID=$!
  wait_port "$front"
  URL="http://127.0.0.1:$front/mcp"
}

# "round trips commands": the commands clients sent (scripts count once), then every command
# Redis ran (those inside scripts included). Both include this script's own INFO calls.
redis_calls() {
  redis-cli -p "$REDIS_PORT" INFO commandstats | awk -F'[_:=,]' '/^cmdstat_/ {
    all += $4; if ($2 ~ /^(evalsha|eval|evalsha_ro|eval_ro|info|ping|client|hello|select)$/) sent += $4
  } END { print sent + 0, all + 0 }'
}

# CPU ticks (user + system) of the given processes and their children, every thread of each:
# fields 14 and 15 of /proc/PID/task/TID/stat (a thread that already exited is missed; none
# exits here).
ticks() {
  local pid file total=0
  for pid in "$@" $(for parent in "$@"; do pgrep -P "$parent"; done); do
    for file in /proc/"$pid"/task/*/stat; do
      [[ -r $file ]] && total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$file")))
    done
  done
  echo "$total"
}

# "replicas redis nginx" CPU ticks of the current set-up.
cpu_now() { echo "$(ticks "${REPLICA_PIDS[@]}") $(ticks ${REDIS_PID:+$REDIS_PID}) $(ticks "$NGINX_PID")"; }

# measure LABEL STORE: one set-up, both scenarios, each on a fresh set-up.
measure() {
  local label=$1 count=$2 store=$3 scenario before after cpu_before cpu_after line ops
  for scenario in handshake call; do
    start_redis
    start_setup "$count" "$store"
    before=$(redis_calls)
    cpu_before=$(cpu_now)
    if [[ $scenario == handshake ]]; then
      line=$("$LOADGEN" handshake --conc 8 --n 20000 --secs 10 --url "$URL" --name "$label" 2>>"$WORK/loadgen.err")
    else
      line=$("$LOADGEN" call --conc 16 --sessions 16 --n 200000 --secs 10 --url "$URL" --name "$label" 2>>"$WORK/loadgen.err")
    fi
    after=$(redis_calls)
    cpu_after=$(cpu_now)
    ops=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<<"$line")
    if [[ -n $ops && $ops -gt 0 ]]; then
      line+=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$ops" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); us = 1e6 / hz / n
        printf " cpu_us_per_op: replicas=%.1f redis=%.1f nginx=%.1f", (y[1] - x[1]) * us, (y[2] - x[2]) * us, (y[3] - x[3]) * us
      }')
    fi
    if [[ $store == redis && -n $ops && $ops -gt 0 ]]; then
      line+=$(awk -v a="$before" -v b="$after" -v n="$ops" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf " redis_round_trips_per_op=%.2f redis_cmds_per_op=%.2f", (y[1] - x[1] - 1) / n, (y[2] - x[2] - 1) / n
      }')
    fi
    echo "$line"
    stop_all
  done
}

for rep in $(seq "$REPS"); do
  echo "# rep $rep/$REPS, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  measure "memory-x1" 1 memory
  measure "redis-x1" 1 redis
  measure "redis-x2" 2 redis
  measure "redis-x3" 3 redis
done
