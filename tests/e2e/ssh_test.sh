#!/usr/bin/env bash
# The ssh driver end to end: bare SSH hosts (tests/e2e/ssh_hosts.sh: a network and a mount
# namespace each, only sshd running, Docker's package on disk but not running) become
# swarm nodes through musketeerd, on a musketeerd of its own (own state, port, bridge).
# The hosts are built once; every scenario runs on them:
#   1. three SSH hosts become manager1, worker1, worker2; host h3 has no dockerd, and its
#      package manager is a STAND-IN: /usr/bin/apt-get there is a script that records what
#      it was asked and "installs" docker.io by uncovering this machine's dockerd (no
#      registry or mirror is reachable from a test host). The judge service runs with 3
#      replicas on 8090; pingload on every host's 8090 sees all three; the real docker CLI
#      works through `node env`.
#   2. a mixed cluster: one local node and two SSH hosts in one swarm.
#   3. failures, each with a clear error and nothing left on the host or in musketeerd:
#      wrong key, unreachable host, no sudo, unsupported OS, dockerd that does not come
#      up, host key changed (and a pin that replaces it).
#   4. certificates after an address change: the old ones are refused, regenerated work.
# Run it under `flock /work/.cluster.lock`. Usage: tests/e2e/ssh_test.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d /tmp/mkssh-e2e.XXXX)
state=$tmp/state run=/run/mkssh
export SSH_HOSTS_DIR=$tmp/hosts SSH_TEST_KEY=$tmp/id_test
source tests/e2e/ssh_hosts.sh
source tests/checks.sh
# expect_fail WHAT TEXT CMD...: CMD fails and its output contains TEXT.
expect_fail() {
  local what=$1 text=$2 out; shift 2
  if out=$("$@" 2>&1); then bad "$what: succeeded: $(echo "$out" | tail -2)"
  elif [[ $out == *"$text"* ]]; then ok "$what"; echo "      $(echo "$out" | tail -1 | cut -c1-400)"
  else bad "$what: wrong error: $(echo "$out" | tail -2)"; fi
}
# nothing_left I: no trace of musketeer on host I (files, listener, engine, data).
nothing_left() {
  local i=$1 left=""
  in_host "$i" test -e /etc/musketeer && left+=" /etc/musketeer"
  in_host "$i" test -e /run/musketeer-dockerd.pid && left+=" pidfile"
  in_host "$i" ss -ltn | grep -q ':2376 ' && left+=" listener"
  [ -n "$(ls -A "$SSH_HOSTS_DIR/h$i/varlibdocker" 2>/dev/null)" ] && left+=" /var/lib/docker"
  in_host "$i" ip link show docker0 >/dev/null 2>&1 && left+=" docker0"
  echo "$left"
}
no_node() { ! $M node ls | awk '{print $1}' | grep -qx "$1"; }

cleanup() {
  if [ -n "${daemon:-}" ]; then
    for n in $($M node ls 2>/dev/null | awk 'NR > 1 {print $1}'); do
      $M node rm --force "$n" >/dev/null 2>&1
    done
    kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  fi
  ssh_hosts_down
  rm -rf "$tmp" "$run"
  local left
  left=$(ip netns | grep -c mkssh || true)
  [ "$left" = 0 ] || echo "FAIL cleanup left $left namespaces"
  echo "$passed passed, $failed failed ($SECONDS s)"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$SSH_TEST_KEY"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id_wrong"
# The hosts: h0..h2 for the swarm, h3 for failures and the address change.
for i in 0 1 2 3; do ssh_host_up $i || { bad "test host $i"; exit 1; }; done
# h2 lacks Docker: its dockerd is covered by a non-executable file, and its apt-get is the
# stand-in, which records its arguments and uncovers dockerd on `install docker.io`.
touch "$SSH_HOSTS_DIR/h2/dockerd-absent"
cat >"$SSH_HOSTS_DIR/h2/apt-get" <<'EOF'
#!/bin/sh
# STAND-IN for apt-get on a test host (tests/e2e/ssh_test.sh): records what it was asked
# and installs docker.io from what is on the machine (uncovers its dockerd).
echo "apt-get $*" >>/var/log/apt-stand-in.log
case " $* " in
  *" install "*docker.io*) umount /usr/sbin/dockerd ;;
  *" remove "*docker.io*) mount --bind /etc/dockerd-absent /usr/sbin/dockerd ;;
