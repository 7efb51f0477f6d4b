# Issue 21, sourced by tutorial_test.sh on its cluster: compose files deployed with the real
# `docker stack deploy` and with musketeer on the same swarm, every service diffed field by
# field (tests/e2e/stack_diff.py says what is normalized); then what the specs promise, from
# inside the tasks: short-name aliases, and a named volume's data across a task's restart.
export IMAGE=musketeer/base:bookworm FROM_CALLER=from-the-caller
docker_env=$($M node env e2e-m1)
# Running task of SERVICE: "NODE CONTAINER_ID", polled until there is one (bounded).
running_task() {
  local out=""
  for _ in $(seq 60); do
    out=$($M --format json service ps "$1" | python3 -c '
import json, sys
for t in json.load(sys.stdin).get("tasks", []):
    if t.get("state") == "running" and t.get("container_id") and t.get("container_id") != sys.argv[1]:
        print(t["node"], t["container_id"]); break' "${2:-}")
    [ -n "$out" ] && break
    sleep 1
  done
  echo "$out"
}
on_node() { local node=$1; shift; (eval "$($M node env "$node")"; "$@"); }

for f in voting onlinejudge every_key; do
  if ! (eval "$docker_env"
        docker stack deploy --resolve-image never -c tests/e2e/stacks/$f.yml dk_$f >/dev/null 2>&1 &&
          tests/e2e/stack_diff.py capture dk_$f "$tmp/dk_$f.json" &&
          docker stack rm dk_$f >/dev/null); then
    bad "docker stack deploy of $f.yml"
    continue
  fi
  out=$($M stack deploy -d -c tests/e2e/stacks/$f.yml mk_$f 2>&1) || { bad "musketeer stack deploy of $f.yml: $out"; continue; }
  diff=$(eval "$docker_env"; tests/e2e/stack_diff.py compare "$tmp/dk_$f.json" mk_$f $M 2>&1) \
    && ok "$f.yml: every service as docker stack deploy makes it ($(echo "$diff" | tail -1))" \
    || bad "$f.yml differs from docker's: $(echo "$diff" | head -8)"
done
out=$($M stack deploy -d -c tests/e2e/stacks/every_key.yml mk_every_key 2>&1)
[[ $out == *"Ignoring unsupported options: build, restart"* && $out == *"Ignoring deprecated options: expose"* ]] \
  && ok "docker's warnings for the keys it ignores" || bad "warnings: $out"
diff=$(eval "$docker_env"; tests/e2e/stack_diff.py compare "$tmp/dk_every_key.json" mk_every_key $M 2>&1) \
  && ok "a redeploy leaves every service as docker's" || bad "redeploy differs: $(echo "$diff" | head -5)"

# From inside a task: the stack's services by their short names, on the networks they share.
read -r node cid <<<"$(running_task mk_voting_worker)"
names=$(on_node "$node" docker exec "$cid" sh -c 'for n in db redis tasks.vote; do getent hosts $n >/dev/null && echo $n; done' 2>&1 | tr '\n' ' ')
[ "$names" = "db redis tasks.vote " ] && ok "a task resolves the stack's other services by short name (db, redis, tasks.vote)" \
  || bad "short names from $node/$cid: $names"

# A named volume's data survives its task being replaced on the same node.
check "a service with a named volume (--mount)" $M service create -d --name e2e-vol \
  --constraint node.hostname==e2e-w1 --mount type=volume,source=e2e-data,target=/data \
  musketeer/base:bookworm sleep infinity
read -r node cid <<<"$(running_task e2e-vol)"
on_node "$node" docker exec "$cid" sh -c 'echo kept > /data/file' >/dev/null 2>&1
on_node "$node" docker kill "$cid" >/dev/null 2>&1
read -r node2 cid2 <<<"$(running_task e2e-vol "$cid")"
kept=$(on_node "$node2" docker exec "$cid2" cat /data/file 2>&1)
[ "$kept" = kept ] && [ "$node2" = e2e-w1 ] && ok "a named volume's data survives the task's replacement ($cid2 on $node2)" \
  || bad "volume after the task was replaced: '$kept' on $node2"
$M service rm e2e-vol >/dev/null 2>&1
for f in voting onlinejudge every_key; do $M stack rm mk_$f >/dev/null 2>&1; done
unset IMAGE FROM_CALLER

# UDP through every node's published port (issue 21 §6): the edge proxy's nginx carries it.
check "a UDP service published in ingress mode" $M service create -d --name udpecho --replicas 2 \
  -p 9999:9999/udp --network swarm_test musketeer/base:bookworm python3 -c "
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('', 9999))
while True:
    data, peer = s.recvfrom(512)
    s.sendto(os.uname().nodename.encode(), peer)"
