#!/usr/bin/env bash
# The edge proxy's image on the host's dockerd, beside two replicas under one name (Docker's
# embedded DNS on a network of its own, as Swarm's tasks.<service>): one answers, the other
# closes every connection without a word, as a replica does when its node dies mid-request.
# Every request through the edge must be answered: HAProxy tries such a request again on
# another replica. Removes what it made on any exit.
#   tests/edge/edge_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/checks.sh
net=mkedge-test-$$ tag=musketeer/edge:test-$$
cleanup() {
  docker rm -f "$net-good" "$net-dying" "$net-edge" >/dev/null 2>&1
  docker network rm "$net" >/dev/null 2>&1
  docker rmi "$tag" >/dev/null 2>&1
  echo "$passed passed, $failed failed"
}
trap cleanup EXIT

docker/base/build >/dev/null
check "the edge image builds" docker build -q -t "$tag" docker/edge
check "a network of its own" docker network create "$net"
# A replica: nginx answering every request with `answer` (444: close without a response).
replica() {
  docker run -d --name "$net-$1" --network "$net" --network-alias replicas --entrypoint bash "$tag" -c "
    cat >/tmp/nginx.conf <<'CFG'
daemon off;
pid /tmp/nginx.pid;
error_log stderr;
events {}
http { access_log /dev/stderr; server { listen 80; location / { return $2; } } }
CFG
    exec nginx -c /tmp/nginx.conf"
}
check "a replica that answers" replica good "200 ok"
check "a replica that closes connections unanswered" replica dying 444
check "the edge, publishing 8090 for the replicas" docker run -d --name "$net-edge" --network "$net" \
  -e EDGE_BACKEND=replicas -e EDGE_PORTS=8090:80 "$tag"
edge=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$net-edge")
# Until HAProxy has resolved both replicas (it asks the DNS every 200 ms) and answers.
for _ in $(seq 100); do
  [ "$(docker logs "$net-edge" 2>&1 | grep -c 'is UP\|READY')" -ge 2 ] && curl -s -m 2 "http://$edge:8090/" >/dev/null && break
  sleep 0.2
done
answered=0
for _ in $(seq 40); do
  [ "$(curl -s -m 5 "http://$edge:8090/")" = ok ] && answered=$((answered + 1))
done
asked_dying=$(docker logs "$net-dying" 2>&1 | grep -c '"GET / ')
[ "$asked_dying" -gt 0 ] && ok "the dying replica was asked ($asked_dying times)" ||
  bad "the dying replica was never asked, so this proves nothing: $(docker logs "$net-edge" 2>&1 | tail -3)"
[ "$answered" = 40 ] && ok "every request through the edge was answered (40 of 40)" ||
  bad "$answered of 40 requests through the edge were answered"
[ $failed = 0 ]
