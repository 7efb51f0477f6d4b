# Sourced by tutorial_test.sh and bench/chaos (issue 22): what happens to real clusters,
# under /ping load on every node's published port (pingload, 200 requests/s): a rolling
# update of judge_swarm, a drain and activate, a node killed, then the leader of three
# managers killed. Each phase's failed requests per node and the recovery times go to a table
# (printed, and written to $build/chaos-table.md and $build/chaos.json). Asserted: a drained
# node keeps answering its published port and loses no request (the edge proxy is a
# container outside the scheduler, as the routing mesh is); the rest is measured and
# reported. Uses M, build, tmp and checks.sh's ok/bad/check from the caller.
# CHAOS_NODES: the three nodes (the first is the manager until phase 4 makes three).
read -r n1 n2 n3 <<<"${CHAOS_NODES:-e2e-m1 e2e-w1 e2e-w2}"
ip_of() { $M node ip "$1"; }
# A node that just (re)joined is promotable once the swarm has it ready: a few seconds.
managers3() {
  local out
  for _ in $(seq 30); do out=$($M swarm update --managers 3 2>&1) && return 0; sleep 1; done
  echo "$out"; return 1
}
# pingload in the background over the given nodes' 8090 for D seconds, JSON to FILE.
load_start() {
  local file=$1 seconds=$2; shift 2
  local targets=()
  for n in "$@"; do targets+=("$(ip_of "$n"):8090"); done
  "$build/clients/pingload" --json -R 200 -c 6 -T 2s -d "${seconds}s" "${targets[@]}" >"$file" 2>&1 &
  load_pid=$!
}
# "node=errors ..." for each target of a pingload JSON, in the order given.
errors_per_node() {
  python3 - "$1" "${@:2}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(f"{n}={t['errors']}" for n, t in zip(sys.argv[2:], d["targets"])))
PY
}
running_desired() {  # judge_swarm's "running desired"
  $M --format json service inspect judge_swarm 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["running"], d["desired"])' 2>/dev/null
}
total_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$1"; }
ready_nodes() { $M node ls 2>/dev/null | awk 'NR > 1 && $7 == "ready"' | wc -l; }
answering() {  # how many nodes' 8090 answer /ping
  local n=0
  for node in $n1 $n2 $n3; do
    curl -s -m 2 "http://$(ip_of $node):8090/ping" | grep -q hostname && n=$((n + 1))
  done
  echo $n
}
# Ready in the swarm, and its published port answering (a restarted node's edge proxy
# comes back with it): each phase starts from a whole cluster.
wait_ready() {
  for _ in $(seq 120); do [ "$(ready_nodes)" = 3 ] && [ "$(answering)" = 3 ] && return 0; sleep 1; done
  return 1
}
table=("| phase | requests | failed, per node | recovery |" "|---|---|---|---|") rows_json=()
row() {
  table+=("| $1 | $2 | $3 | $4 |")
  rows_json+=("$(python3 -c 'import json,sys; print(json.dumps(dict(zip(["phase", "requests", "failed_per_node", "recovery"], sys.argv[1:]))))' "$@")")
}

check "all three nodes ready before the chaos" wait_ready
check "judge_swarm at 3 of 3" $M service scale judge_swarm=3

# 1. A rolling update (a new env: every task replaced, one at a time).
load_start "$tmp/chaos1.json" 40 $n1 $n2 $n3
check "rolling update under load" $M service update --env-add CHAOS=1 judge_swarm
wait "$load_pid"
row "rolling update" "$(total_of "$tmp/chaos1.json")" "$(errors_per_node "$tmp/chaos1.json" $n1 $n2 $n3)" "-"

# 2. Drain a node, then activate it: its tasks move, and its published port keeps answering.
load_start "$tmp/chaos2.json" 25 $n1 $n2 $n3
sleep 2
check "drain $n2 under load" $M node update --availability drain $n2
sleep 10
check "activate $n2 under load" $M node update --availability active $n2
wait "$load_pid"
drain=$(errors_per_node "$tmp/chaos2.json" $n1 $n2 $n3)
row "drain and activate $n2" "$(total_of "$tmp/chaos2.json")" "$drain" "-"
[ "$drain" = "$n1=0 $n2=0 $n3=0" ] \
  && ok "drain and activate under load: no request failed, the drained node's port included" \
  || bad "drain under load: failed requests $drain"

