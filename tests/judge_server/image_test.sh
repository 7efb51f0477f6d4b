#!/usr/bin/env bash
# The judge_server image under a real dockerd: build it, run it unprivileged, check
# /ping, /healthz and the binary's own probe, the liveness watchdog, one /judge through the
# container, and a clean SIGTERM stop. Leaves no container behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${JUDGE_TEST_TAG:-judge_server:1.0}  # another tag keeps parallel builds apart
name=judge-image-test-$$
token=image-test-token
passed=0 failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
cleanup() { docker rm -f "$name" "$name-frozen" >/dev/null 2>&1 || true; }
trap cleanup EXIT

docker/judge_server/build "$tag"
docker run -d --name "$name" -e JUDGE_TOKEN="$token" -p 127.0.0.1::8090 "$tag" >/dev/null
port=$(docker port "$name" 8090/tcp | head -1 | sed 's/.*://')
# Up to a minute: a loaded machine (other tests beside this one) starts containers slowly.
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

container_host=$(docker inspect -f '{{.Config.Hostname}}' "$name")
ping=$(curl -sf "http://127.0.0.1:$port/ping")
check "ping answers with the container's hostname" grep -q "\"hostname\":\"$container_host\"" <<<"$ping"

body='{"language":"cpp","src":"#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}","max_cpu_time":2000,"max_memory":268435456,"test_case":[{"input":"1 2\n","output":"3\n"},{"input":"20 22\n","output":"42\n"}]}'
reply=$(curl -s -H "X-Judge-Server-Token: $(printf %s "$token" | sha256sum | cut -d' ' -f1)" \
  --data-binary "$body" "http://127.0.0.1:$port/judge")
echo "judge reply: $reply"
check "judge inside the container accepts A+B" grep -q '"verdict":"AC"' <<<"$reply"
check "without CAP_SYS_ADMIN the judge runs in its restricted mode" grep -q '"sandbox":"restricted"' <<<"$ping"
check "judge refuses a wrong token" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Judge-Server-Token: x' \
  --data-binary "$body" "http://127.0.0.1:$port/judge")" = 401

# No Docker HEALTHCHECK (Swarm would hold every task until its first probe, one interval
# after the start); liveness is the server's own watchdog, and the probe stays available.
check "the image has no HEALTHCHECK (deploys do not wait for a first probe)" \
  test "$(docker inspect -f '{{json .Config.Healthcheck}}' "$name")" = null
check "the watchdog is on (30 s)" grep -q "watchdog 30 s" <<<"$(docker logs "$name" 2>&1)"
probe=$(docker exec "$name" /usr/local/bin/judge_server --healthcheck) || probe="failed: $probe"
check "the binary's own probe, for --health-cmd, says what it checked" \
  grep -q "healthy: GET /healthz" <<<"$probe"
# Frozen for longer than the watchdog's limit, then thawed: not mistaken for a hang.
docker run -d --name "$name-frozen" -e JUDGE_TOKEN="$token" -e JUDGE_WATCHDOG=2 "$tag" >/dev/null
sleep 1
docker pause "$name-frozen" >/dev/null
sleep 4
docker unpause "$name-frozen" >/dev/null
sleep 3
check "a paused and resumed server keeps running (the watchdog saw itself held up)" \
  test "$(docker inspect -f '{{.State.Running}}' "$name-frozen")" = true
docker rm -f "$name-frozen" >/dev/null

start=$(date +%s%N)
docker stop -t 10 "$name" >/dev/null
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
echo "docker stop took ${elapsed_ms} ms, exit code $code"
check "SIGTERM stops the server cleanly (exit 0, not killed)" test "$code" = 0

# The mode the demo deploys (CAP_SYS_ADMIN: namespaces per run) against the whole
# adversarial suite, each test with a container of its own.
check "the adversarial suite passes against the image with CAP_SYS_ADMIN" \
  env JUDGE_TEST_IMAGE="$tag" build/tests/judge_server/sandbox_adversarial_test --gtest_brief=1

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
