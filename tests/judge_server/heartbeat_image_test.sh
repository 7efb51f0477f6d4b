#!/usr/bin/env bash
# The OnlineJudge heartbeat from judge_server containers under a real dockerd: three
# containers of the image on one user-defined network beat to fake_online_judge.py (in a
# fourth container of the same image), which validates each heartbeat as OnlineJudge does
# and judges A+B at every service_url it is sent. Passes when it has three distinct URLs
# ({ip} twice, {hostname} once; one container with CAP_SYS_ADMIN, two without), each
# judging AC, and a container with the wrong token is refused yet keeps beating.
# (The same on a swarm service's replicas is the demo cluster's e2e.) Leaves nothing
# behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=judge_server:heartbeat-test  # its own tag: judge_server:1.0 is left alone
prefix=hb-image-test-$$
net=$prefix-net
token=hb-image-token
passed=0 failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
cleanup() {
  docker rm -f "$prefix-oj" "$prefix-1" "$prefix-2" "$prefix-3" "$prefix-wrong" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  docker rmi "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker/judge_server/build "$tag"
docker network create "$net" >/dev/null
docker run -d --name "$prefix-oj" --network "$net" \
  -v "$PWD/tests/judge_server/fake_online_judge.py:/fake_online_judge.py:ro" \
  --entrypoint python3 "$tag" /fake_online_judge.py --port 8000 --token "$token" --judge >/dev/null
backend="http://$prefix-oj:8000/api/judge_server_heartbeat/"
judge() {  # judge NAME TOKEN SERVICE_URL [docker flags...]
  docker run -d --name "$1" --network "$net" -e TOKEN="$2" -e BACKEND_URL="$backend" \
    -e SERVICE_URL="$3" -e JUDGE_HEARTBEAT_INTERVAL=0.5 "${@:4}" "$tag" >/dev/null
}
judge "$prefix-1" "$token" 'http://{ip}:{port}' --cap-add SYS_ADMIN
judge "$prefix-2" "$token" 'http://{ip}:{port}'
judge "$prefix-3" "$token" 'http://{hostname}:{port}/'
judge "$prefix-wrong" "not-$token" 'http://{ip}:{port}'

servers() {
  docker exec "$prefix-oj" python3 -c \
    'import json,urllib.request; print(json.dumps(json.load(urllib.request.urlopen("http://127.0.0.1:8000/servers"))))'
}
# Done when three URLs have a verdict and the refused container beat twice (60 s at most).
summary=""
for _ in $(seq 300); do
  summary=$(servers 2>/dev/null || true)
  if python3 -c '
import json, sys
s = json.loads(sys.argv[1] or "{}")
judged = [u for u, v in s.items() if v["judge"] not in (None, "pending")]
refused = [u for u, v in s.items() if v["errors"] >= 2]
sys.exit(0 if len(judged) >= 3 and refused else 1)' "$summary"; then break; fi
  sleep 0.2
done
echo "backend saw: $summary"
docker logs "$prefix-oj" 2>&1 | tail -5

count() {  # count PYTHON_EXPRESSION_OVER_s: prints its value
  python3 -c "import json,sys; s=json.loads(sys.argv[1] or '{}'); print($1)" "$summary"
}
check "three containers report three distinct service URLs, each judging A+B" \
  test "$(count 'sum(1 for v in s.values() if v["judge"] == "AC" and v["errors"] == 0)')" = 3
check "{hostname} names the container (Docker's DNS resolves it on the network)" \
  test "$(count 'sum(1 for u, v in s.items() if u.startswith("http://" + v["hostname"] + ":8090"))')" = 1
check "every accepted heartbeat passed OnlineJudge's validation" \
  test "$(count 'sum(v["errors"] for v in s.values() if v["judge"] is not None)')" = 0
check "a wrong token is refused, and the server keeps beating" \
  test "$(count 'max([v["errors"] for v in s.values() if v["judge"] is None] or [0]) >= 2')" = True
check "the refused server is still running" \
  test "$(docker inspect -f '{{.State.Running}}' "$prefix-wrong")" = true

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
