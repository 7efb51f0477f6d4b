#include "controlplane/nodes/ssh_driver.h"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/process.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "controlplane/engine/engine_client.h"

namespace musketeer::nodes {
namespace bp = boost::process;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// The paths musketeer owns on a host, and the functions every root script shares.
constexpr char kCommon[] = R"sh(
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
DIR=/etc/musketeer
PIDFILE=/run/musketeer-dockerd.pid
LOG=/var/log/musketeer-dockerd.log
DROPIN=/etc/systemd/system/docker.service.d/musketeer.conf
alive() { s=$(sed 's/^.*) //' /proc/$1/stat 2>/dev/null | cut -c1); [ -n "$s" ] && [ "$s" != Z ]; }
managed_pid() { [ -f $PIDFILE ] && p=$(cat $PIDFILE) && alive "$p" && echo "$p"; }
start_engine() {
  if [ -f $DROPIN ]; then systemctl start docker; return; fi
  [ -n "$(managed_pid)" ] && return 0
  setsid $DIR/dockerd.sh </dev/null >/dev/null 2>&1 &
  echo $! >$PIDFILE
}
stop_engine() {
  if [ -f $DROPIN ]; then
    if [ "$1" = KILL ]; then systemctl kill -s KILL docker; else systemctl stop docker; fi
    return 0
  fi
  p=$(managed_pid)
  if [ -n "$p" ]; then
    kill -s "$1" "$p"; i=0
    while alive "$p" && [ $i -lt 400 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$p" && kill -9 "$p"
  fi
  rm -f $PIDFILE
  return 0
}
)sh";

// Read-only: what the host is and has. Runs as the login user, before the host key of a
// first contact was checked, so it changes nothing.
constexpr char kProbe[] = R"sh(
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
echo "uid=$(id -u)"
echo "user=$(id -un)"
echo "kernel=$(uname -s)"
echo "arch=$(uname -m)"
echo "conn=$SSH_CONNECTION"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "addresses=$(ip -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | tr '\n' ' ')"
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then echo sudo=missing
  elif sudo -n true >/dev/null 2>&1; then echo sudo=yes
  else echo sudo=password; fi
fi
d=""
for c in /usr/bin/dockerd /usr/sbin/dockerd /usr/local/bin/dockerd; do [ -x $c ] && d=$c && break; done
echo "dockerd=$d"
[ -n "$d" ] && echo "docker_version=$($d --version 2>/dev/null)"
echo "systemd=$([ -d /run/systemd/system ] && echo yes || echo no)"
r=no
if [ -f /var/run/docker.pid ]; then
  p=$(cat /var/run/docker.pid 2>/dev/null)
  [ -n "$p" ] && [ -d /proc/$p ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = dockerd ] && r=yes
fi
echo "dockerd_running=$r"
echo "configured=$([ -e /etc/musketeer ] && echo yes || echo no)"
echo "data=$([ -n "$(ls -A /var/lib/docker 2>/dev/null)" ] && echo yes || echo no)"
echo "docker0=$(ip -o link show docker0 >/dev/null 2>&1 && echo yes || echo no)"
echo "---"
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
)sh";

// Whether the engine runs; if not, the end of its log.
constexpr char kStatus[] = R"sh(
if [ -f $DROPIN ]; then
  if systemctl is-active -q docker; then echo alive=yes
  else echo alive=no; echo ---; journalctl -u docker -n 30 --no-pager 2>&1 | tail -c 3000; fi
elif [ -n "$(managed_pid)" ]; then echo alive=yes
else echo alive=no; echo ---; tail -c 3000 $LOG 2>/dev/null; fi
)sh";

// Undoes what Configure did. Variables set before it: purge (apt, dnf or empty),
// clean_data, del_docker0, restart (systemd: start the packaged unit again).
constexpr char kUnconfigure[] = R"sh(
stop_engine TERM
if [ -f $DROPIN ]; then
  rm -f $DROPIN; rmdir /etc/systemd/system/docker.service.d 2>/dev/null
  systemctl daemon-reload
  if [ "$restart" = yes ]; then systemctl restart docker; else systemctl stop docker docker.socket 2>/dev/null; fi
fi
rm -rf $DIR $DIR.new $DIR.old $LOG
if [ "$clean_data" = yes ] && [ -d /var/lib/docker ]; then
  find /var/lib/docker -mindepth 1 -maxdepth 1 -exec rm -rf {} +
