#!/usr/bin/env bash
# The Debian packages end to end (issue 23), on a build tree that is already built (ctest's):
#   1. cpack makes musketeerd, musketeer and pingload .debs from it (the install rules);
#      their contents, conffiles, dependencies and man pages are checked with dpkg-deb.
#   2. A fresh container of the project's own Debian 12 base (musketeer/base:bookworm)
#      installs them with apt-get, dependencies from the Debian archive (Depends only:
#      Recommends such as docker.io are for local nodes, and heavy), plus systemd and man-db
#      for `systemd-analyze verify` of the installed unit (which also runs man for its
#      Documentation=).
#   3. musketeerd starts from the installed files: the unit's ExecStart command line with
#      the installed config (no systemd runs as PID 1 in a container); `musketeer version`
#      and `musketeer node ls` answer with only the token given (the CLI's default endpoint
#      and CA are the package's). Every setting of the installed config, uncommented, is a
#      flag of `musketeerd --help` that musketeerd accepts, and every flag is in the config.
#   4. The bash completion loads; purge removes the config and keeps the state.
# Bounded: every long step runs under `timeout`; the container is removed on every exit.
# Usage: tests/package/package_test.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d /tmp/mkpkg-test.XXXX)
image=musketeer/base:bookworm
name=musketeer-package-test-$$
source tests/checks.sh
in_box() { docker exec "$name" "$@"; }
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1
  rm -rf "$tmp"
  echo "$passed passed, $failed failed ($SECONDS s)"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
