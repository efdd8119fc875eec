#!/usr/bin/env bash
# End-to-end checks: real MCP clients and the official conformance suite against example servers.
#
#   bash tests/e2e/run.sh [--only NAME[,NAME...]] SERVER_BINARY [SERVER_BINARY...]
#
# Needs `npm ci` in tests/e2e first (Node 22 comes from the npm `node` package, the conformance
# CLI refuses older ones). The Python client gets a venv in tests/e2e/.venv on first use.
# For each binary it starts the servers it needs on free loopback ports (--port 0), runs the
# checks, and stops the servers it started, by PID. One line per check, then
# `e2e: N passed, M failed`; the exit code is non-zero on any failure. Checks (NAME):
#   conformance       conformance 0.1.16 `server --suite all`: 32/32 scenarios, 0 FAILURE, 0 WARNING
#   conformance-next  conformance 0.2.0-alpha.12 server-session-lifecycle + server-initialize
#   conformance-modern conformance 0.2.0-alpha.12 and 0.2.0-alpha.11 on the 2026-07-28 wire
#                     (`--suite all --spec-version 2026-07-28`): 40/40 each, 0 FAILURE, 0 WARNING
#   python-client     python_client.py (PyPI `mcp`, see requirements.txt): the legacy era (mode="legacy")
#                     and the 2026-07-28 era (the default mode="auto" must stay modern)
#   inspector         inspector-check.mjs: @modelcontextprotocol/inspector-cli (v1), and
#                     @modelcontextprotocol/inspector (v2) with --protocol-era modern, auto and legacy
#   ts-client         ts-client.test.mjs (@modelcontextprotocol/sdk client), on a --test-clock server
#   ts-client-v2      ts-client-v2.test.mjs (@modelcontextprotocol/client, the v2 SDK): pinned to
#                     2026-07-28, auto, and its default legacy mode
#   response-modes    conformance 0.1.16 again on servers started with --response-mode json and
#                     --response-mode sse: 32/32 each (JSON mode upgrades to SSE when a handler
#                     sends notifications or requests to the client, where the SDKs drop them),
#                     and the 2026-07-28 wire (40/40) on each
#   metrics           metrics-check.sh: GET /metrics on the server's port while 200 tool calls
#                     run (curl): the text format, mcp_ series, counters that moved, no refusal
# Environment: E2E_ONLY=NAME,... (same as --only), E2E_KEEP=1 keeps the work directory (logs,
# checks.json files), which is also kept whenever a check fails.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE22="$HERE/node_modules/.bin/node"
ALL_CHECKS="conformance,conformance-next,conformance-modern,python-client,inspector,ts-client-v2,ts-client,response-modes,metrics"
ONLY=${E2E_ONLY:-}

usage() {
  sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --only) ONLY=${2:-}; shift 2 || usage ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || usage
for name in ${ONLY//,/ }; do
  [[ ",$ALL_CHECKS," == *",$name,"* ]] || { echo "unknown check '$name' (checks: $ALL_CHECKS)" >&2; exit 2; }
done
selected() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

for bin in "$@"; do
  [[ -x $bin ]] || { echo "not an executable: $bin" >&2; exit 2; }
done
if ! [[ -x $NODE22 ]] || ! "$NODE22" -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)'; then
  echo "Node 22 not found at $NODE22: run 'npm ci' in $HERE first" >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-e2e.XXXXXX")