fi
if [ "$del_docker0" = yes ]; then ip link del docker0 2>/dev/null; ip link del docker_gwbridge 2>/dev/null; fi
case "$purge" in
  apt) DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq docker.io >/dev/null 2>&1 || echo purge_failed=yes ;;
  dnf) dnf remove -y moby-engine docker >/dev/null 2>&1 || echo purge_failed=yes ;;
esac
echo undone=yes
)sh";

std::string Now() { return absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()); }

std::string Tail(const std::string& s, size_t n) {
  std::string t(absl::StripAsciiWhitespace(s));
  return t.size() <= n ? t : "..." + t.substr(t.size() - n);
}

// The free text after a report's "---" line.
std::string AfterReport(const std::string& text) {
  auto at = text.find("\n---\n");
  if (absl::StartsWith(text, "---\n")) return text.substr(4);
  return at == std::string::npos ? "" : text.substr(at + 5);
}

std::string Heredoc(const std::string& path, const std::string& contents, const char* mode) {
  return absl::StrCat("cat >", path, " <<'MUSKETEER_EOF'\n", contents,
                      absl::EndsWith(contents, "\n") ? "" : "\n", "MUSKETEER_EOF\nchmod ", mode,
                      " ", path, "\n");
}

}  // namespace

struct SshDriver::Probe {
  std::map<std::string, std::string> report;
  ssh::Os os;
  std::string address;  // where the control plane reached the host
  std::vector<std::string> addresses, names;
  bool sudo = false;
  std::string Get(const std::string& k) const {
    auto it = report.find(k);
    return it == report.end() ? "" : it->second;
  }
};

SshDriver::SshDriver(SshDriverConfig config, pki::Authority& authority, pki::Bundle client,
                     state::StateStore& store)
    : config_(std::move(config)),
      dir_(config_.state_dir + "/ssh"),
      authority_(authority),
      client_(std::move(client)),
      store_(store) {}

absl::StatusOr<RemoteResult> SshDriver::Run(const ssh::Target& t, const std::string& known_hosts,
                                            bool accept_new, bool as_root,
                                            const std::string& script,
                                            std::chrono::seconds timeout) const {
  ssh::CommandOptions o;
  o.ssh = config_.ssh;
  o.config_file = config_.ssh_config;
  o.known_hosts = known_hosts;
  o.accept_new = accept_new;
  o.connect_timeout_seconds = static_cast<int>(config_.connect_timeout.count());
  std::vector<std::string> argv = ssh::SshArgv(t, o, as_root ? "sudo -n sh -s" : "sh -s");
  // The script goes in on stdin and the answers come back in files: no pipe for another
  // thread's child to inherit and hold open, and no deadlock on a chatty stderr.
  char tmpl[] = "/tmp/musketeer-ssh.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot make a temporary directory: ", strerror(errno)));
  }
  const std::string tmp = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{tmp};
  {
    std::ofstream in(tmp + "/in");
    in << script;
  }
  RemoteResult result;
  try {
    const std::string program = config_.ssh.find('/') == std::string::npos
                                    ? bp::search_path(config_.ssh).string()
                                    : config_.ssh;
    if (program.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the OpenSSH client '", config_.ssh,
                       "' is not installed on the control plane's machine (apt-get install "
                       "openssh-client)"));
    }
    bp::child c(program, std::vector<std::string>(argv.begin() + 1, argv.end()),
                bp::std_in<tmp + "/in", bp::std_out> tmp + "/out", bp::std_err > tmp + "/err");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::error_code ec;
    while (c.running(ec)) {
      if (std::chrono::steady_clock::now() > deadline) {
        c.terminate(ec);
        return absl::DeadlineExceededError(
            absl::StrCat("ssh to ", t.Display(), " did not finish within ", timeout.count(),
                         " s; is the host overloaded or the network slow?"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    c.wait(ec);
    result.exit_code = c.exit_code();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot run ssh: ", e.what()));
  }
  result.out = pki::ReadFile(tmp + "/out").value_or("");
  result.err = pki::ReadFile(tmp + "/err").value_or("");
  return result;
}

absl::StatusOr<RemoteResult> SshDriver::RunStep(const ssh::Target& t,
                                                const std::string& known_hosts, bool as_root,
                                                const std::string& what, const std::string& script,
                                                std::chrono::seconds timeout) const {
  auto r = Run(t, known_hosts, false, as_root, script, timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 255) {
    std::string err = Tail(r->err, 600);
    if (absl::StrContains(err, "IDENTIFICATION HAS CHANGED") ||
        absl::StrContains(err, "Host key verification failed")) {
      static const std::regex kOffered("SHA256:[A-Za-z0-9+/]{43}");
      std::smatch m;
      std::string offered = std::regex_search(err, m, kOffered) ? m.str() : "a different key";
      auto known = store_.GetSshHostKey(t.KeyId());
      return absl::PermissionDeniedError(absl::StrCat(
          "the host key of ", t.Display(), " changed: it now presents ", offered,
          ", but the key trusted for it is ",
          known ? absl::StrCat(known->fingerprint, " (", known->how, " ", known->recorded_at, ")")
                : "another one",
          "; refusing to connect (it may be another machine). If the host was reinstalled, "
          "check its key on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and "
          "pass it with --ssh-host-key"));
    }
    if (absl::StrContains(err, "Permission denied")) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot log in to ", t.Display(), " (", err, "); check --ssh-user and --ssh-key ",
          t.key.empty() ? "(none given: ssh used the agent and its default keys)"
                        : absl::StrCat("(", t.key, ")"),
          ": the key's public half must be in the user's authorized_keys on the host"));
    }
    // Not UNAVAILABLE: to a gRPC client that means musketeerd itself cannot be reached.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot reach ", t.Display(), " over ssh: ", err.empty() ? "no answer" : err,
                     "; check the address, that sshd runs there and that the port is open"));
  }
  if (r->exit_code != 0) {
    std::string err = Tail(r->err.empty() ? r->out : r->err, 1500);
    return absl::InternalError(
        absl::StrCat(what, " failed on ", t.Display(), " (exit ", r->exit_code, "): ", err));
  }
  return r;
}

