#include "controlplane/nodes/local_driver.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace musketeer::nodes {
namespace bp = boost::process;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A node's dockerd outlives musketeerd, and so do its containerd and shims: they must hold
// none of musketeerd's descriptors. A listening socket of musketeerd's (the HTTP gateway's)
// held by them kept a restarted musketeerd from listening again.
struct CloseInheritedFds : bp::extend::handler {
  template <class Executor>
  void on_exec_setup(Executor&) const {
    if (close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 65536; ++fd) close(fd);  // a kernel without close_range
  }
};

// Boost.Process pipes are inherited across fork: a dockerd forked while another thread
// reads a tool's pipe would hold it open forever. Every spawn and pipe read holds this.
std::mutex& SpawnMutex() {
  static std::mutex mu;
  return mu;
}

// Runs a system tool (ip, iptables) and returns its stdout; its stderr becomes the error.
absl::StatusOr<std::string> Run(const std::vector<std::string>& argv) {
  std::lock_guard lock(SpawnMutex());
  try {
    bp::ipstream out, err;
    bp::child c(bp::search_path(argv[0]), std::vector<std::string>(argv.begin() + 1, argv.end()),
                bp::std_out > out, bp::std_err > err, bp::std_in < bp::null);
    std::string out_text{std::istreambuf_iterator<char>(out), {}};
    std::string err_text{std::istreambuf_iterator<char>(err), {}};
    c.wait();
    if (c.exit_code() != 0) {
      return absl::InternalError(
          absl::StrCat("`", absl::StrJoin(argv, " "), "` failed: ", err_text));
    }
    return out_text;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot run ", argv[0], ": ", e.what()));
  }
}

std::string Now() { return absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()); }

std::string TailOf(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::string all{std::istreambuf_iterator<char>(in), {}};
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

// Every mount point at or below one of `roots`, deepest first.
std::vector<std::string> MountsUnder(const std::vector<std::string>& roots) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    for (const auto& root : roots) {
      if (f[4] == root || f[4].rfind(root + "/", 0) == 0) found.push_back(f[4]);
    }
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return found;
}

std::vector<int> PidsIn(const std::string& cgroup) {
  std::vector<int> pids;
  std::error_code ec;
  if (!fs::exists(cgroup, ec)) return pids;
  for (auto it = fs::recursive_directory_iterator(cgroup, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename() != "cgroup.procs") continue;
    std::ifstream in(it->path());
    for (int pid; in >> pid;) pids.push_back(pid);
  }
  return pids;
}

void RemoveCgroupTree(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.native().size() > b.native().size(); });
  for (const auto& d : dirs) rmdir(d.c_str());
  rmdir(dir.c_str());
}

bool ProcessAlive(int pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat{std::istreambuf_iterator<char>(in), {}};
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

}  // namespace

std::string LocalDriver::VethName(const std::string& node) const {
  // Unique per (bridge, node): two drivers on one machine (a test and the demo) must never
  // name, and so never delete, each other's links. 14 characters: within IFNAMSIZ with "p".
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : config_.bridge + "/" + node) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  char buf[16];
  snprintf(buf, sizeof buf, "mk%08x", h);
  return buf;
}

absl::StatusOr<Subnet> Subnet::Parse(const std::string& cidr) {
  std::vector<std::string> parts = absl::StrSplit(cidr, '/');
  in_addr addr{};
  Subnet s;
  if (parts.size() != 2 || inet_pton(AF_INET, parts[0].c_str(), &addr) != 1 ||
      !absl::SimpleAtoi(parts[1], &s.prefix) || s.prefix < 16 || s.prefix > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subnet '", cidr,
        "' is invalid: use an IPv4 CIDR with a prefix of 16 to 30, e.g. 10.213.0.0/24"));
  }
  const uint32_t mask = ~uint32_t{0} << (32 - s.prefix);
  s.network = ntohl(addr.s_addr) & mask;
  return s;
}

