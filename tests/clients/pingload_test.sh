#!/usr/bin/env bash
# pingload against a local judge_server, whose /metrics counts the requests it served:
# exact counts with -n, a bounded run with -d, hostname tallies, JSON output, bad flags.
# Usage: tests/clients/pingload_test.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
work=$(mktemp -d)
passed=0 failed=0
ok() { echo "PASS $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
cleanup() { kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; echo "$passed passed, $failed failed"; }
trap cleanup EXIT
JUDGE_TOKEN=t "$build/judge_server/judge_server" --port 0 --address 127.0.0.1 --work-dir "$work/j" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/log" | sed 's/.*://')
served() { curl -s "127.0.0.1:$port/metrics" | awk -F' ' '/route="\/ping",status="200"/ {print $2}'; }
host=$(curl -s "127.0.0.1:$port/ping" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hostname"])')
before=$(served)

out=$("$build/clients/pingload" --json -c 7 -n 1000 "127.0.0.1:$port")
after=$(served)
[ $((after - before)) = 1000 ] && ok "-n 1000 sends exactly 1000 requests" || bad "server counted $((after - before))"
read -r total errors tally < <(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["errors"], json.dumps(d["targets"][0]["hostnames"]))')
[ "$total $errors" = "1000 0" ] && ok "reports 1000 requests, 0 errors" || bad "reported $total / $errors"
[ "$tally" = "{\"$host\": 1000}" ] && ok "tallies every answer to the server's hostname" || bad "tally $tally"

start=$(date +%s.%N)
"$build/clients/pingload" -c 4 -d 1 "127.0.0.1:$port" >"$work/table"
elapsed=$(python3 -c "print($(date +%s.%N) - $start)")
python3 -c "import sys; sys.exit(0 if $elapsed < 10 else 1)" && ok "a 1 s run stops by itself (${elapsed}s)" || bad "ran ${elapsed}s"
grep -q "$host" "$work/table" && grep -q "p99.9" "$work/table" && ok "table shows percentiles and the hostname" || bad "table: $(cat "$work/table")"

"$build/clients/pingload" --json -c 2 -n 10 "127.0.0.1:$port" "127.0.0.1:$port" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["targets"]) == 2 and sum(t["ok"] for t in d["targets"]) == 10 else 1)' \
  && ok "several targets share the count" || bad "several targets"
dead=$("$build/clients/pingload" --json -c 1 -n 5 127.0.0.1:1 2>/dev/null); rc=$?
[ $rc = 1 ] && [[ $dead == *"connect"* ]] && ok "an unreachable target: exit 1, errors by kind" || bad "dead target rc=$rc $dead"
"$build/clients/pingload" -c 0 "127.0.0.1:$port" >/dev/null 2>&1; [ $? = 2 ] && ok "bad flags: exit 2" || bad "bad flags"
"$build/clients/pingload" --svg "$work/p.svg" -c 2 -n 50 "127.0.0.1:$port" >/dev/null && grep -q "<svg" "$work/p.svg" && ok "--svg writes an SVG" || bad "svg"
[ $failed = 0 ]