absl::StatusOr<SshDriver::Probe> SshDriver::ProbeHost(const ssh::Target& t,
                                                      const std::string& known_hosts,
                                                      bool accept_new) const {
  absl::StatusOr<RemoteResult> r;
  if (accept_new) {
    r = Run(t, known_hosts, true, false, kProbe, config_.command_timeout);
    // A connection failure is reported as RunStep would (same text, same codes).
    if (r.ok() && r->exit_code == 255) {
      r = RunStep(t, known_hosts, false, "looking at the host", kProbe, config_.command_timeout);
    }
  } else {
    r = RunStep(t, known_hosts, false, "looking at the host", kProbe, config_.command_timeout);
  }
  if (!r.ok()) return r.status();
  Probe p;
  p.report = ssh::ParseReport(r->out.substr(0, r->out.find("\n---\n")));
  if (p.Get("kernel") != "Linux") {
    return absl::FailedPreconditionError(absl::StrCat(t.Display(), " runs '", p.Get("kernel"),
                                                      "', not Linux; Docker Engine needs Linux"));
  }
  auto os = ssh::ClassifyOs(ssh::ParseOsRelease(AfterReport(r->out)));
  if (!os.ok()) {
    return absl::Status(os.status().code(), absl::StrCat(t.Display(), ": ", os.status().message()));
  }
  p.os = *os;
  auto address = ssh::ServerAddress(p.Get("conn"));
  if (!address.ok()) return address.status();
  p.address = *address;
  p.addresses = absl::StrSplit(p.Get("addresses"), ' ', absl::SkipEmpty());
  p.names = {p.Get("hostname"), "localhost"};
  if (std::find(p.names.begin(), p.names.end(), t.host) == p.names.end()) p.names.push_back(t.host);
  if (p.Get("uid") != "0") {
    const std::string sudo = p.Get("sudo");
    if (sudo != "yes") {
      return absl::PermissionDeniedError(absl::StrCat(
          "user '", p.Get("user"), "' on ", t.Display(), " is not root and ",
          sudo == "missing" ? "sudo is not installed" : "cannot use sudo without a password",
          "; musketeer needs root there: log in as root (--ssh-user root), or allow the user "
          "passwordless sudo (e.g. '",
          p.Get("user"), " ALL=(ALL) NOPASSWD:ALL' in /etc/sudoers.d/musketeer)"));
    }
    p.sudo = true;
  }
  return p;
}