std::string Subnet::Address(uint32_t host) const {
  in_addr a{htonl(network + host)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

LocalDriver::LocalDriver(LocalDriverConfig config, Subnet subnet, pki::Authority& authority,
                         pki::Bundle client)
    : config_(std::move(config)),
      subnet_(subnet),
      authority_(authority),
      client_(std::move(client)) {}

LocalDriver::~LocalDriver() {
  // Nodes outlive the control plane: a restarted musketeerd re-adopts them.
  std::lock_guard lock(mu_);
  for (auto& [name, child] : children_) child->detach();
}

absl::StatusOr<std::unique_ptr<LocalDriver>> LocalDriver::Create(LocalDriverConfig config,
                                                                 pki::Authority& authority,
                                                                 pki::Bundle client) {
  auto subnet = Subnet::Parse(config.subnet);
  if (!subnet.ok()) return subnet.status();
  std::error_code ec;
  fs::create_directories(config.state_dir + "/nodes", ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", config.state_dir, "/nodes: ", ec.message()));
  fs::create_directories(config.run_dir, ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", config.run_dir, ": ", ec.message()));
  if (!fs::exists("/sys/fs/cgroup/pids")) {
    return absl::FailedPreconditionError(
        "it needs the cgroup v1 pids controller at /sys/fs/cgroup/pids (a cgroup v2 only "
        "host: boot with systemd.unified_cgroup_hierarchy=0, or use the ssh and remote "
        "drivers)");
  }
  return std::unique_ptr<LocalDriver>(
      new LocalDriver(std::move(config), *subnet, authority, std::move(client)));
}

absl::StatusOr<LocalDriver::Record> LocalDriver::ReadRecord(const std::string& name) const {
  auto text = pki::ReadFile(NodeDir(name) + "/node.json");
  if (!text.ok())
    return absl::NotFoundError(
        absl::StrCat("node '", name, "' does not exist; `node ls` lists the nodes"));
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object())
    return absl::DataLossError(absl::StrCat(NodeDir(name), "/node.json is corrupt; `node rm ", name,
                                            "` removes the node"));
  const auto& o = v.as_object();
  Record r;
  r.name = name;
  r.ip = json::value_to<std::string>(o.at("ip"));
  r.host = static_cast<uint32_t>(o.at("host").to_number<int64_t>());
  r.created_at = json::value_to<std::string>(o.at("created_at"));
  return r;
}

Node LocalDriver::ToNode(const Record& r) {
  Node n;
  n.name = r.name;
  n.driver = "local";
  n.ip = r.ip;
  n.endpoint.kind = engine::Endpoint::Kind::kTcp;
  n.endpoint.host = r.ip;
  n.endpoint.port = 2376;
  n.endpoint.tls = engine::TlsFiles{client_.ca(), client_.cert(), client_.key()};
  n.cert_path = client_.dir;
  n.created_at = r.created_at;
  n.pid = AlivePid(r.name);
  n.state = n.pid > 0 ? NodeState::kRunning : NodeState::kStopped;
  return n;
}

int LocalDriver::AlivePid(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (auto it = children_.find(name); it != children_.end()) {
      std::error_code ec;
      if (it->second->running(ec)) return it->second->id();
      children_.erase(it);  // reaped
      return 0;
    }
  }
  // A node adopted from an earlier control plane: trust its pidfile if that process lives.
  auto text = pki::ReadFile(RunDir(name) + "/dockerd.pid");
  int pid = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) && ProcessAlive(pid))
    return pid;
  return 0;
}

absl::Status LocalDriver::EnsureBridge() {
  std::lock_guard lock(bridge_mu_);
  const std::string gateway = subnet_.Address(1) + "/" + std::to_string(subnet_.prefix);
  if (!fs::exists("/sys/class/net/" + config_.bridge)) {
    if (auto r = Run({"ip", "link", "add", config_.bridge, "type", "bridge"});
        !r.ok() && !fs::exists("/sys/class/net/" + config_.bridge)) {
      return r.status();
    }
  }
  auto addrs = Run({"ip", "-o", "addr", "show", "dev", config_.bridge});
  if (!addrs.ok()) return addrs.status();
  if (addrs->find(" " + gateway + " ") == std::string::npos) {
    if (auto r = Run({"ip", "addr", "add", gateway, "dev", config_.bridge}); !r.ok())
      return r.status();
  }
  if (auto r = Run({"ip", "link", "set", config_.bridge, "up"}); !r.ok()) return r.status();
  // dockerd in the root namespace sets FORWARD to DROP; traffic between nodes crosses it.
  if (!Run({"iptables", "-C", "FORWARD", "-i", config_.bridge, "-o", config_.bridge, "-j",
            "ACCEPT"})
           .ok()) {
    if (auto r = Run({"iptables", "-I", "FORWARD", "-i", config_.bridge, "-o", config_.bridge, "-j",
                      "ACCEPT"});
        !r.ok())
      return r.status();
  }
  return absl::OkStatus();
}

