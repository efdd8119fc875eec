#!/usr/bin/env bash
# The example server over Redis: the official conformance suite and clients against one server
# and against three replicas behind nginx, a restart, and replicas dying.
#
#   bash tests/e2e/redis.sh SERVER_BINARY
#
# Starts its own redis-server on a free loopback port (persistence off, in a temporary directory),
# runs the e2e checks of tests/e2e/run.sh against SERVER_BINARY with MCP_REDIS_URL pointing at
# it, checks that the server really kept its sessions there, then that a session outlives the
# server process: initialize, kill the server, start a new one on the same Redis, use the
# session; then the same checks through nginx round-robin in front of three replicas
# (tests/e2e/replicas.sh), and a session that outlives two of the three replicas. Stops what it
# started, by PID.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVER=${1:?usage: redis.sh SERVER_BINARY}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-redis-e2e.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

REDIS_PORT=
for _ in $(seq 10); do
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$WORK" \
    --maxmemory 256mb --maxmemory-policy noeviction --loglevel warning >"$WORK/redis.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    PIDS+=("$pid")
    REDIS_PORT=$port
    break
  fi
  kill "$pid" 2>/dev/null || true
done
[[ -n $REDIS_PORT ]] || { echo "redis-server did not start" >&2; cat "$WORK/redis.log" >&2; exit 1; }
export MCP_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
echo "-- redis-server on 127.0.0.1:$REDIS_PORT"

bash "$HERE/run.sh" --only conformance,conformance-modern,python-client,ts-client,ts-client-v2 "$SERVER"

calls=$(redis-cli -p "$REDIS_PORT" INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
if ! [[ ${calls:-0} -gt 100 ]]; then
  echo "FAIL the server did not keep its sessions in Redis (${calls:-0} script calls)" >&2
  exit 1
fi
echo "PASS sessions lived in Redis ($calls script calls)"

# start BINARY: one server (or the replicas' front), its URL in URL.
start() {
  "$1" --port 0 >"$WORK/server.out" 2>"$WORK/server.err" </dev/null &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 200); do
    URL=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*/mcp' "$WORK/server.out" 2>/dev/null || true)
    [[ -n $URL ]] && return
    sleep 0.05
  done
  echo "the server did not start" >&2
  exit 1
}
post() {
  curl -sS -o "$WORK/body" -D "$WORK/head" -w '%{http_code}' -X POST "$URL" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2025-11-25' "$@"
}
start "$SERVER"
status=$(post -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"restart","version":"1"}}}')
session=$(sed -n 's/^mcp-session-id: *\([0-9a-f]*\).*/\1/Ip' "$WORK/head" | tr -d '\r')
[[ $status == 200 && -n $session ]] || { echo "FAIL initialize answered $status" >&2; exit 1; }
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start "$SERVER"
status=$(post -H "mcp-session-id: $session" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
if [[ $status != 200 ]] || ! grep -q '"tools"' "$WORK/body"; then
  echo "FAIL after a restart the session answered $status: $(cat "$WORK/body")" >&2
  exit 1
fi
echo "PASS a session outlives the server process that created it"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

# Three replicas behind nginx round-robin (tests/e2e/replicas.sh: each request to the next
# replica, no stickiness): every check of run.sh but `metrics`, which reads one process's
# /metrics (nginx proxies only /mcp). The clients' expiry tests are skipped there: each replica
# has its own manual clock (tests/redis_replicas.rs covers expiry across replicas).
export REPLICA_SERVER=$SERVER
bash "$HERE/run.sh" --only conformance,conformance-next,conformance-modern,python-client,inspector,ts-client-v2,ts-client,response-modes "$HERE/replicas.sh"

# A session outlives the replica that served it: kill that one (its log names the session) and
# one more; the third takes over.
RUST_LOG=mcp_session=debug start "$HERE/replicas.sh"
replicas=$(sed -n 's/^replica pids in \(.*\)\/replica{1,2,3}\.pid$/\1/p' "$WORK/server.out")
status=$(post -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"failover","version":"1"}}}')
session=$(sed -n 's/^mcp-session-id: *\([0-9a-f]*\).*/\1/Ip' "$WORK/head" | tr -d '\r')
[[ $status == 200 && -n $session ]] || { echo "FAIL initialize through nginx answered $status" >&2; exit 1; }
status=$(post -H "mcp-session-id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}')
[[ $status == 202 ]] || { echo "FAIL notifications/initialized answered $status" >&2; exit 1; }
served=
for n in 1 2 3; do
  grep -q "$session" "$replicas/replica$n.err" && served=$n
done
[[ -n $served ]] || { echo "FAIL no replica's log names session $session" >&2; exit 1; }
other=$((served % 3 + 1))
kill "$(cat "$replicas/replica$served.pid")" "$(cat "$replicas/replica$other.pid")"
sleep 0.2
status=$(post -H "mcp-session-id: $session" -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}')
if [[ $status != 200 ]] || ! grep -q 'still here' "$WORK/body"; then
  echo "FAIL with two of three replicas gone the session answered $status: $(cat "$WORK/body")" >&2
  exit 1
fi
echo "PASS a session outlives the replica that served it (it and one more killed)"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

# Faults with the client choosing the replica of each request: the replica holding a resumed
# stream killed mid-stream, the replica running a call paused past its lease (replica_faults.py).
start "$HERE/replicas.sh"
replicas=$(sed -n 's/^replica pids in \(.*\)\/replica{1,2,3}\.pid$/\1/p' "$WORK/server.out")
python3 "$HERE/replica_faults.py" "$replicas"