absl::StatusOr<std::string> SshDriver::CertScript(const std::string& name, const Probe& p0) {
  Probe p = p0;
  p.names.push_back(name);
  std::vector<std::string> ips = {p.address};
  for (const auto& a : p.addresses) {
    if (std::find(ips.begin(), ips.end(), a) == ips.end()) ips.push_back(a);
  }
  ips.push_back("127.0.0.1");
  std::vector<std::string> names;
  for (const auto& n : p.names) {
    // Only names; an address given as --ssh-host is already an IP SAN.
    if (!n.empty() && std::find(ips.begin(), ips.end(), n) == ips.end() &&
        std::find(names.begin(), names.end(), n) == names.end())
      names.push_back(n);
  }
  // The server key goes to the host only: issued into a private temporary directory and
  // deleted here once it is in the script.
  char tmpl[] = "/tmp/musketeer-cert.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("cannot make a temporary directory");
  const std::string tmp = tmpl;
  absl::StatusOr<pki::Bundle> bundle;
  {
    static std::mutex issue_mu;  // the Authority is not thread-safe
    std::lock_guard lock(issue_mu);
    bundle = authority_.IssueServer(tmp, name, ips, names);
  }
  std::string script;
  if (bundle.ok()) {
    auto ca = pki::ReadFile(bundle->ca()), cert = pki::ReadFile(bundle->cert()),
         key = pki::ReadFile(bundle->key());
    if (ca.ok() && cert.ok() && key.ok()) {
      script = absl::StrCat("umask 077\nrm -rf $DIR.new\nmkdir -p $DIR.new\nchmod 0755 $DIR.new\n",
                            Heredoc("$DIR.new/ca.pem", *ca, "0644"),
                            Heredoc("$DIR.new/cert.pem", *cert, "0644"),
                            Heredoc("$DIR.new/key.pem", *key, "0600"));
    }
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!bundle.ok()) return bundle.status();
  if (script.empty()) return absl::InternalError("cannot read the certificate just issued");
  return script;
}