void LocalDriver::RemoveBridgeIfUnused() {
  std::lock_guard bridge_lock(bridge_mu_);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.state_dir + "/nodes", ec)) {
    (void)entry;
    return;  // some node still uses it
  }
  {
    std::lock_guard lock(mu_);
    if (!creating_.empty()) return;
  }
  (void)Run(
      {"iptables", "-D", "FORWARD", "-i", config_.bridge, "-o", config_.bridge, "-j", "ACCEPT"});
  (void)Run({"ip", "link", "del", config_.bridge});
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    rmdir((controller.path() / "musketeer").c_str());  // fails harmlessly if in use
  }
}

absl::Status LocalDriver::IssueServerCert(const Record& r) {
  auto bundle = authority_.IssueServer(NodeDir(r.name) + "/certs", r.name, {r.ip, "127.0.0.1"},
                                       {r.name, "localhost"});
  return bundle.status();
}

absl::Status LocalDriver::Launch(const Record& r) {
  const std::string run = RunDir(r.name), dir = NodeDir(r.name), cgroup = CgroupDir(r.name);
  std::error_code ec;
  fs::create_directories(run, ec);
  fs::create_directories(cgroup, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("cannot create the cgroup ", cgroup, ": ", ec.message()));
  const std::string certs = dir + "/certs";
  // nsenter puts dockerd in the node's network namespace; unshare gives it a hostname of
  // its own (not `ip netns exec`: it remounts /sys and dockerd then finds no cgroups).
  // The shell joins the node's cgroup first, then becomes dockerd (same pid).
  std::vector<std::string> args = {
      "--net=/var/run/netns/" + NetnsName(r.name),
      "unshare",
      "--uts",
      "sh",
      "-c",
      "echo $$ > \"$0/cgroup.procs\" && hostname \"$1\" && shift && exec \"$@\"",
      cgroup,
      r.name,
      config_.dockerd,
      "--data-root=" + dir + "/docker",
      "--exec-root=" + run + "/exec",
      "--pidfile=" + run + "/dockerd.pid",
      "--host=unix://" + run + "/docker.sock",
      "--host=tcp://" + r.ip + ":2376",
      "--tlsverify",
      "--tlscacert=" + certs + "/ca.pem",
      "--tlscert=" + certs + "/cert.pem",
      "--tlskey=" + certs + "/key.pem",
      "--cgroup-parent=/musketeer/" + NetnsName(r.name),
      "--userland-proxy=false"};
  try {
    std::lock_guard spawn_lock(SpawnMutex());
    // Appended, so the log of an earlier run (why it died) survives a restart.
    std::unique_ptr<FILE, int (*)(FILE*)> log(fopen((dir + "/dockerd.log").c_str(), "ae"), fclose);
    if (!log) return absl::InternalError(absl::StrCat("cannot open ", dir, "/dockerd.log"));
    auto child =
        std::make_unique<bp::child>(bp::search_path("nsenter"), args, bp::std_out > log.get(),
                                    bp::std_err > log.get(), bp::std_in < bp::null,
                                    CloseInheritedFds());
    std::lock_guard lock(mu_);
    children_[r.name] = std::move(child);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot start dockerd for node '", r.name, "': ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status LocalDriver::WaitReady(const Record& r) {
  Node node = ToNode(r);
  engine::EngineClient client(node.endpoint, std::chrono::seconds(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(config_.ready_timeout.count());
  absl::Status last;
  while (absl::Now() < deadline) {
    last = client.Ping();
    if (last.ok()) return absl::OkStatus();
    if (AlivePid(r.name) == 0) {
      return absl::InternalError(absl::StrCat("dockerd of node '", r.name,
                                              "' exited while starting; its log ends with: ",
                                              TailOf(NodeDir(r.name) + "/dockerd.log", 3000)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("dockerd of node '", r.name, "' did not answer over TLS within ",
                   config_.ready_timeout.count(), " s (last: ", last.message(), "); see ",
                   NodeDir(r.name), "/dockerd.log"));
}

absl::Status LocalDriver::ReclaimLeftovers(const std::string& name) {
  const std::string ns = NetnsName(name);
  if (fs::exists(NodeDir(name)) || !fs::exists("/var/run/netns/" + ns)) return absl::OkStatus();
  // A namespace without a node record: a control plane with this bridge died mid-create or
  // its state directory was wiped. If nothing lives in it any more it is ours to reclaim;
  // if something does, it belongs to someone else and is left alone.
  auto pids = Run({"ip", "netns", "pids", ns});
  if (!pids.ok()) return pids.status();
  if (!absl::StripAsciiWhitespace(*pids).empty() || !PidsIn(CgroupDir(name)).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the network namespace ", ns, " exists with processes in it but node '", name,
                     "' is not in this control plane's state (another musketeerd using bridge ",
                     config_.bridge, "?); stop that one, or start this one with another --bridge"));
  }
  Destroy(Record{name, "", "", 0});
  return absl::OkStatus();
}

absl::StatusOr<Node> LocalDriver::Create(const std::string& name, const RemoteSpec* remote) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  if (remote != nullptr)
    return absl::InvalidArgumentError("the local driver takes no remote URL; use --driver remote");
  if (auto s = ReclaimLeftovers(name); !s.ok()) return s;
  Record r;
  r.name = name;
  r.created_at = Now();
  {
    std::lock_guard lock(mu_);
    if (creating_.count(name) || fs::exists(NodeDir(name))) {
      return absl::AlreadyExistsError(absl::StrCat(
          "node '", name, "' already exists; pick another name or `node rm ", name, "` first"));
    }
    // Lowest free address: taken ones are in node records or reserved by running creates.
    std::set<uint32_t> used = reserved_;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(config_.state_dir + "/nodes", ec)) {
      if (auto other = ReadRecord(entry.path().filename()); other.ok()) used.insert(other->host);
    }
    for (uint32_t h = 2; h + 1 < subnet_.size(); ++h) {
      if (!used.count(h)) {
        r.host = h;
        break;
      }
    }
    if (r.host == 0) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the node subnet ", config_.subnet,
          " has no free address; remove a node or start musketeerd with a larger --node-subnet"));
    }
    r.ip = subnet_.Address(r.host);
    creating_.insert(name);
    reserved_.insert(r.host);
  }
  auto finish = [&](absl::Status s) {
    if (!s.ok()) Destroy(r);
    {
      std::lock_guard lock(mu_);
      creating_.erase(name);
      reserved_.erase(r.host);
    }
    if (!s.ok()) RemoveBridgeIfUnused();
    return s;
  };
  const std::string ns = NetnsName(name);
  const std::string veth = VethName(name), peer = veth + "p";
  const std::string gateway = subnet_.Address(1);
  auto step = [&]() -> absl::Status {
    std::error_code ec;
    fs::create_directories(NodeDir(name), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("cannot create ", NodeDir(name), ": ", ec.message()));
    json::object record{{"name", name},
                        {"ip", r.ip},
                        {"host", r.host},
                        {"created_at", r.created_at},
                        {"driver", "local"}};
    if (auto s = pki::WriteFileAtomic(NodeDir(name) + "/node.json", json::serialize(record), 0644);
        !s.ok())
      return s;
    if (auto s = EnsureBridge(); !s.ok()) return s;
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", ns},
             {"ip", "link", "add", veth, "type", "veth", "peer", "name", peer},
             {"ip", "link", "set", peer, "netns", ns},
             {"ip", "link", "set", veth, "master", config_.bridge, "up"},
             {"ip", "-n", ns, "link", "set", peer, "name", "eth0"},
             {"ip", "-n", ns, "addr", "add", r.ip + "/" + std::to_string(subnet_.prefix), "dev",
              "eth0"},
             {"ip", "-n", ns, "link", "set", "eth0", "up"},
             {"ip", "-n", ns, "link", "set", "lo", "up"},
             {"ip", "-n", ns, "route", "add", "default", "via", gateway}}) {
      if (auto out = Run(cmd); !out.ok()) return out.status();
    }
    if (auto s = IssueServerCert(r); !s.ok()) return s;
    if (auto s = Launch(r); !s.ok()) return s;
    return WaitReady(r);
  };
  if (auto s = finish(step()); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("creating node '", name,
                                     "' failed and everything it made was removed: ", s.message()));
  }
  return ToNode(r);
}