PIDS=()
PASSED=0
FAILED=0
FAILED_NAMES=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
  if [[ $FAILED -eq 0 && -z ${E2E_KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    echo "e2e logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

indent() { sed 's/^/    | /'; }

record() { # PASS|FAIL name seconds detail
  local verdict=$1 name=$2 secs=$3 detail=$4
  printf '%s %-18s %-28s %4ss  %s\n' "$verdict" "$LABEL" "$name" "$secs" "$detail"
  if [[ $verdict == PASS ]]; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$LABEL/$name")
  fi
}

# run_check NAME LIMIT_SECS DETAIL_REGEX COMMAND...: runs COMMAND (in tests/e2e) under a timeout,
# its output in a log; prints the verdict line, with the lines matching DETAIL_REGEX as detail,
# and on failure the end of the log.
run_check() {
  local name=$1 limit=$2 detail_re=$3
  shift 3
  local log="$WORK/$LABEL.$name.log" start=$SECONDS rc detail
  # In the background and waited for, so that a signal to this script is handled at once
  # (cleanup then stops the check too: `timeout` passes the TERM on).
  (cd "$HERE" && exec timeout -k 5 "$limit" "$@") >"$log" 2>&1 </dev/null &
  local child=$!
  PIDS+=("$child")
  wait "$child"
  rc=$?
  forget_pid "$child"
  detail=$(grep -E -- "$detail_re" "$log" | sed 's/^ℹ //' | tr -s ' \n' ' ' | sed 's/ $//')
  if [[ $rc -eq 0 ]]; then
    record PASS "$name" $((SECONDS - start)) "$detail"
  else
    [[ $rc -eq 124 || $rc -eq 137 ]] && detail="timed out after ${limit}s; $detail"
    record FAIL "$name" $((SECONDS - start)) "exit $rc; $detail"
    if grep -q 'failing tests:' "$log"; then
      # node --test: just its list of failing tests, without stack frames
      sed -n '/failing tests:/,$p' "$log" | grep -vE '^\s+at ' | head -n 120 | indent
    else
      tail -n 60 "$log" | indent
    fi
    echo "    log: $log; server: $SERVER_LOG.err"
  fi
}

SERVER_PID=
SERVER_URL=
SERVER_LOG=

# start_server TAG BINARY ARGS...: starts BINARY --port 0 ARGS and waits for its listening line.
start_server() {
  local tag=$1 bin=$2 line=
  shift 2
  SERVER_LOG="$WORK/$LABEL.$tag"
  "$bin" --port 0 "$@" >"$SERVER_LOG.out" 2>"$SERVER_LOG.err" </dev/null &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$((SECONDS + 15))
  while :; do
    line=$(grep -m1 -E '^mcp-session example \([a-z-]+\) listening on http://127\.0\.0\.1:[0-9]+/mcp$' "$SERVER_LOG.out" 2>/dev/null)
    [[ -n $line ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      if kill -0 "$SERVER_PID" 2>/dev/null; then
        record FAIL "start $tag" 15 "no listening line from $bin --port 0 $* within 15s"
      else
        record FAIL "start $tag" 0 "$bin --port 0 $* exited without a listening line"
      fi
      cat "$SERVER_LOG.out" "$SERVER_LOG.err" | tail -n 20 | indent
      stop_server quiet
      return 1
    fi
    sleep 0.05
  done
  SERVER_URL=${line##* }
  HOST_NAME=$(sed -E 's/^mcp-session example \(([a-z-]+)\).*/\1/' <<<"$line")
  echo "-- $LABEL ($HOST_NAME) $tag: $SERVER_URL (pid $SERVER_PID, flags: ${*:-none})"
}

# stop_server [quiet]: stops the server started last, by PID; a server that died on its own
# during the checks is a failure.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" 2>/dev/null
    local status=$?
    if [[ ${1:-} != quiet ]]; then
      record FAIL "server alive" 0 "the server exited during the checks (status $status)"
      tail -n 20 "$SERVER_LOG.err" | indent
    fi
  else
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  forget_pid "$SERVER_PID"
  SERVER_PID=
}

forget_pid() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  PIDS=("${keep[@]}")
}

# The Python client's venv: created on first use, reused while requirements.txt is unchanged.
VENV_OK=
ensure_venv() {
  local venv="$HERE/.venv" want
  want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
  if [[ -x $venv/bin/python && "$(cat "$venv/.requirements.sha256" 2>/dev/null)" == "$want" ]]; then
    echo "-- python venv: reused $venv"
    VENV_OK=1
    return
  fi
  echo "-- python venv: installing requirements.txt into $venv"
  if { [[ -x $venv/bin/python ]] || timeout 120 python3 -m venv "$venv"; } &&
    timeout 600 "$venv/bin/pip" install --disable-pip-version-check -q -r "$HERE/requirements.txt" >"$WORK/venv.log" 2>&1; then
    echo "$want" >"$venv/.requirements.sha256"
    VENV_OK=1
  else
    echo "-- python venv: set-up failed" >&2
    tail -n 20 "$WORK/venv.log" 2>/dev/null | indent >&2
  fi
}

echo "e2e: $(date -u +%FT%TZ), node $("$NODE22" --version), checks: ${ONLY:-$ALL_CHECKS}"
selected python-client && ensure_venv

for bin in "$@"; do
  LABEL=$(basename "$bin")
  # Replicas behind a load balancer (tests/e2e/replicas.sh): the clients skip what needs one
  # process's view (a manual clock each replica has its own of, a count of local listeners).
  export MCP_REPLICAS=0
  [[ $LABEL == replicas.sh ]] && export MCP_REPLICAS=1

  if selected conformance || selected conformance-next || selected conformance-modern || selected python-client ||
    selected inspector || selected ts-client-v2; then
    if start_server plain "$bin"; then
      selected conformance && run_check conformance 300 'scenarios passed' \
        "$NODE22" conformance.mjs suite "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.conformance.XXXX")"
      selected conformance-next && run_check conformance-next 180 'scenarios passed' \
        "$NODE22" conformance.mjs next "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.conformance-next.XXXX")"
      selected conformance-modern && run_check conformance-modern 240 'scenarios passed' \
        "$NODE22" conformance.mjs modern "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.conformance-modern.XXXX")"
      selected conformance-modern && run_check "conformance-modern (0.2.0-alpha.11)" 240 'scenarios passed' \
        "$NODE22" conformance.mjs modern-alpha11 "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.modern-alpha11.XXXX")"
      if selected python-client; then
        if [[ -n $VENV_OK ]]; then
          run_check python-client 90 'python client: (ok|FAILED)' "$HERE/.venv/bin/python" python_client.py "$SERVER_URL"
        else
          record FAIL python-client 0 "the Python venv could not be set up (see above)"
        fi
      fi
      selected inspector && run_check inspector 150 '^inspector:' "$NODE22" inspector-check.mjs "$SERVER_URL"
      selected ts-client-v2 && run_check ts-client-v2 120 '^ℹ (pass|fail) ' \
        env MCP_URL="$SERVER_URL" "$NODE22" --test --test-reporter=spec --test-force-exit ts-client-v2.test.mjs
      stop_server
    fi
  fi

  if selected response-modes; then
    for mode in json sse; do
      if start_server "$mode-mode" "$bin" --response-mode "$mode"; then
        run_check "conformance ($mode mode)" 300 'scenarios passed' \
          "$NODE22" conformance.mjs suite "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.conformance-$mode.XXXX")"
        run_check "conformance 2026-07-28 ($mode mode)" 240 'scenarios passed' \
          "$NODE22" conformance.mjs modern "$SERVER_URL" --out "$(mktemp -d "$WORK/$LABEL.modern-$mode.XXXX")"
        stop_server
      fi
    done
  fi

  if selected metrics; then
    if start_server metrics "$bin"; then
      run_check metrics 120 '^metrics:' bash metrics-check.sh "$SERVER_URL"
      stop_server
    fi
  fi

  if selected ts-client; then
    if start_server test-clock "$bin" --test-clock --retry-ms 500; then
      export MCP_URL=$SERVER_URL
      run_check ts-client 150 '^ℹ (pass|fail) ' \
        "$NODE22" --test --test-reporter=spec --test-force-exit ts-client.test.mjs
      stop_server
    fi
  fi
done

echo
if [[ $FAILED -gt 0 ]]; then
  echo "failed: ${FAILED_NAMES[*]}"
fi
echo "e2e: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