absl::Status SshDriver::WaitReady(const Record& r, bool as_root) {
  Node node = ToNode(r, false);
  engine::EngineClient client(node.endpoint, std::chrono::seconds(2));
  const std::string known_hosts = NodeDir(r.name) + "/known_hosts";
  const absl::Time deadline = absl::Now() + absl::Seconds(config_.ready_timeout.count());
  absl::Time next_status = absl::Now() + absl::Seconds(1);
  absl::Status last;
  while (absl::Now() < deadline) {
    last = client.Ping();
    if (last.ok()) return absl::OkStatus();
    if (absl::Now() >= next_status) {
      // A dockerd that exited will not answer: say why at once instead of at the deadline.
      auto st = RunStep(r.target, known_hosts, as_root, "checking dockerd",
                        absl::StrCat(kCommon, kStatus), config_.command_timeout);
      if (st.ok() && ssh::ParseReport(st->out)["alive"] == "no") {
        return absl::FailedPreconditionError(absl::StrCat(
            "dockerd on ", r.target.Display(),
            " exited while starting; its log ends with: ", Tail(AfterReport(st->out), 1500)));
      }
      next_status = absl::Now() + absl::Seconds(2);
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("dockerd on ", r.target.Display(), " runs but did not answer over TLS at ",
                   node.endpoint.ToString(), " within ", config_.ready_timeout.count(),
                   " s (last: ", last.message(), "); is port 2376 open in the host's firewall?"));
}

absl::StatusOr<Node> SshDriver::Create(const std::string& name, const RemoteSpec*) {
  return absl::InvalidArgumentError(absl::StrCat("the ssh driver needs --ssh-host HOST (node '",
                                                 name, "'): the machine to log in to"));
}

absl::StatusOr<Node> SshDriver::CreateWith(const std::string& name, const CreateOptions& options) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  const SshSpec& spec = options.ssh;
  ssh::Target t{spec.host, spec.port, spec.user, spec.key};
  if (auto s = ssh::ValidateTarget(t); !s.ok()) return s;
  std::string pin;
  if (!spec.host_key.empty()) {
    auto p = ssh::ParseFingerprint(spec.host_key);
    if (!p.ok()) return p.status();
    pin = *p;
  }
  if (!t.key.empty() && access(t.key.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ssh_key: cannot read ", t.key, " on the control plane's machine: ", strerror(errno)));
  }
  auto progress = [&](const std::string& step, const std::string& message) {
    if (options.progress) options.progress(step, message);
  };
  auto claim = Claim(name, /*create=*/true);
  if (!claim.ok()) return claim.status();

  const std::string dir = NodeDir(name), known_hosts = dir + "/known_hosts";
  std::error_code ec;
  fs::create_directories(dir, ec);
  chmod(dir.c_str(), 0700);
  Record rec{name, "", Now(), t, "", ""};
  bool host_touched = false, installed = false;
  Probe probe;
  std::optional<state::SshHostKey> new_key;

  auto step = [&]() -> absl::Status {
    // 1. Connect, with the host key checked against the pin or the record, or captured.
    progress("connect", absl::StrCat("connecting to ", t.Display()));
    auto known = store_.GetSshHostKey(t.KeyId());
    if (known && (pin.empty() || pin == known->fingerprint)) {
      ssh::HostKey k{known->key_type, known->key_base64};
      if (auto s = pki::WriteFileAtomic(known_hosts, ssh::KnownHostsLine(t.Alias(), k), 0600);
          !s.ok())
        return s;
      auto p = ProbeHost(t, known_hosts, false);
      if (!p.ok()) return p.status();
      probe = *p;
      rec.host_key = k.Label();
      progress("connect", absl::StrCat("host key ", k.Label(), " matches the key ", known->how,
                                       " on ", known->recorded_at));
    } else {
      // First contact (or a pin that replaces the recorded key): ssh accepts the key the
      // host offers into an empty known_hosts; only the read-only probe runs before the
      // key is checked here.
      pki::WriteFileAtomic(known_hosts, "", 0600).IgnoreError();
      auto p = ProbeHost(t, known_hosts, true);
      if (!p.ok()) return p.status();
      auto text = pki::ReadFile(known_hosts);
      auto key = text.ok() ? ssh::FirstHostKey(*text) : text.status();
      if (!key.ok()) {
        return absl::InternalError(absl::StrCat("ssh did not record the host key of ", t.Display(),
                                                ": ", key.status().message()));
      }
      const std::string fp = key->Fingerprint();
      if (!pin.empty() && fp != pin) {
        return absl::PermissionDeniedError(absl::StrCat(
            "the host key of ", t.Display(), " is ", key->Label(), ", not the pinned ", pin,
            "; refusing it (nothing was changed on the host). Check the pin against "
            "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host"));
      }
      // Filed under the alias ssh uses, whatever name ssh wrote it under.
      if (auto s = pki::WriteFileAtomic(known_hosts, ssh::KnownHostsLine(t.Alias(), *key), 0600);
          !s.ok())
        return s;
      probe = *p;
      rec.host_key = key->Label();
      new_key = state::SshHostKey{
          t.KeyId(), key->type, key->base64, fp, pin.empty() ? "trusted on first use" : "pinned",
          Now()};
      progress("connect",
               pin.empty()
                   ? absl::StrCat("host key ", key->Label(),
                                  " trusted on first use (recorded; a different key later is "
                                  "refused)")
                   : absl::StrCat("host key ", key->Label(), " matches the pinned key"));
    }
    // 2. The system and our rights on it.
    rec.address = probe.address;
    progress("check", absl::StrCat(probe.os.pretty_name, ", ", probe.Get("arch"), ", ",
                                   probe.sudo ? absl::StrCat("user ", probe.Get("user"),
                                                             " with passwordless sudo")
                                              : "root",
                                   ", reached at ", probe.address));
    if (probe.Get("configured") == "yes") {
      return absl::FailedPreconditionError(
          absl::StrCat(t.Display(),
                       " already has /etc/musketeer: it is (or was) a node of a musketeer "
                       "control plane. Remove it from that one with `musketeer node rm`, or, if "
                       "that control plane is gone, delete /etc/musketeer and "
                       "/etc/systemd/system/docker.service.d/musketeer.conf on the host"));
    }
    const bool systemd = probe.Get("systemd") == "yes";
    if (probe.Get("dockerd_running") == "yes" && !systemd) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a dockerd that systemd does not manage already runs on ", t.Display(),
          "; musketeer cannot restart it with a TLS listener without knowing how it was "
          "started. Stop it (the next create starts a musketeer-managed one) or add the "
          "engine with --driver remote"));
    }
    // 3. Docker Engine.
    if (probe.Get("dockerd").empty()) {
      progress("engine",
               absl::StrCat("Docker is not installed; installing ",
                            probe.os.packages == "docker.io" ? "docker.io" : "moby-engine",
                            " with ", probe.os.package_manager));
      host_touched = true;
      installed = true;
      const std::string script =
          probe.os.package_manager == "apt"
              ? "set -e\nPATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH\nexport "
                "DEBIAN_FRONTEND=noninteractive\napt-get update -qq >/dev/null 2>&1 || true\n"
                "apt-get install -y -qq docker.io >/dev/null\n"
              : "set -e\nPATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n"
                "dnf install -y -q moby-engine >/dev/null || dnf install -y -q docker "
                ">/dev/null\n";
      auto r = RunStep(t, known_hosts, probe.sudo, "installing Docker",
                       absl::StrCat(script,
                                    "for c in /usr/bin/dockerd /usr/sbin/dockerd; do [ -x $c ] && "
                                    "echo \"docker_version=$($c --version)\" && break; done\n"),
                       config_.install_timeout);
      if (!r.ok()) return r.status();
      const std::string version = ssh::ParseReport(r->out)["docker_version"];
      if (version.empty()) {
        return absl::FailedPreconditionError(absl::StrCat("the package manager on ", t.Display(),
                                                          " finished but no dockerd is installed"));
      }
      progress("engine", absl::StrCat("installed: ", version));
    } else {
      progress("engine", absl::StrCat("already installed: ", probe.Get("docker_version"), " (",
                                      probe.Get("dockerd"), ")"));
    }
    // 4. The server certificate.
    auto certs = CertScript(name, probe);
    if (!certs.ok()) return certs.status();
    // 5. The listener, then (re)start dockerd.
    rec.mode = systemd ? "systemd" : "managed";
    const std::string dockerd =
        probe.Get("dockerd").empty() ? "$(command -v dockerd)" : probe.Get("dockerd");
    const std::string tls =
        "--tlsverify --tlscacert=/etc/musketeer/ca.pem --tlscert=/etc/musketeer/cert.pem "
        "--tlskey=/etc/musketeer/key.pem";
    std::string configure = absl::StrCat(kCommon, "set -e\n", *certs, "mv $DIR.new $DIR\n");
    if (systemd) {
      absl::StrAppend(&configure, "D=", dockerd,
                      "\nmkdir -p /etc/systemd/system/docker.service.d\n"
                      "cat >$DROPIN <<EOF\n"
                      "# Written by musketeer: the packaged dockerd plus a TLS listener.\n"
                      "[Service]\nExecStart=\nExecStart=$(command -v unshare) --uts /bin/sh -c "
                      "'hostname ",
                      name, " && exec $D -H fd:// -H tcp://0.0.0.0:2376 ", tls,
                      " --containerd=/run/containerd/containerd.sock'\nEOF\n"
                      "systemctl daemon-reload\nsystemctl enable docker >/dev/null 2>&1 || true\n"
                      "systemctl restart docker\n");
    } else {
      absl::StrAppend(&configure, "D=", dockerd,
                      "\ncat >$DIR/dockerd.sh <<EOF\n#!/bin/sh\n"
                      "# Written by musketeer: this host has no systemd, so musketeer starts\n"
                      "# dockerd itself (musketeer node start) with its TLS listener.\n"
                      "exec unshare --uts sh -c 'hostname ",
                      name,
                      " && exec \"\\$@\"' sh $D -H unix:///var/run/docker.sock -H "
                      "tcp://0.0.0.0:2376 ",
                      tls, " >>$LOG 2>&1\nEOF\nchmod 0755 $DIR/dockerd.sh\nstart_engine\n");
    }
    progress("certs", absl::StrCat("server certificate from musketeer's CA for ", probe.address,
                                   " (and the host's names and addresses) in "
                                   "/etc/musketeer, key 0600"));
    host_touched = true;
    auto r = RunStep(t, known_hosts, probe.sudo, "configuring dockerd", configure,
                     config_.command_timeout);
    if (!r.ok()) return r.status();
    progress("configure",
             systemd ? "dockerd restarted by systemd with -H tcp://0.0.0.0:2376 --tlsverify "
                       "(drop-in /etc/systemd/system/docker.service.d/musketeer.conf)"
                     : "no systemd: started a musketeer-managed dockerd with -H "
                       "tcp://0.0.0.0:2376 --tlsverify (/etc/musketeer/dockerd.sh)");
    // 6. The engine over mutual TLS.
    progress("wait",
             absl::StrCat("waiting for the engine at tcp://", probe.address, ":2376 (mutual TLS)"));
    if (auto s = WaitReady(rec, probe.sudo); !s.ok()) return s;
    // 7. The record.
    if (new_key) {
      if (auto s = store_.PutSshHostKey(*new_key); !s.ok()) return s;
    }
    rec.sudo = probe.sudo;
    return WriteRecord(rec);
  };
  absl::Status s = step();
  if (!s.ok()) {
    std::string undone = "nothing was changed on the host";
    if (host_touched) {
      std::string vars =
          absl::StrCat("purge=", installed ? probe.os.package_manager : "",
                       "\nclean_data=", probe.Get("data") == "no" ? "yes" : "no",
                       "\ndel_docker0=", probe.Get("docker0") == "no" ? "yes" : "no",
                       "\nrestart=", probe.Get("dockerd_running") == "yes" ? "yes" : "no", "\n");
      auto r = RunStep(t, known_hosts, probe.sudo, "undoing the changes",
                       absl::StrCat(kCommon, vars, kUnconfigure), config_.install_timeout);
      undone = r.ok() ? absl::StrCat("the host was put back as it was (listener, certificates",
                                     installed ? ", the Docker package installed by this call" : "",
                                     " removed)")
                      : absl::StrCat("undoing failed too (", r.status().message(),
                                     "); on the host remove /etc/musketeer, "
                                     "/run/musketeer-dockerd.pid's dockerd and the drop-in "
                                     "/etc/systemd/system/docker.service.d/musketeer.conf");
    }
    fs::remove_all(dir, ec);
    return absl::Status(s.code(), absl::StrCat("creating node '", name, "' failed: ", s.message(),
                                               " (", undone, "; no node was recorded)"));
  }
  progress("record", absl::StrCat("node '", name, "' recorded"));
  return ToNode(rec, true);
}