# 3. Kill a node (its dockerd): the survivors keep answering; then it comes back.
load_start "$tmp/chaos3.json" 20 $n1 $n2 $n3
sleep 2
check "kill $n3 under load" $M node kill $n3
start=$SECONDS
back=""
for _ in $(seq 60); do
  # 3 of 3 once the swarm noticed the loss and started replacements elsewhere.
  [ "$(running_desired)" = "3 3" ] && [ "$($M node ls | awk -v n="$n3" '$1 == n {print $7}')" = down ] && { back=$((SECONDS - start)); break; }
  sleep 1
done
wait "$load_pid"
row "kill $n3 (its own port fails, as it is gone)" "$(total_of "$tmp/chaos3.json")" \
  "$(errors_per_node "$tmp/chaos3.json" $n1 $n2 $n3)" "3 of 3 replicas again after ${back:-over 60} s"
check "start $n3 again" $M node start $n3
check "all three ready again" wait_ready

# 4. Three managers, the leader killed: reads, a write, the survivors' ports. The same write
# through docker's CLI on a survivor runs beside musketeer's: both wait for raft to elect a
# new leader (10-20 s with docker's defaults, longer under load).
check "three managers for the leader's loss" managers3
leader=$($M --format json swarm inspect | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leader", ""))')
[ -n "$leader" ] && ok "the swarm names its leader ($leader)" || { bad "swarm inspect names no leader"; leader=$n1; }
survivors=()
for n in $n1 $n2 $n3; do [ "$n" != "$leader" ] && survivors+=("$n"); done
load_start "$tmp/chaos4.json" 30 "${survivors[@]}"
sleep 2
check "kill the leader $leader under load" $M node kill "$leader"
start=$SECONDS
# Each probe on its own, so that a slow one does not delay the others' figures.
(for _ in $(seq 120); do $M service ls >/dev/null 2>&1 && { echo $((SECONDS - start)); break; }; sleep 0.5; done) >"$tmp/read_after" &
read_pid=$!
(eval "$($M node env "${survivors[0]}")"
 for _ in $(seq 60); do
   timeout 25 docker node update --label-add chaos=leader "${survivors[1]}" >/dev/null 2>&1 && { echo $((SECONDS - start)); break; }
   sleep 1
 done) >"$tmp/docker_write_after" &
docker_pid=$!
write_after=""
for _ in $(seq 60); do
  # A write: a label (accepted by the new leader; no convergence to wait for).
  if $M service update -d --label-add chaos=leader judge_swarm >/dev/null 2>&1; then write_after=$((SECONDS - start)); break; fi
  sleep 1
done
whole_after=""
for _ in $(seq 90); do
  [ "$(running_desired)" = "3 3" ] && { whole_after=$((SECONDS - start)); break; }
  sleep 1
done
wait "$load_pid" "$read_pid" "$docker_pid"
read_after=$(cat "$tmp/read_after") docker_after=$(cat "$tmp/docker_write_after")
row "kill the leader $leader (3 managers)" "$(total_of "$tmp/chaos4.json")" \
  "$(errors_per_node "$tmp/chaos4.json" "${survivors[@]}")" \
  "reads after ${read_after:-over 60} s, a write after ${write_after:-over 60} s (docker's CLI: ${docker_after:-over 60} s), 3 of 3 replicas after ${whole_after:-over 90} s"
[ -n "$write_after" ] && ok "writes work again after the leader's loss (${write_after} s; docker's ${docker_after:-over 60} s)" || bad "no write within 60 s of the leader's loss"
check "start $leader again" $M node start "$leader"
check "all three ready again" wait_ready

printf '%s\n' "${table[@]}" | tee "$build/chaos-table.md"
(IFS=,; echo "{\"chaos\": [${rows_json[*]}]}") >"$build/chaos.json"
