#!/usr/bin/env bash
# pingload against a local judge_server, whose /metrics counts the requests it served:
# exact counts with -n (one and two threads), a bounded run with -d, --rate held, URL
# targets, hostname tallies, JSON with plain decimal numbers, --header (seen by a small
# recording server), usage errors.
# Usage: tests/clients/pingload_test.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
pl="$build/clients/pingload"
work=$(mktemp -d)
passed=0 failed=0
server='' recorder=''
ok() { echo "PASS $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
cleanup() {
  for p in $server $recorder; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  echo "$passed passed, $failed failed"
}
trap cleanup EXIT
JUDGE_TOKEN=t "$build/judge_server/judge_server" --port 0 --address 127.0.0.1 --work-dir "$work/j" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/log" | sed 's/.*://')
served() { curl -s "127.0.0.1:$port/metrics" | awk -F' ' '/route="\/ping",status="200"/ {print $2}'; }
host=$(curl -s "127.0.0.1:$port/ping" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hostname"])')

# Exact counts, one thread and two, HOST:PORT and URL targets.
for threads in 1 2; do
  before=$(served)
  out=$("$pl" --json --threads "$threads" -c 7 -n 1000 "127.0.0.1:$port")
  after=$(served)
  [ $((after - before)) = 1000 ] && ok "--threads $threads -n 1000 sends exactly 1000 requests" || bad "--threads $threads: server counted $((after - before))"
  read -r total errors threads_used tally < <(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["errors"], d["threads"], json.dumps(d["targets"][0]["hostnames"]))')
  [ "$total $errors $threads_used" = "1000 0 $threads" ] && ok "--threads $threads reports 1000 requests, 0 errors" || bad "reported $total / $errors / threads $threads_used"
  [ "$tally" = "{\"$host\": 1000}" ] && ok "--threads $threads tallies every answer to the server's hostname" || bad "tally $tally"
done
before=$(served)
"$pl" --threads 2 --connections 5 --requests 777 "http://127.0.0.1:$port/ping" "127.0.0.1:$port" >/dev/null
after=$(served)
[ $((after - before)) = 777 ] && ok "two targets, URL and HOST:PORT, 2 threads: exactly 777 requests" || bad "two targets: server counted $((after - before))"

# The issue's command line, as a new user types it; a bounded run that stops by itself.
start=$(date +%s.%N)
"$pl" --connections 64 --duration 1s --json "http://127.0.0.1:$port/ping" >"$work/run.json"; rc=$?
elapsed=$(python3 -c "print($(date +%s.%N) - $start)")
[ $rc = 0 ] && ok "--connections 64 --duration 1s --json URL runs" || bad "URL run exit $rc"
python3 -c "import sys; sys.exit(0 if $elapsed < 10 else 1)" && ok "a 1 s run stops by itself (${elapsed}s)" || bad "ran ${elapsed}s"
# Every number in plain decimal: the parser hooks see each literal as written.
python3 - "$work/run.json" <<'PY' && ok "--json parses and every number is plain decimal" || bad "json: $(cat "$work/run.json")"
import json, re, sys
bad = []
def check(literal):
    if not re.fullmatch(r"-?\d+(\.\d+)?", literal):
        bad.append(literal)
    return float(literal)
d = json.load(open(sys.argv[1]), parse_float=check, parse_int=check)
for field in ("requests", "ok", "errors", "seconds", "rps", "connections", "threads", "sched", "latency_us",
              "latency_from", "target_rps", "cpu_seconds", "max_rss_kb", "errors_by_kind", "targets"):
    if field not in d:
        bad.append("missing " + field)
if d["ok"] <= 0 or d["latency_from"] != "send" or d["target_rps"] is not None:
    bad.append("values")
sys.exit(1 if bad else 0)
PY

"$pl" -c 4 -d 500ms "127.0.0.1:$port" >"$work/table"
grep -q "$host" "$work/table" && grep -q "p99.9" "$work/table" && ok "table shows percentiles and the hostname" || bad "table: $(cat "$work/table")"

# --rate 200 over 2 s: 400 wanted; bounds wide enough that a loaded machine cannot flake.
before=$(served)
"$pl" --json --rate 200 --duration 2s -c 4 "http://127.0.0.1:$port/ping" >"$work/rate.json"
after=$(served)
n=$((after - before))
[ "$n" -ge 100 ] && [ "$n" -le 500 ] && ok "--rate 200 -d 2s: $n requests (100..500)" || bad "--rate 200 -d 2s sent $n"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["latency_from"] == "intended_start" and d["target_rps"] == 200 else 1)' "$work/rate.json" \
  && ok "--rate: JSON says latency is from the intended start" || bad "rate json: $(cat "$work/rate.json")"
"$pl" -R 50 -d 300ms -c 2 "127.0.0.1:$port" | grep -q "coordinated omission" && ok "--rate: the table says latency is corrected for coordinated omission" || bad "no coordinated-omission note"

# --sched: the load threads keep the normal policy (ps class TS) unless --sched batch (B).
sched_classes() {  # sched_classes WANT ARGS...: classes of pingload's 2 threads, polled for WANT
  local want=$1; shift
  "$pl" -c 2 -t 2 -R 20 -d 3s "$@" "127.0.0.1:$port" >/dev/null &
  local pid=$! classes='' threads=0
  for _ in $(seq 50); do
    threads=$(ps -L -o cls= -p "$pid" 2>/dev/null | wc -l)
    classes=$(ps -L -o cls= -p "$pid" 2>/dev/null | sort -u | tr -d ' \n')
    [ "$threads" = 2 ] && [ "$classes" = "$want" ] && break
    sleep 0.05
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$threads threads: $classes"
}
c=$(sched_classes B --sched batch); [ "$c" = "2 threads: B" ] && ok "--sched batch: load threads run as SCHED_BATCH" || bad "--sched batch: $c"
c=$(sched_classes TS); [ "$c" = "2 threads: TS" ] && ok "by default load threads stay SCHED_OTHER" || bad "default classes: $c"

"$pl" --json -c 2 -n 10 "127.0.0.1:$port" "127.0.0.1:$port" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["targets"]) == 2 and sum(t["ok"] for t in d["targets"]) == 10 else 1)' \
  && ok "several targets share the count" || bad "several targets"