absl::Status SshDriver::WriteRecord(const Record& r) const {
  json::object o{{"name", r.name},
                 {"host", r.target.host},
                 {"port", r.target.port},
                 {"user", r.target.user},
                 {"key", r.target.key},
                 {"address", r.address},
                 {"created_at", r.created_at},
                 {"host_key", r.host_key},
                 {"mode", r.mode},
                 {"sudo", r.sudo}};
  return pki::WriteFileAtomic(NodeDir(r.name) + "/node.json", json::serialize(o), 0600);
}

absl::StatusOr<SshDriver::Record> SshDriver::ReadRecord(const std::string& name) const {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  auto text = pki::ReadFile(NodeDir(name) + "/node.json");
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("node '", name, "' does not exist; `node ls` lists the nodes"));
  }
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) {
    return absl::DataLossError(
        absl::StrCat(NodeDir(name), "/node.json is corrupt; `node rm -f ", name, "` forgets it"));
  }
  const auto& o = v.as_object();
  auto str = [&](const char* k) {
    const auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  Record r;
  r.name = name;
  r.target.host = str("host");
  r.target.user = str("user");
  r.target.key = str("key");
  if (const auto* p = o.if_contains("port"); p && p->is_number())
    r.target.port = static_cast<uint16_t>(p->to_number<int64_t>());
  r.address = str("address");
  r.created_at = str("created_at");
  r.host_key = str("host_key");
  r.mode = str("mode");
  if (const auto* s = o.if_contains("sudo"); s && s->is_bool()) r.sudo = s->as_bool();
  return r;
}

