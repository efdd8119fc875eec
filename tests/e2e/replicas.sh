#!/usr/bin/env bash
# Three replicas of an example server on one Redis behind nginx, started like one server:
#
#   REPLICA_SERVER=target/release/examples/server MCP_REDIS_URL=redis://… \
#     bash tests/e2e/replicas.sh --port 0 [server flags…]
#
# For tests/e2e/run.sh, which starts servers by path: it prints the line an example server
# prints ("mcp-session example (replicas) listening on http://127.0.0.1:PORT/mcp", nginx's
# address) and runs until it gets SIGTERM or SIGINT, then stops the replicas and nginx by PID.
# nginx sends each request to the next replica in turn (round-robin, no stickiness): a
# session's requests land anywhere. The store is shared (Redis), and so is what is live, through
# the bus (mcp_session::redis::RedisBus): a replica holding a client's stream is fed what a
# handler on another appends, and a client's answer or cancellation reaches the replica whose
# handler waits. REPLICA_BALANCING overrides the upstream directive (e.g. the consistent hash
# `hash $http_mcp_session_id consistent;`).
set -euo pipefail
# shellcheck source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"
SERVER=${REPLICA_SERVER:?set REPLICA_SERVER to the example server binary}
: "${MCP_REDIS_URL:?set MCP_REDIS_URL}"
shift 2 # --port 0: the front's port is picked here
# A retry's sealed requestState (2026-07-28) may reach any replica: they share the key.
export MCP_REQUEST_STATE_SECRET=${MCP_REQUEST_STATE_SECRET:-replicas-of-one-service-share-this-secret}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-replicas.XXXXXX")
PIDS=()
stop() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit 0
}
trap stop TERM INT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
upstreams=
for n in 1 2 3; do
  "$SERVER" --port 0 --workers 1 "$@" >"$WORK/replica$n.out" 2>"$WORK/replica$n.err" </dev/null &
  PIDS+=($!)
  echo "$!" >"$WORK/replica$n.pid"
  address=
  for _ in $(seq 200); do
    address=$(grep -o -m1 '127\.0\.0\.1:[0-9]*' "$WORK/replica$n.out" 2>/dev/null || true)
    [[ -n $address ]] && break
    sleep 0.05
  done
  [[ -n $address ]] || { echo "replica $n did not start" >&2; cat "$WORK/replica$n.err" >&2; stop; }
  upstreams+="server $address max_fails=1 fail_timeout=30s; "
done
front=$(free_port)
nginx_conf "$WORK/nginx.conf" "$WORK" "$front" "${REPLICA_BALANCING:-}" "$upstreams" 1024 16
nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$front") 2>/dev/null && break; sleep 0.05; done
# Where the replicas' PIDs are, for a test that kills some.
echo "replica pids in $WORK/replica{1,2,3}.pid"
echo "mcp-session example (replicas) listening on http://127.0.0.1:$front/mcp"
while :; do sleep 1 & wait $! || true; done