dead=$("$pl" --json -c 1 -n 5 127.0.0.1:1 2>/dev/null); rc=$?
[ $rc = 1 ] && [[ $dead == *"connect"* ]] && ok "an unreachable target: exit 1, errors by kind" || bad "dead target rc=$rc $dead"
"$pl" --svg "$work/p.svg" -c 2 -n 50 "127.0.0.1:$port" >/dev/null && grep -q "<svg" "$work/p.svg" && ok "--svg writes an SVG" || bad "svg"

# --header: a recording server keeps every request's headers.
python3 - "$work/headers" "$work/recorder.port" <<'PY' &
import http.server, sys
log = open(sys.argv[1], "a")
class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        log.write(self.path + "\n" + str(self.headers) + "--\n")
        log.flush()
        body = b'{"hostname":"recorder"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
PY
recorder=$!
for _ in $(seq 100); do [ -s "$work/recorder.port" ] && break; sleep 0.05; done
rport=$(cat "$work/recorder.port")
out=$("$pl" --json -c 2 -n 6 --header "X-Judge-Server-Token: abc123" -H 'X-Second:two' "http://127.0.0.1:$rport/custom/path?q=1")
sent=$(grep -c '^X-Judge-Server-Token: abc123$' "$work/headers")
[ "$sent" = 6 ] && grep -c '^X-Second: two$' "$work/headers" | grep -qx 6 && ok "--header / -H: both headers on all 6 requests" || bad "headers seen: $(head -20 "$work/headers")"
[ "$(grep -c '^/custom/path?q=1$' "$work/headers")" = 6 ] && ok "the URL's path and query are requested" || bad "paths: $(grep '^/' "$work/headers" | sort | uniq -c)"
grep -q "^Host: 127.0.0.1:$rport$" "$work/headers" && ok "Host header from the URL" || bad "no Host header"
[[ $out == *'"recorder":6'* ]] && ok "hostnames tallied from another server's JSON" || bad "tally: $out"

# Usage: --help, --version, and errors that say what was wrong (exit 2).
help=$("$pl" --help); rc=$?
[ $rc = 0 ] && for o in --connections --duration --requests --rate --threads --timeout --json --svg --header --sched --version; do [[ $help == *"$o"* ]] || rc=1; done
[ $rc = 0 ] && ok "--help lists every option" || bad "--help: $help"
[[ $("$pl" --version) == "pingload "* ]] && ok "--version" || bad "--version"
usage_error() {  # usage_error EXPECTED_MESSAGE_PART ARGS...
  local want=$1; shift
  local err rc
  err=$("$pl" "$@" 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] && [[ $err == *"$want"* ]] && ok "usage error: pingload $* -> $want" || bad "pingload $*: exit $rc, '$err'"
}
usage_error "--connections takes a whole number in 1..10000, not '0'" -c 0 "127.0.0.1:$port"
usage_error "--duration: '4x': unknown unit 'x'" --duration 4x "127.0.0.1:$port"
usage_error "https is not supported" "https://127.0.0.1:$port/ping"
usage_error "'nonsense' is neither a URL nor HOST:PORT" nonsense
usage_error "unknown option '--frobnicate'" --frobnicate "127.0.0.1:$port"
usage_error "give at least one target" -c 4
usage_error "cannot resolve 'no-such-host.invalid'" -n 1 "http://no-such-host.invalid:80/"
[ $failed = 0 ]