Node SshDriver::ToNode(const Record& r, bool ping) const {
  Node n;
  n.name = r.name;
  n.driver = "ssh";
  n.ip = r.address;
  n.endpoint.kind = engine::Endpoint::Kind::kTcp;
  n.endpoint.host = r.address;
  n.endpoint.port = 2376;
  n.endpoint.tls = engine::TlsFiles{client_.ca(), client_.cert(), client_.key()};
  n.cert_path = client_.dir;
  n.created_at = r.created_at;
  n.ssh_address = r.target.Display();
  n.ssh_host_key = r.host_key;
  n.state = NodeState::kRunning;
  if (ping) {
    engine::EngineClient client(n.endpoint, std::chrono::seconds(2));
    n.state = client.Ping().ok() ? NodeState::kRunning : NodeState::kUnreachable;
  }
  return n;
}

absl::StatusOr<Node> SshDriver::Inspect(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  return ToNode(*r, true);
}

std::vector<Node> SshDriver::List() {
  return InspectEach(dir_, [this](const std::string& name) { return Inspect(name); });
}

absl::Status SshDriver::Start(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  auto run = RunStep(r->target, NodeDir(name) + "/known_hosts", r->sudo, "starting dockerd",
                     absl::StrCat(kCommon, "start_engine\n"), config_.command_timeout);
  if (!run.ok()) return run.status();
  return WaitReady(*r, r->sudo);
}

absl::Status SshDriver::Stop(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  return RunStep(r->target, NodeDir(name) + "/known_hosts", r->sudo, "stopping dockerd",
                 absl::StrCat(kCommon, "stop_engine TERM\n"), config_.command_timeout)
      .status();
}

absl::Status SshDriver::Kill(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  return RunStep(r->target, NodeDir(name) + "/known_hosts", r->sudo, "killing dockerd",
                 absl::StrCat(kCommon, "stop_engine KILL\n"), config_.command_timeout)
      .status();
}

absl::Status SshDriver::Remove(const std::string& name) { return RemoveWith(name, {}); }