trap cleanup EXIT
trap 'bad "interrupted"; exit 1' INT TERM
# Containers of earlier runs that were killed before their trap ran (label: their pid).
for c in $(docker ps -aq --filter label=musketeer.test=package 2>/dev/null); do
  pid=$(docker inspect -f '{{index .Config.Labels "musketeer.test.pid"}}' "$c" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || docker rm -f "$c" >/dev/null 2>&1
done

# ---------------------------------------------------------------- 1. the packages
start=$SECONDS
if ! timeout 300 cpack --config "$build/CPackConfig.cmake" -B "$tmp/cpack" >"$tmp/cpack.log" 2>&1; then
  bad "cpack: $(tail -5 "$tmp/cpack.log")"
  exit 1
fi
mkdir "$tmp/dist"
mv "$tmp"/cpack/*.deb "$tmp/dist/" 2>/dev/null
debs=$(cd "$tmp/dist" && ls)
deb() { ls "$tmp"/dist/"$1"_*.deb 2>/dev/null; }
if [ -n "$(deb musketeerd)" ] && [ -n "$(deb musketeer)" ] && [ -n "$(deb pingload)" ] &&
   [ "$(echo "$debs" | wc -l)" = 3 ]; then
  ok "cpack made 3 packages in $((SECONDS - start)) s: $(echo $debs)"
else
  bad "cpack made: $(echo $debs)"
  exit 1
fi
version=$(dpkg-deb -f "$(deb musketeerd)" Version)
version=${version%-*}
# has_files DEB PATH...: the package contains every PATH.
has_files() {
  local deb=$1 list missing=""; shift
  list=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for f in "$@"; do grep -qx "./${f#/}" <<<"$list" || missing+=" $f"; done
  [ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}
check "musketeerd.deb: daemon, unit, config, man page" has_files "$(deb musketeerd)" \
  /usr/sbin/musketeerd /lib/systemd/system/musketeerd.service /etc/musketeer/musketeerd.conf \
  /usr/share/man/man8/musketeerd.8.gz
check "musketeer.deb: CLI, bash completion, man page" has_files "$(deb musketeer)" \
  /usr/bin/musketeer /usr/share/bash-completion/completions/musketeer \
  /usr/share/man/man1/musketeer.1.gz
check "pingload.deb: pingload, man page" has_files "$(deb pingload)" \
  /usr/bin/pingload /usr/share/man/man1/pingload.1.gz
dpkg-deb -e "$(deb musketeerd)" "$tmp/control"
check "the config is a conffile" grep -qx /etc/musketeer/musketeerd.conf "$tmp/control/conffiles"
depends=$(dpkg-deb -f "$(deb musketeerd)" Depends)
depends_ok() {
  for p in libgrpc++ libprotobuf libabsl libssl3 libsqlite3 iproute2 iptables openssh-client; do
    grep -q "$p" <<<"$depends" || { echo "no $p in Depends: $depends"; return 1; }
  done
  grep -q docker.io <<<"$(dpkg-deb -f "$(deb musketeerd)" Recommends)" || { echo "no docker.io in Recommends"; return 1; }
}
check "musketeerd's Depends: its libraries (dpkg-shlibdeps) and iproute2, iptables, openssh-client; Recommends docker.io" depends_ok
echo "      Depends: $depends"
# man_has DEB PAGE TEXT: the man page in DEB mentions TEXT (made from --help).
man_has() {
  dpkg-deb --fsys-tarfile "$1" | tar -xO "./$2" | zcat | grep -q -- "$3" || { echo "$2 lacks $3"; return 1; }
}
man_pages() {
  man_has "$(deb musketeerd)" usr/share/man/man8/musketeerd.8.gz 'musketeerd.conf' &&
    man_has "$(deb musketeerd)" usr/share/man/man8/musketeerd.8.gz 'state\\-dir' &&
    man_has "$(deb musketeer)" usr/share/man/man1/musketeer.1.gz 'service create' &&
    man_has "$(deb pingload)" usr/share/man/man1/pingload.1.gz 'connections'
}
check "man pages from --help: musketeerd(8) with its flags and config file, musketeer(1), pingload(1)" man_pages

# ---------------------------------------------------------------- 2. install in a fresh container
start=$SECONDS
if ! timeout 900 docker/base/build >"$tmp/base.log" 2>&1; then
  bad "docker/base/build: $(tail -3 "$tmp/base.log")"
  exit 1
fi
docker run -d --name "$name" --label musketeer.test=package --label "musketeer.test.pid=$$" \
  "$image" sleep infinity >/dev/null || { bad "cannot start a container of $image"; exit 1; }
docker cp "$tmp/dist" "$name:/tmp/dist" >/dev/null
# The base image keeps man pages out (dpkg path-exclude); here they are wanted, for
# `systemd-analyze verify`'s check of the unit's Documentation=man:musketeerd(8).
in_box sed -i '\#^path-exclude=/usr/share/man/#d' /etc/dpkg/dpkg.cfg.d/99mmdebstrap
if timeout 600 docker exec -e DEBIAN_FRONTEND=noninteractive "$name" sh -c \
  'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/dist/*.deb systemd man-db' \
  >"$tmp/install.log" 2>&1; then
  ok "apt-get installed $(echo $debs) with their dependencies from the Debian archive (+ systemd, man-db) in $((SECONDS - start)) s"
else
  bad "apt-get install: $(grep -v '^\(Selecting\|Preparing\|Unpacking\|Setting up\)' "$tmp/install.log" | tail -5)"
  exit 1
fi
check "what musketeerd runs is installed (ip, iptables, ssh, nsenter, unshare)" \
  in_box sh -c 'command -v ip && command -v iptables && command -v ssh && command -v nsenter && command -v unshare'
check "postinst made /var/lib/musketeer 0700" \
  in_box sh -c 'test "$(stat -c %a /var/lib/musketeer)" = 700'
if out=$(in_box systemd-analyze verify /lib/systemd/system/musketeerd.service 2>&1) && [ -z "$out" ]; then
  ok "systemd-analyze verify musketeerd.service: no finding"
else
  bad "systemd-analyze verify musketeerd.service: $out"
fi

# ---------------------------------------------------------------- 3. run it as the unit does
exec_start=$(in_box sed -n 's/^ExecStart=//p' /lib/systemd/system/musketeerd.service)
# run_daemon CMD: starts CMD in the container (detached), logging to /var/log/musketeerd.log.
run_daemon() { docker exec -d "$name" sh -c "echo \$\$ >/run/musketeerd.pid; exec $1 >>/var/log/musketeerd.log 2>&1"; }
# cli ARGS...: the installed CLI with only the token given (endpoint and CA: its defaults).
cli() { in_box sh -c 'MUSKETEER_TOKEN=$(cat /var/lib/musketeer/admin.token) exec musketeer "$@"' sh "$@"; }
# wait_version: until `musketeer version` reaches the server (at most 30 s).
wait_version() {
  for _ in $(seq 150); do
    out=$(cli version 2>&1) && return 0
    sleep 0.2
  done
  return 1
}
stop_daemon() {
  in_box sh -c 'pid=$(cat /run/musketeerd.pid) && kill $pid && for i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; exit 1'
}
start=$SECONDS
run_daemon "$exec_start"
if wait_version; then
  ok "musketeerd started as the unit's ExecStart ($exec_start), answered in $((SECONDS - start)) s"
else
  bad "musketeerd ($exec_start) did not answer: $out; its log: $(in_box tail -5 /var/log/musketeerd.log)"
  exit 1
fi
if grep -q "Server: musketeerd" <<<"$out" && [ "$(grep -c "Version:  $version\$" <<<"$out")" = 2 ]; then
  ok "musketeer version: client and server $version"
else
  bad "musketeer version: $out"
fi
if out=$(cli node ls 2>&1) && head -1 <<<"$out" | grep -q '^NAME *DRIVER *STATE'; then
  ok "musketeer node ls: $(head -1 <<<"$out" | tr -s ' ')"
else
  bad "musketeer node ls: $out"
fi

# The config documents every flag: each `#name = default` line is a flag of --help, and
# each flag of --help (but --config, --help, --version) has its line.
conf=/etc/musketeer/musketeerd.conf
in_box sh -c "musketeerd --help >/tmp/help 2>&1; exit 0"
help_flags=$(in_box grep -o -- '--[a-z][a-z-]*' /tmp/help | sed 's/^--//' | sort -u |
             grep -vx 'config\|help\|version')
conf_flags=$(in_box sed -n 's/^#\([a-z][a-z-]*\) = .*/\1/p' "$conf" | sort -u)
if [ -n "$help_flags" ] && [ "$help_flags" = "$conf_flags" ]; then
  ok "the installed config has a line for each of musketeerd's $(wc -l <<<"$help_flags") flags"
else
  bad "config and --help differ: $(diff <(echo "$help_flags") <(echo "$conf_flags") | grep '^[<>]' | tr '\n' ' ')"
fi
# Every line uncommented: the defaults (and examples) are accepted and serve the same API.
start=$SECONDS
in_box sh -c "sed 's/^#\([a-z][a-z-]*\) = /\1 = /' $conf >/tmp/all.conf"
if stop_daemon; then
  run_daemon "/usr/sbin/musketeerd --config /tmp/all.conf"
  if wait_version && out=$(cli node ls 2>&1); then
    ok "musketeerd with every setting of the config uncommented serves (restart in $((SECONDS - start)) s)"
  else
    bad "musketeerd with every setting uncommented: $out; $(in_box tail -3 /var/log/musketeerd.log)"
  fi
else
  bad "musketeerd did not stop on SIGTERM within 10 s"
fi

# ---------------------------------------------------------------- 4. completion, purge
check "bash completion loads and completes musketeer" in_box bash -c \
  'source /usr/share/bash-completion/completions/musketeer && complete -p musketeer'
check "pingload runs" in_box pingload --version
stop_daemon >/dev/null 2>&1
if timeout 120 docker exec "$name" apt-get purge -y -qq musketeerd musketeer pingload >"$tmp/purge.log" 2>&1 &&
   in_box sh -c '! test -e /etc/musketeer/musketeerd.conf && ! test -e /usr/sbin/musketeerd && test -f /var/lib/musketeer/admin.token'; then
  ok "purge removed the programs and the config, kept /var/lib/musketeer (CA, tokens)"
else
  bad "purge: $(tail -3 "$tmp/purge.log")"
fi
