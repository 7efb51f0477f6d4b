# Issue 12 ("Missing"), on the real cluster of tutorial_test.sh (sourced from it: $M, $build,
# $state, $port, $admin, $viewer, ok/bad/check). Expects judge_swarm running with a published
# port on 8090 and the network swarm_test. Leaves judge_swarm as it found it (but for labels
# and resources the scenario sets and removes again).
svc_json() { $M --format json service inspect judge_swarm; }
field() { svc_json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A full update from the CLI: env, labels, limits, a constraint, the update policy.
check "service update --env-add --label-add --limit-cpu --limit-memory --constraint-add converges" \
  $M service update --env-add MK_E2E=1 --label-add tier=gold --limit-cpu 0.5 --limit-memory 512M \
  --constraint-add node.hostname!=nosuch --update-parallelism 2 judge_swarm
got=$(field 'd["spec"]["env"].get("MK_E2E"), d["spec"]["labels"].get("tier"), d["spec"]["resources"]["cpus"], d["spec"]["resources"]["memory_bytes"], d["spec"]["constraints"], d["spec"]["update_policy"]["parallelism"]')
[ "$got" = "1 gold 0.5 536870912 ['node.hostname!=nosuch'] 2" ] && ok "the update reads back whole" || bad "update read back: $got"
check "service update --env-rm --label-rm --constraint-rm converges" \
  $M service update --env-rm MK_E2E --label-rm tier --constraint-rm node.hostname!=nosuch judge_swarm
got=$(field '"MK_E2E" in d["spec"]["env"], "tier" in d["spec"].get("labels", {}), d["spec"].get("constraints", [])')
[ "$got" = "False False []" ] && ok "env, label and constraint removed" || bad "after removal: $got"
# The running tasks carry the new limit (the swarm replaced them).
cid=$($M --format json service ps --filter desired-state=running judge_swarm | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["tasks"] if t["state"] == "running"][0]["container_id"])')
node=$($M --format json service ps --filter desired-state=running judge_swarm | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["tasks"] if t["state"] == "running"][0]["node"])')
nano=$(eval "$($M node env "$node")"; docker inspect --format '{{.HostConfig.NanoCpus}}' "$cid" 2>&1)
[ "$nano" = 500000000 ] && ok "a running task has the 0.5 CPU limit" || bad "task limit: $nano"

# Docker's health flags (the image has no HEALTHCHECK: who wants one adds the binary's probe).
check "service update --health-cmd (the binary's own probe) --health-interval 1s converges" \
  $M service update --health-cmd "/usr/local/bin/judge_server --healthcheck" --health-interval 1s judge_swarm
got=$(field 'd["spec"]["healthcheck"]["test"], d["spec"]["healthcheck"]["interval_ms"]')
[ "$got" = "['CMD-SHELL', '/usr/local/bin/judge_server --healthcheck'] 1000" ] && ok "the healthcheck reads back" || bad "healthcheck read back: $got"
task_health() {
  local cid node
  cid=$($M --format json service ps --filter desired-state=running judge_swarm | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["tasks"] if t["state"] == "running"][0]["container_id"])')
  node=$($M --format json service ps --filter desired-state=running judge_swarm | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["tasks"] if t["state"] == "running"][0]["node"])')
  (eval "$($M node env "$node")"; docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid" 2>&1)
}
got=$(task_health)
[ "$got" = healthy ] && ok "a running task passed its probe (the swarm waits for it)" || bad "task health: $got"
check "service update --no-healthcheck converges" $M service update --no-healthcheck judge_swarm
got=$(field 'd["spec"]["healthcheck"]["test"]')
[ "$got" = "['NONE']" ] && ok "--no-healthcheck is test NONE, as docker's" || bad "after --no-healthcheck: $got"
got=$(task_health)
[ "$got" = none ] && ok "running tasks have no healthcheck" || bad "task health after --no-healthcheck: $got"

# Optimistic concurrency: an update naming an old version is refused, nothing changes.
v=$(field 'd["version"]')
out=$($M service update --version $((v - 1)) --label-add stale=1 judge_swarm 2>&1); rc=$?
[[ $rc = 1 && $out == *"changed since version $((v - 1))"* ]] && ok "an update on a stale version is ABORTED" || bad "stale version (exit $rc): $out"
[ "$(field '"stale" in d["spec"].get("labels", {})')" = False ] && ok "the stale update changed nothing" || bad "the stale update applied"

# Ports: a second published port goes through the edge proxy and answers on every node.
check "service update --publish-add 8096:8090" $M service update --publish-add 8096:8090 judge_swarm
answered=0
for _ in $(seq 30); do
  n=0
  for ip in $($M --format json node ls | python3 -c 'import json,sys; print(" ".join(x["address"] for x in json.load(sys.stdin)["nodes"]))'); do
    curl -s -m 2 "http://$ip:8096/ping" | grep -q hostname && n=$((n + 1))
  done
  [ $n = 3 ] && { answered=1; break; }
  sleep 1
