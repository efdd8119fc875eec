#!/usr/bin/env bash
# The example server's Prometheus endpoint under a short bounded load:
#
#   bash tests/e2e/metrics-check.sh http://127.0.0.1:PORT/mcp
#
# Opens a session, makes 200 `tools/call`s with curl (each bounded to 5 s) while scraping
# /metrics on the same port, and checks the scrapes: the text format's content type, `mcp_`
# series, the counters moving with the load (sessions created, latency histogram count, events
# published), and no rejection. Prints `metrics: ok (...)` or the first failure.
set -euo pipefail
URL=$1
BASE=${URL%/mcp}
CALLS=200
curl_mcp() { curl -sS --max-time 5 -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' "$@"; }
fail() { echo "metrics: FAILED: $*" >&2; exit 1; }

headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
curl_mcp -D "$headers" -o /dev/null "$URL" \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"metrics-check","version":"1"}}}'
session=$(tr -d '\r' <"$headers" | sed -n 's/^mcp-session-id: //Ip')
[[ -n $session ]] || fail "initialize gave no session"
mcp() { curl_mcp -o /dev/null -w '%{http_code}\n' -H "mcp-session-id: $session" -H 'mcp-protocol-version: 2025-11-25' "$URL" -d "$1"; }
[[ $(mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}') == 202 ]] || fail "notifications/initialized"

scrape() { curl -sS --max-time 5 -D "$headers" "$BASE/metrics"; }
sample() { awk -v s="$1" '$1 == s { print $2 }' <<<"$2"; }

load() {
  local n status
  for n in $(seq 2 $((CALLS + 1))); do
    status=$(mcp '{"jsonrpc":"2.0","id":'"$n"',"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}')
    [[ $status == 200 ]] || { echo "call $n: $status" >&2; return 1; }
  done
}
load &
LOAD=$!
during=0
while kill -0 "$LOAD" 2>/dev/null; do
  text=$(scrape) || fail "scrape during the load"
  during=$((during + 1))
  ((during < 50)) || break
  sleep 0.1
done
wait "$LOAD" || fail "the load's calls did not all answer 200"

text=$(scrape) || fail "scrape after the load"
tr -d '\r' <"$headers" | grep -qi '^content-type: text/plain; version=0.0.4' || fail "content type: $(grep -i content-type "$headers")"
grep -q '^# TYPE mcp_request_duration_seconds histogram$' <<<"$text" || fail "no latency histogram"
created=$(sample mcp_sessions_created_total "$text")
count=$(sample mcp_request_duration_seconds_count "$text")
published=$(sample mcp_events_published_total "$text")
active=$(sample mcp_sessions_active "$text")
((created >= 1)) || fail "mcp_sessions_created_total $created"
((count >= CALLS + 2)) || fail "mcp_request_duration_seconds_count $count, expected at least $((CALLS + 2))"
((active >= 1)) || fail "mcp_sessions_active $active"
! grep -q '^mcp_requests_rejected_total{' <<<"$text" || fail "rejections: $(grep '^mcp_requests_rejected_total' <<<"$text")"
series=$(grep -c '^mcp_' <<<"$text")
echo "metrics: ok ($during scrapes during $CALLS calls; $series mcp_ samples; sessions created $created, requests timed $count, events published $published)"