absl::Status LocalDriver::Start(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  if (AlivePid(name) > 0) return absl::OkStatus();
  KillAll(name);  // leftovers of a killed node (containerd, shims, mounts) would block a start
  if (!fs::exists("/var/run/netns/" + NetnsName(name))) {
    return absl::DataLossError(absl::StrCat("the network namespace of node '", name,
                                            "' is gone (was the machine rebooted?); `node rm ",
                                            name, "` and create it again"));
  }
  if (auto s = EnsureBridge(); !s.ok()) return s;
  if (auto s = Launch(*r); !s.ok()) return s;
  return WaitReady(*r);
}

absl::Status LocalDriver::Stop(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  int pid = AlivePid(name);
  if (pid > 0) {
    kill(pid, SIGTERM);  // dockerd stops its containers (10 s each at most) and exits
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (AlivePid(name) > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  }
  KillAll(name);
  return absl::OkStatus();
}

absl::Status LocalDriver::Kill(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  KillAll(name);
  return absl::OkStatus();
}

void LocalDriver::KillAll(const std::string& name) {
  const std::string cgroup = CgroupDir(name);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    std::vector<int> pids = PidsIn(cgroup);
    if (pids.empty() || absl::Now() > deadline) break;
    for (int pid : pids) kill(pid, SIGKILL);
    absl::SleepFor(absl::Milliseconds(20));
    (void)AlivePid(name);  // reaps our own child
  }
  {
    std::lock_guard lock(mu_);
    if (auto it = children_.find(name); it != children_.end()) {
      std::error_code ec;
      // A start running at the same time may have launched a dockerd after the cgroup was
      // read: kill what is registered too, or this wait (under mu_, which every List and
      // Inspect takes) would last as long as that dockerd does.
      if (it->second->running(ec)) kill(it->second->id(), SIGKILL);
      it->second->wait(ec);
      children_.erase(it);
    }
  }
  for (const auto& mount : MountsUnder({NodeDir(name), RunDir(name)}))
    umount2(mount.c_str(), MNT_DETACH);
  // A killed containerd may linger as a zombie (this machine's PID 1 does not reap), and
  // dockerd would take its pidfile for a live containerd and wait on a dead socket.
  std::error_code ec;
  fs::remove(RunDir(name) + "/exec/containerd/containerd.pid", ec);
  fs::remove(RunDir(name) + "/dockerd.pid", ec);
  // Containers' cgroups in every controller (runc made them under --cgroup-parent).
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    const std::string dir = controller.path().string() + "/musketeer/" + NetnsName(name);
    if (controller.path().filename() != "pids") RemoveCgroupTree(dir);
  }
}