done
[ $answered = 1 ] && ok "port 8096 answers on every node after --publish-add" || bad "8096 not answered on every node ($n)"
check "service update --publish-rm 8096:8090" $M service update --publish-rm 8096:8090 judge_swarm
[ "$(field '[p["published"] for p in d["spec"]["ports"]]')" = "[8090]" ] && ok "only 8090 published again" || bad "ports: $(field 'd["spec"]["ports"]')"

# Lists: the edge proxies are containers, no service even with --all; filters, every task.
[ "$($M service ls --all | grep -c judge_swarm-edge)" = 0 ] && [ "$(field 'd["routing"]["edge_service"]')" = judge_swarm-edge ] \
  && ok "no edge service in service ls --all; inspect names the edge containers" || bad "service ls and the edge"
[ "$($M --format json node ls --filter role=worker | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))')" = 2 ] \
  && ok "node ls --filter role=worker" || bad "node ls filter"
# The node of one of judge_swarm's running tasks (the swarm places them where it likes).
busy=$($M --format json service ps judge_swarm | python3 -c 'import json,sys; print([t["node"] for t in json.load(sys.stdin)["tasks"] if t["desired_state"] == "running"][0])')
[ "$($M --format json service ps --filter node=$busy --filter desired-state=running | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; print(len(t) > 0 and all(x["node"] == sys.argv[1] and x["desired_state"] == "running" for x in t))' "$busy")" = True ] \
  && ok "service ps --filter node= --filter desired-state= across services" || bad "service ps filters"

# Log lines name their task and node (the engine's details).
logs=$(timeout 30 $M service logs --tail 3 judge_swarm 2>&1)
[[ $logs =~ judge_swarm\.[0-9]+\.[0-9a-z]{12}@e2e-[mw][12]\ \|\  ]] && ok "service logs: SERVICE.SLOT.TASK@NODE | line" || bad "logs prefix: $(echo "$logs" | head -2)"

check "network inspect swarm_test" $M network inspect swarm_test
out=$($M image rm judge_server:1.0 2>&1); rc=$?
[[ $rc = 1 && $out == *"used by service 'judge_swarm'"* ]] && ok "image rm of a service's image is refused" || bad "image rm (exit $rc): $out"
# A dangling image on e2e-w1: an import twice under one tag leaves the first untagged.
dangling=$(eval "$($M node env e2e-w1)"
  for i in 1 2; do d=$(mktemp -d); echo $i >"$d/f"; tar -C "$d" -cf - f | docker import - e2e/dangle:1 >/dev/null; rm -rf "$d"; done
  docker images -q --filter dangling=true --no-trunc | head -1)
pruned=$($M --format json image prune --node e2e-w1)
echo "$pruned" | python3 -c "import json,sys; d=json.load(sys.stdin); r=d.get('removed', []); sys.exit(0 if any(i['id'] == '$dangling' for i in r) and int(d.get('reclaimed_bytes', 0)) > 0 and all(i.get('tags', []) == [] for i in r) else 1)" \
  && ok "image prune removed the dangling image and reports the space" || bad "prune: $dangling / $pruned"
check "image rm e2e/dangle:1" $M image rm e2e/dangle:1

# Tokens with expiry and last use.
short=$($M token create --role viewer --ttl 1s e2e-short)
expired=0
for _ in $(seq 20); do
  out=$($M --token "$short" node ls 2>&1); rc=$?
  [[ $rc = 3 && $out == *"expired at"* ]] && { expired=1; break; }
  sleep 0.5
done
[ $expired = 1 ] && ok "a token past its ttl is refused as expired (exit 3)" || bad "short token: $out"
[[ $($M token ls | awk '$1 == "e2e-viewer" {print $NF}') == 20*T* ]] && ok "token ls shows when e2e-viewer was last used" || bad "token ls: $($M token ls | grep e2e-viewer)"
[ "$($M audit ls --method UpdateService --limit 3 | awk 'NR > 1' | grep -c UpdateService)" = 3 ] \
  && ok "audit ls --method" || bad "audit ls --method"
$M token rm e2e-short >/dev/null 2>&1

# The same calls from another service: Python stubs generated from protos/ at run time.
out=$(/usr/bin/python3 tests/e2e/apimore_client_test.py --endpoint 127.0.0.1:$port --ca "$state/pki/ca/ca.pem" \
  --token "$admin" --service judge_swarm 2>&1)
[ $? = 0 ] && ok "python client: the new calls ($(echo "$out" | grep -c ^PASS) checks)" || bad "python client: $(echo "$out" | grep FAIL | head -5) $(echo "$out" | tail -3)"