esac
EOF
chmod 0755 "$SSH_HOSTS_DIR/h2/apt-get"
cp "$SSH_HOSTS_DIR/h2/dockerd-absent" "$SSH_HOSTS_DIR/h2/etc/dockerd-absent"
in_host 2 mount --bind /etc/dockerd-absent /usr/sbin/dockerd
in_host 2 mount --bind "$SSH_HOSTS_DIR/h2/apt-get" /usr/bin/apt-get
in_host 2 test -x /usr/sbin/dockerd && bad "h2 still has an executable dockerd"
# A user without sudo on h3.
echo "deploy:x:2001:2001::/nonexistent:/bin/sh" >>"$SSH_HOSTS_DIR/h3/etc/passwd"
echo "deploy:*:19000:0:99999:7:::" >>"$SSH_HOSTS_DIR/h3/etc/shadow"
echo "deploy:x:2001:" >>"$SSH_HOSTS_DIR/h3/etc/group"
cp "$SSH_TEST_KEY.pub" "$SSH_HOSTS_DIR/h3/etc/ssh/authorized_keys/deploy"
# musketeerd's ssh reads this config (-F): host aliases, so that an address can change.
cat >"$tmp/ssh_config" <<EOF
Host h0
  HostName $(ssh_host_ip 0)
Host h1
  HostName $(ssh_host_ip 1)
Host h2
  HostName $(ssh_host_ip 2)
Host h3
  HostName $(ssh_host_ip 3)
EOF

"$build/controlplane/musketeerd" --state-dir "$state" --run-dir "$run" --listen 127.0.0.1:0 \
  --node-subnet 10.213.169.0/24 --bridge mkssh9 --ssh-config "$tmp/ssh_config" \
  >"$tmp/daemon.log" 2>&1 &
daemon=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/daemon.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { bad "musketeerd did not start: $(cat "$tmp/daemon.log")"; exit 1; }
export MUSKETEER_TOKEN=$(cat "$state/admin.token") MUSKETEER_CONFIG=/nonexistent
M="$build/clients/musketeer --endpoint 127.0.0.1:$port --ca $state/pki/ca/ca.pem"
K="--ssh-key $SSH_TEST_KEY"

# ---------------------------------------------------------------- 1. three SSH hosts
started=$SECONDS
$M node create --driver ssh --ssh-host h0 $K manager1 >"$tmp/c0" 2>&1 & p0=$!
$M node create --driver ssh --ssh-host h1 --ssh-user root --ssh-port 22 $K worker1 >"$tmp/c1" 2>&1 & p1=$!
$M node create --driver ssh --ssh-host h2 $K worker2 >"$tmp/c2" 2>&1 & p2=$!
rc=0; wait $p0 || rc=1; wait $p1 || rc=1; wait $p2 || rc=1
[ $rc = 0 ] && ok "three SSH hosts created in parallel ($((SECONDS - started)) s)" \
  || bad "ssh creates: $(cat "$tmp/c0" "$tmp/c1" "$tmp/c2" | grep -v '^\S*: \[' | tail -5)"
cat "$tmp/c0" | sed 's/^/      /'
grep -q '\[connect\] host key ED25519 SHA256:.* trusted on first use' "$tmp/c0" \
  && ok "progress: host key trusted on first use, shown" || bad "no TOFU line: $(cat "$tmp/c0")"
for step in check engine certs configure wait; do
  grep -q "^manager1: \[$step\]" "$tmp/c0" || bad "progress lacks step $step"
done
grep -q '\[check\] Debian GNU/Linux 12 (bookworm), x86_64, root' "$tmp/c0" \
  && ok "progress: OS and privileges checked" || bad "check line: $(grep check "$tmp/c0")"
grep -q '\[engine\] already installed: Docker version 20' "$tmp/c0" \
  && ok "progress: Docker found and its version reported" || bad "engine line"
grep -q '\[engine\] installed: Docker version 20' "$tmp/c2" \
  && ok "h2: Docker installed with the package manager, version reported" \
  || bad "install: $(grep engine "$tmp/c2")"