udp=$(python3 - $(for ip in $ips; do echo "${ip%:*}"; done) <<'PY'
import socket, sys, time
nodes, until = sys.argv[1:], time.time() + 60
while True:  # until every node answered and both replicas were seen (bounded)
    answered, seen = set(), set()
    for node in nodes:
        for _ in range(6):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1)
            try:
                s.sendto(b"who", (node, 9999))
                seen.add(s.recvfrom(512)[0].decode())
                answered.add(node)
            except OSError:
                pass
            finally:
                s.close()
    if (len(answered) == len(nodes) and len(seen) == 2) or time.time() > until:
        break
print(len(answered), len(seen))
PY
)
[ "$udp" = "3 2" ] && ok "UDP answered on every node's published port, by both replicas" || bad "UDP (nodes answering, replicas seen): $udp"
$M service rm udpecho >/dev/null 2>&1

# The judge's test cases on every node (issue 21 §8): a volume filled from a directory on
# every node, mounted read-only by judge_swarm; a test_case_id is judged on every replica.
cases=$tmp/test_cases
mkdir -p "$cases/aplusb"
printf '1 2\n' >"$cases/aplusb/1.in"; printf '3\n' >"$cases/aplusb/1.out"
printf '20 22\n' >"$cases/aplusb/2.in"; printf '42\n' >"$cases/aplusb/2.out"
python3 - "$cases/aplusb" <<'PY'
import hashlib, json, sys
cases = {str(i): {"input_name": f"{i}.in", "output_name": f"{i}.out", "output_size": len(o),
                  "stripped_output_md5": hashlib.md5(o.rstrip().encode()).hexdigest()}
         for i, o in ((1, "3\n"), (2, "42\n"))}
json.dump({"test_case_number": 2, "spj": False, "test_cases": cases}, open(sys.argv[1] + "/info", "w"))
PY
check "volume create --from DIR fills every node" $M volume create --from "$cases" testcases
[ "$($M volume ls | awk '$1 == "testcases" && $4 ~ /^sha256:/' | wc -l)" = 3 ] && ok "volume ls: testcases on the 3 nodes, with its content" \
  || bad "volume ls: $($M volume ls)"
check "judge_swarm mounts the test cases read-only" $M service update \
  --mount-add type=volume,source=testcases,target=/var/lib/judge_server/test_cases,readonly judge_swarm
sig=$(printf %s e2e | sha256sum | cut -d' ' -f1)
body='{"language":"cpp","src":"#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n","max_cpu_time":1000,"max_memory":268435456,"test_case_id":"aplusb"}'
verdicts=$(for ip in $ips; do for _ in 1 2 3; do
  curl -s -m 30 -H "X-Judge-Server-Token: $sig" --data-binary "$body" "http://$ip/judge" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("hostname"), d.get("verdict"))'
done; done)
replicas=$($M --format json service inspect judge_swarm | python3 -c 'import json,sys; print(json.load(sys.stdin)["running"])')
[ "$(echo "$verdicts" | awk '$2 == "AC" {print $1}' | sort -u | wc -l)" = "$replicas" ] && [ "$(echo "$verdicts" | grep -vc ' AC$')" = 0 ] \
  && ok "test_case_id judged AC by every replica ($replicas) from the volume" || bad "judgings by test_case_id: $verdicts"