void LocalDriver::Destroy(const Record& r) {
  KillAll(r.name);
  RemoveCgroupTree(CgroupDir(r.name));
  (void)Run({"ip", "netns", "del", NetnsName(r.name)});
  (void)Run({"ip", "link", "del", VethName(r.name)});
  std::error_code ec;
  fs::remove_all(RunDir(r.name), ec);
  fs::remove_all(NodeDir(r.name), ec);
}

absl::Status LocalDriver::Remove(const std::string& name) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  auto r = ReadRecord(name);
  if (!r.ok()) {
    if (!fs::exists(NodeDir(name))) return r.status();
    r = Record{name, "", "", 0};  // corrupt record: remove what can be found by name
  }
  Destroy(*r);
  RemoveBridgeIfUnused();
  return absl::OkStatus();
}

absl::StatusOr<Node> LocalDriver::Inspect(const std::string& name) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  return ToNode(*r);
}

std::vector<Node> LocalDriver::List() {
  std::vector<Node> nodes;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.state_dir + "/nodes", ec)) {
    if (auto r = ReadRecord(entry.path().filename()); r.ok()) nodes.push_back(ToNode(*r));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  return nodes;
}

absl::Status LocalDriver::ProbeTcp(const std::string& from_node, const std::string& ip,
                                   uint16_t port) {
  if (auto s = ValidateNodeName(from_node); !s.ok()) return s;
  in_addr parsed{};
  if (inet_pton(AF_INET, ip.c_str(), &parsed) != 1)
    return absl::InvalidArgumentError("'" + ip + "' is not an IPv4 address");
  // A connect from inside the node's network namespace, bounded by timeout(1).
  auto r = Run({"nsenter", "--net=/var/run/netns/" + NetnsName(from_node), "timeout", "2", "bash",
                "-c", "exec 3<>\"/dev/tcp/$0/$1\"", ip, std::to_string(port)});
  if (!r.ok())
    return absl::UnavailableError(absl::StrCat(from_node, " cannot reach ", ip, ":", port));
  return absl::OkStatus();
}

absl::Status LocalDriver::RegenerateCerts(const std::string& name) {
  auto r = ReadRecord(name);
  if (!r.ok()) return r.status();
  if (auto s = IssueServerCert(*r); !s.ok()) return s;
  if (AlivePid(name) == 0) return absl::OkStatus();
  // dockerd reads its certificates at start only.
  if (auto s = Stop(name); !s.ok()) return s;
  return Start(name);
}

}  // namespace musketeer::nodes
