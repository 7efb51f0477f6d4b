# SSH test hosts, sourced by tests/e2e/ssh_test.sh and bench/ssh. Each host is what a fresh
# server looks like to the ssh driver: its own network namespace on its own bridge
# (mkssh$I, 10.213.16$I.0/24, the host at .2), its own mount namespace with a private
# /etc (a copy of this machine's, with its own SSH host keys, sshd_config and hostname),
# /var/lib/docker, /var/log and /run, its own hostname, and only sshd running in it.
# Docker's package is on disk (this machine's), but nothing configures or runs it there.
#
# Needs: SSH_HOSTS_DIR (a directory of the caller's) and SSH_TEST_KEY (a private key whose
# public half becomes root's authorized key on every host).
#   ssh_host_up I [NAME]   makes host I (0..9), hostname NAME (default hI)
#   in_host I CMD...       runs CMD inside host I (its mount, network and UTS namespaces)
#   ssh_host_down I        kills everything of host I and removes it
#   ssh_hosts_down         every host made by this shell

SSH_HOSTS_MADE=""

ssh_host_ip() { echo "10.213.16$1.${2:-2}"; }

ssh_host_up() {
  local i=$1 name=${2:-h$1} d="$SSH_HOSTS_DIR/h$1" ns="mkssh-h$1" br="mkssh$1"
  mkdir -p "$d/varlibdocker" "$d/varlog"
  # The network: a bridge, a veth into the namespace, forwarding between the test bridges.
  ip link add "$br" type bridge && ip addr add "10.213.16$i.1/24" dev "$br" && ip link set "$br" up || return 1
  ip netns add "$ns" || return 1
  ip link add "mksshv$i" type veth peer name "mksshp$i" || return 1
  ip link set "mksshv$i" master "$br" up
  ip link set "mksshp$i" netns "$ns"
  ip -n "$ns" link set "mksshp$i" name eth0
  ip -n "$ns" addr add "$(ssh_host_ip "$i")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "10.213.16$i.1"
  iptables -C FORWARD -i "$br" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$br" -j ACCEPT
  iptables -C FORWARD -o "$br" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$br" -j ACCEPT
  # The private /etc: this machine's, with the host's own identity.
  cp -a /etc "$d/etc"
  rm -f "$d"/etc/ssh/ssh_host_*
  ssh-keygen -q -A -f "$d"
  echo "$name" >"$d/etc/hostname"
  echo "$(ssh_host_ip "$i") $name" >>"$d/etc/hosts"
  mkdir -p "$d/etc/ssh/authorized_keys" "$d/etc/docker"
  cp "$SSH_TEST_KEY.pub" "$d/etc/ssh/authorized_keys/root"
  chmod 0755 "$d/etc/ssh/authorized_keys"
  chmod 0644 "$d/etc/ssh/authorized_keys/root"
  cat >"$d/etc/ssh/sshd_config" <<EOF
# sshd of test host $name (tests/e2e/ssh_hosts.sh)
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
UsePAM no
PidFile /run/sshd.pid
MaxStartups 50
EOF
  # Containers of this host's dockerd get cgroups of their own (no collision with this
  # machine's dockerd or other hosts'). This is the host's own setting; musketeer leaves
  # daemon.json alone.
  echo "{\"cgroup-parent\": \"/mkssh-h$i\"}" >"$d/etc/docker/daemon.json"
  # Into the namespaces: nsenter joins the network namespace, unshare makes the mount and
  # UTS namespaces (private propagation: nothing mounted there is seen outside).
  nsenter --net="/var/run/netns/$ns" unshare --mount --uts --propagation private sh -c '
    d=$1 name=$2
    mount --bind "$d/etc" /etc && mount --bind "$d/varlibdocker" /var/lib/docker &&
      mount --bind "$d/varlog" /var/log && mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
    mkdir -p /run/sshd /run/lock
    hostname "$name"
    exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config' sh "$d" "$name" >"$d/sshd.log" 2>&1 &
  echo $! >"$d/sshd.pid"
  disown $!  # its end at ssh_host_down is expected: no "Killed" notice
  SSH_HOSTS_MADE="$SSH_HOSTS_MADE $i"
  local n
  for n in $(seq 100); do
    timeout 1 bash -c "</dev/tcp/$(ssh_host_ip "$i")/22" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "ssh_host_up: sshd of host $i did not start: $(cat "$d/sshd.log")" >&2
  return 1
}

in_host() {
  local i=$1; shift
  nsenter -t "$(cat "$SSH_HOSTS_DIR/h$i/sshd.pid")" -m -n -u "$@"
}

ssh_host_down() {
  local i=$1 d="$SSH_HOSTS_DIR/h$1" ns="mkssh-h$1" br="mkssh$1" pid mnt p
  if [ -f "$d/sshd.pid" ]; then
    pid=$(cat "$d/sshd.pid")
    mnt=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)
    # Everything that lives in the host's mount namespace (sshd, sessions, dockerd,
    # containerd, shims), then what runs in its containers' cgroups.
    if [ -n "$mnt" ]; then
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && kill -9 "${p#/proc/}" 2>/dev/null
      done
    fi
  fi
  for p in /sys/fs/cgroup/*/mkssh-h$i; do
    [ -d "$p" ] || continue
    find "$p" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
  sleep 0.2
  for p in /sys/fs/cgroup/*/mkssh-h$i; do
    [ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  ip netns del "$ns" 2>/dev/null
  ip link del "mksshv$i" 2>/dev/null
  ip link del "$br" 2>/dev/null
  iptables -D FORWARD -i "$br" -j ACCEPT 2>/dev/null
  iptables -D FORWARD -o "$br" -j ACCEPT 2>/dev/null
  rm -rf "$d"
}

ssh_hosts_down() {
  local i
  for i in $SSH_HOSTS_MADE; do ssh_host_down "$i"; done
  SSH_HOSTS_MADE=""
}