absl::Status SshDriver::RemoveWith(const std::string& name, const RemoveOptions& options) {
  auto r = ReadRecord(name);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kDataLoss && options.force) {
      std::error_code ec;
      fs::remove_all(NodeDir(name), ec);
      return absl::OkStatus();
    }
    return r.status();
  }
  auto claim = Claim(name, /*create=*/false);
  if (!claim.ok()) return claim.status();
  // The host's Docker data stays (it is Docker's, not musketeer's), and so does docker0.
  const std::string vars = absl::StrCat("purge=", options.purge_engine ? "$PM" : "",
                                        "\nclean_data=no\ndel_docker0=no\nrestart=no\n");
  const std::string pm = "PM=apt; command -v apt-get >/dev/null 2>&1 || PM=dnf\n";
  auto run = RunStep(r->target, NodeDir(name) + "/known_hosts", r->sudo,
                     "removing musketeer's configuration",
                     absl::StrCat(kCommon, pm, vars, kUnconfigure), config_.install_timeout);
  if (!run.ok() && !options.force) {
    return absl::Status(run.status().code(),
                        absl::StrCat("node '", name, "' was not removed: ", run.status().message(),
                                     ". Fix that and try again, or `node rm -f ", name,
                                     "` to forget the node and leave the host as it is "
                                     "(/etc/musketeer and the TLS listener stay there)"));
  }
  if (run.ok() && ssh::ParseReport(run->out)["purge_failed"] == "yes") {
    // The configuration is gone already; say what stays.
    std::error_code ec;
    fs::remove_all(NodeDir(name), ec);
    return absl::InternalError(
        absl::StrCat("node '", name, "' was removed, but removing the Docker package on ",
                     r->target.Display(), " failed; remove it there by hand"));
  }
  std::error_code ec;
  fs::remove_all(NodeDir(name), ec);
  return absl::OkStatus();
}

absl::Status SshDriver::RegenerateCerts(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  auto claim = Claim(name, /*create=*/false);
  if (!claim.ok()) return claim.status();
  const std::string known_hosts = NodeDir(name) + "/known_hosts";
  auto probe = ProbeHost(r->target, known_hosts, false);
  if (!probe.ok()) return probe.status();
  auto certs = CertScript(name, *probe);
  if (!certs.ok()) return certs.status();
  // The old certificates are kept in $DIR.old until the engine answered with the new ones.
  const std::string swap =
      absl::StrCat(kCommon, "set -e\n", *certs,
                   "for f in ca.pem cert.pem key.pem; do cp -p $DIR/$f $DIR.new/$f.old; done\n"
                   "for f in ca.pem cert.pem key.pem; do mv $DIR.new/$f $DIR/$f; done\n"
                   "mkdir -p $DIR.old && mv $DIR.new/*.old $DIR.old/ && rm -rf $DIR.new\n"
                   "stop_engine TERM\nstart_engine\n");
  auto run = RunStep(r->target, known_hosts, r->sudo, "installing the new certificates", swap,
                     config_.command_timeout);
  Record updated = *r;
  updated.address = probe->address;
  absl::Status s = run.status();
  if (s.ok()) s = WaitReady(updated, r->sudo);
  if (!s.ok()) {
    (void)RunStep(r->target, known_hosts, r->sudo, "restoring the previous certificates",
                  absl::StrCat(kCommon,
                               "[ -d $DIR.old ] || exit 0\n"
                               "for f in ca.pem cert.pem key.pem; do mv $DIR.old/$f.old $DIR/$f; "
                               "done\nrm -rf $DIR.old\nstop_engine TERM\nstart_engine\n"),
                  config_.command_timeout);
    return absl::Status(s.code(), absl::StrCat("regenerating the certificates of node '", name,
                                               "' failed: ", s.message(),
                                               " (the previous certificates were put back)"));
  }
  (void)RunStep(r->target, known_hosts, r->sudo, "removing the previous certificates",
                absl::StrCat(kCommon, "rm -rf $DIR.old\n"), config_.command_timeout);
  return WriteRecord(updated);
}

absl::StatusOr<std::shared_ptr<void>> SshDriver::Claim(const std::string& name, bool create) {
  std::lock_guard lock(mu_);
  if (create && (busy_.count(name) || fs::exists(NodeDir(name)))) {
    return absl::AlreadyExistsError(absl::StrCat(
        "node '", name, "' already exists; pick another name or `node rm ", name, "` first"));
  }
  if (busy_.count(name)) {
    return absl::FailedPreconditionError(
        absl::StrCat("node '", name, "' is being created or changed; try again when it is done"));
  }
  busy_.insert(name);
  return std::shared_ptr<void>(nullptr, [this, name](void*) {
    std::lock_guard lock(mu_);
    busy_.erase(name);
  });
}

}  // namespace musketeer::nodes