[ "$(in_host 2 cat /var/log/apt-stand-in.log 2>/dev/null | grep -c 'install -y -qq docker.io')" = 1 ] \
  && ok "h2: the stand-in apt-get was asked for docker.io once" \
  || bad "stand-in log: $(in_host 2 cat /var/log/apt-stand-in.log 2>&1)"
fp=$(ssh-keygen -lf "$SSH_HOSTS_DIR/h0/etc/ssh/ssh_host_ed25519_key.pub" | awk '{print $2}')
[ "$($M --format json node inspect manager1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_host_key"])')" = "ED25519 $fp" ] \
  && ok "node inspect shows the host key, equal to the host's own" || bad "host key shown differs from $fp"
[ "$(sqlite3 "$state/state.db" "select fingerprint from ssh_host_keys where target='h0:22'" 2>/dev/null || \
     python3 -c "import sqlite3; print(sqlite3.connect('$state/state.db').execute(\"select fingerprint from ssh_host_keys where target='h0:22'\").fetchone()[0])")" = "$fp" ] \
  && ok "the host key is recorded in musketeerd's state database" || bad "host key not in state.db"
perm=$(in_host 0 stat -c '%a %U' /etc/musketeer/key.pem)
[ "$perm" = "600 root" ] && ok "server key on the host is 0600 root" || bad "key.pem mode: $perm"
san=$(in_host 0 openssl x509 -in /etc/musketeer/cert.pem -noout -ext subjectAltName 2>&1)
[[ $san == *"IP Address:$(ssh_host_ip 0)"* && $san == *"DNS:h0"* && $san == *"DNS:manager1"* ]] && ok "server certificate SANs: address and name" \
  || bad "SANs: $san"
[ "$($M node ls | awk '$2 == "ssh" && $3 == "running"' | wc -l)" = 3 ] && ok "node ls: three running ssh nodes" \
  || bad "node ls: $($M node ls)"
# The engine refuses a client without a certificate of musketeer's CA.
out=$(curl -s --max-time 5 --cacert "$state/pki/ca/ca.pem" "https://$(ssh_host_ip 0):2376/version" 2>&1; echo "rc=$?")
[[ $out != *ApiVersion* ]] && ok "the engine refuses clients without a certificate" || bad "no mutual TLS: $out"
check "swarm init on manager1" $M swarm init manager1 --dispatcher-heartbeat 1
check "swarm join worker1 worker2" $M swarm join worker1 worker2 --manager manager1
[ "$($M --format json node ls | grep -c '"swarm_status": "ready"')" = 3 ] && ok "three ready swarm nodes" || bad "swarm not ready: $($M node ls)"
check "overlay network swarm_test" $M network create --driver overlay swarm_test
check "base image imported on all nodes" $M image import /var/cache/musketeer/base-bookworm.tar musketeer/base:bookworm
docker/judge_server/build --context "$tmp/ctx" >/dev/null
check "judge image built and distributed" $M image build "$tmp/ctx" -t judge_server:1.0
check "edge image built and distributed" $M image build docker/edge -t musketeer/edge:1
check "judge_swarm: 3 replicas converge" $M service create --replicas 3 --name judge_swarm -p 8090:8090 \
  --network swarm_test --cap-add CAP_SYS_ADMIN -e JUDGE_TOKEN=ssh judge_server:1.0
ips="$(ssh_host_ip 0):8090 $(ssh_host_ip 1):8090 $(ssh_host_ip 2):8090"
load=$("$build/clients/pingload" --json -c 6 -n 600 $ips)
replicas=$(echo "$load" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(min(len(t["hostnames"]) for t in d["targets"]), d["errors"])')
[ "$replicas" = "3 0" ] && ok "pingload: every host's 8090 is answered by all 3 replicas" || bad "replicas per host / errors: $replicas"
names=$(eval "$($M node env worker1)"; docker node ls --format '{{.Hostname}}' 2>&1 | sort | tr '\n' ' ')
[ "$names" = "manager1 worker1 worker2 " ] || names=$(eval "$($M node env manager1)"; docker node ls --format '{{.Hostname}}' 2>&1 | sort | tr '\n' ' ')
[ "$names" = "manager1 worker1 worker2 " ] && ok "the docker CLI through node env: docker node ls" || bad "node env: $names"
ver=$(eval "$($M node env worker2)"; docker version --format '{{.Server.Version}}' 2>&1)
[[ $ver == 20.10.* ]] && ok "the docker CLI reaches worker2 over TLS (engine $ver)" || bad "docker version: $ver"

# rm: leaves the swarm, removes what musketeer configured, keeps Docker (and its data)
# unless --purge-engine (tried on h2 only: its apt-get is the stand-in; on the other hosts
# apt-get is this machine's own).
check "service rm" $M service rm judge_swarm
check "node rm worker1" $M node rm worker1
[ -z "$(nothing_left 1 | sed 's# /var/lib/docker##; s# docker0##')" ] \
  && ok "node rm: listener, certificates and engine gone from h1" || bad "left on h1: $(nothing_left 1)"
in_host 1 test -x /usr/sbin/dockerd && ok "node rm keeps Docker installed" || bad "Docker was removed without --purge-engine"
check "node rm --purge-engine worker2" $M node rm --purge-engine worker2
[ -z "$(nothing_left 2 | sed 's# /var/lib/docker##; s# docker0##')" ] && ok "worker2 removed" || bad "left on h2: $(nothing_left 2)"
in_host 2 grep -q 'remove -y -qq docker.io' /var/log/apt-stand-in.log && ! in_host 2 test -x /usr/sbin/dockerd \
  && ok "--purge-engine removed the Docker package (through the stand-in)" || bad "purge: $(in_host 2 cat /var/log/apt-stand-in.log)"
check "node rm -f manager1" $M node rm -f manager1
[ "$($M node ls | wc -l)" = 1 ] && ok "no nodes left" || bad "nodes left: $($M node ls)"

# ---------------------------------------------------------------- 2. mixed cluster
check "local node local1" $M node create local1
check "ssh node m0 on h0" $M node create --driver ssh --ssh-host h0 $K m0
check "ssh node m1 on h1" $M node create --driver ssh --ssh-host h1 $K m1
check "mixed: swarm init on the local node" $M swarm init local1 --dispatcher-heartbeat 1
check "mixed: ssh nodes join" $M swarm join m0 m1 --manager local1
[ "$($M --format json node ls | grep -c '"swarm_status": "ready"')" = 3 ] && ok "mixed cluster: 1 local + 2 ssh nodes ready" \
  || bad "mixed: $($M node ls)"
check "mixed: overlay network" $M network create --driver overlay mixed_net
check "mixed: 3 replicas converge" $M service create --replicas 3 --name mixed_judge --network mixed_net \
  -e JUDGE_TOKEN=ssh judge_server:1.0
# Polled (bounded): a task whose healthcheck has not passed yet is "starting", not "running".
for _ in $(seq 30); do
  spread=$($M --format json service ps mixed_judge | python3 -c 'import json,sys; print(" ".join(sorted({t["node"] for t in json.load(sys.stdin)["tasks"] if t["state"] == "running"})))')
  [ "$(echo $spread | wc -w)" = 3 ] && break
  sleep 1
done
[ "$(echo $spread | wc -w)" = 3 ] && ok "mixed: one replica on each node ($spread)" || bad "mixed spread: $($M service ps mixed_judge)"
$M service rm mixed_judge >/dev/null 2>&1
for n in m1 m0; do $M node rm -f $n >/dev/null 2>&1; done
$M node rm -f local1 >/dev/null 2>&1

# ---------------------------------------------------------------- 3. failures
expect_fail "wrong key" "cannot log in to h3" $M node create --driver ssh --ssh-host h3 --ssh-key "$tmp/id_wrong" f1
no_node f1 && [ -z "$(nothing_left 3)" ] && ok "wrong key: nothing left" || bad "wrong key left: $(nothing_left 3)"
expect_fail "unreachable host" "cannot reach 10.213.163.99" $M node create --driver ssh --ssh-host 10.213.163.99 $K f2
no_node f2 && ok "unreachable: no node" || bad "unreachable left a node"
expect_fail "no sudo" "is not root and" $M node create --driver ssh --ssh-host h3 --ssh-user deploy $K f3
no_node f3 && [ -z "$(nothing_left 3)" ] && ok "no sudo: nothing left" || bad "no sudo left: $(nothing_left 3)"
cp --remove-destination /dev/stdin "$SSH_HOSTS_DIR/h3/etc/os-release" <<<'PRETTY_NAME="Alpine Linux v3.19"
ID=alpine
VERSION_ID=3.19.1'
expect_fail "unsupported OS" "unsupported operating system 'Alpine Linux v3.19'" $M node create --driver ssh --ssh-host h3 $K f4
no_node f4 && [ -z "$(nothing_left 3)" ] && ok "unsupported OS: nothing left" || bad "unsupported OS left: $(nothing_left 3)"
ln -sf ../usr/lib/os-release "$SSH_HOSTS_DIR/h3/etc/os-release"
cp "$SSH_HOSTS_DIR/h3/etc/docker/daemon.json" "$tmp/daemon.json.h3"
echo '{"cgroup-parent": "/mkssh-h3", "no-such-option": true}' >"$SSH_HOSTS_DIR/h3/etc/docker/daemon.json"
expect_fail "dockerd that does not come up" "exited while starting" $M node create --driver ssh --ssh-host h3 $K f5
no_node f5 && [ -z "$(nothing_left 3)" ] && ok "dockerd down: nothing left" || bad "dockerd down left: $(nothing_left 3)"
cp "$tmp/daemon.json.h3" "$SSH_HOSTS_DIR/h3/etc/docker/daemon.json"
# Host key changed: h3 known from a first create, then it gets new host keys.
check "h3 becomes a node (its key trusted on first use)" $M node create --driver ssh --ssh-host h3 $K mover
check "and is removed (the key stays trusted)" $M node rm mover
rm -f "$SSH_HOSTS_DIR"/h3/etc/ssh/ssh_host_*
ssh-keygen -q -A -f "$SSH_HOSTS_DIR/h3"
kill -HUP "$(cat "$SSH_HOSTS_DIR/h3/sshd.pid")"  # sshd re-execs and loads the new keys
for _ in $(seq 50); do timeout 1 bash -c "</dev/tcp/$(ssh_host_ip 3)/22" 2>/dev/null && break; sleep 0.1; done
expect_fail "host key changed" "the host key of h3 changed" $M node create --driver ssh --ssh-host h3 $K f6
# (h3's dockerd ran for "mover": its data and docker0 stay, as after any node rm.)
no_node f6 && [ -z "$(nothing_left 3 | sed 's# /var/lib/docker##; s# docker0##')" ] && ok "host key changed: nothing left" \
  || bad "key change left: $(nothing_left 3)"
expect_fail "a wrong pin" "not the pinned" $M node create --driver ssh --ssh-host h3 $K \
  --ssh-host-key SHA256:qyz23dRaXtRLAko+eOz7SGXZ+7Gene1/mgGyzkR4NOE f7
newfp=$(ssh-keygen -lf "$SSH_HOSTS_DIR/h3/etc/ssh/ssh_host_ed25519_key.pub" | awk '{print $2}')
check "the new key pinned: accepted" $M node create --driver ssh --ssh-host h3 $K --ssh-host-key "$newfp" mover

# ---------------------------------------------------------------- 4. address change
old=$(ssh_host_ip 3) new=$(ssh_host_ip 3 7)
in_host 3 ip addr del "$old/24" dev eth0
in_host 3 ip addr add "$new/24" dev eth0
in_host 3 ip route add default via "$(ssh_host_ip 3 1)"
sed -i "s/HostName $old\$/HostName $new/" "$tmp/ssh_config"
out=$(eval "$($M node env mover)"; docker -H "tcp://$new:2376" version --format '{{.Server.Version}}' 2>&1)
[[ $out == *"valid for"*"$old"* || $out == *"certificate"* ]] && ok "old certificate refused at the new address" \
  || bad "old certificate at $new: $out"
check "node regenerate-certs after the address change" $M node regenerate-certs mover
[ "$($M node ip mover)" = "$new" ] && ok "the node's address follows ($new)" || bad "address: $($M node ip mover)"
out=$(eval "$($M node env mover)"; docker version --format '{{.Server.Version}}' 2>&1)
[[ $out == 20.10.* ]] && ok "regenerated certificate works (docker via node env)" || bad "after regenerate: $out"
check "node rm mover" $M node rm mover
[ -z "$(nothing_left 3 | sed 's# /var/lib/docker##; s# docker0##')" ] && ok "mover removed" || bad "left on h3: $(nothing_left 3)"
