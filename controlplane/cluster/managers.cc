// Cluster: the swarm's managers. Raft needs more than half of the managers to elect a
// leader; without one every swarm call on a manager hangs until the engine gives up (20 s
// per question, 40 s for GET /info). So the quorum is counted before asking: the managers
// last listed, each asked GET /_ping (which needs no leader). The manager count is changed
// one node at a time, each promotion waited for until raft lists it reachable, and a lost
// quorum is recovered as docker's docs say: force a new cluster on a survivor, then demote
// the managers lost.
#include <algorithm>
#include <functional>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {
namespace {

bool IsManager(const engine::Node& n) { return n.spec.role == "manager"; }

// A member of raft: what quorum counts. A node can be a manager in its spec and not one in
// raft (a promotion under way, or a manager of a raft that a recovery left behind).
bool InRaft(const engine::Node& n) { return n.manager_status.has_value(); }

bool Reachable(const engine::Node& n) {
  return n.manager_status && n.manager_status->reachability == "reachable";
}

// `step` until it succeeds or `deadline`: raft's answers time out while it takes a new
// member in.
absl::Status RetryUntil(absl::Time deadline, const std::function<absl::Status()>& step) {
  absl::Status s = step();
  while (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(500));
    s = step();
  }
  return s;
}

// A raft member's IP (its manager status says IP:2377).
std::string RaftIp(const engine::Node& n) {
  const std::string& addr = n.manager_status->addr;
  return addr.substr(0, addr.rfind(':'));
}

}  // namespace

std::string Cluster::NodeNameOf(const engine::Node& raft_member) {
  const auto all = AllNodes();
  const NodeHandle* h = NodeOfManager(all, RaftIp(raft_member), raft_member.description.hostname);
  return h != nullptr ? h->node.name : raft_member.description.hostname;
}

const Cluster::NodeHandle* Cluster::NodeOfManager(const std::vector<NodeHandle>& all,
                                                  const std::string& ip,
                                                  const std::string& hostname) {
  for (const auto& h : all)
    if (!ip.empty() && h.node.ip == ip) return &h;
  for (const auto& h : all)
    if (h.node.name == hostname) return &h;
  return nullptr;
}

void Cluster::NoteManagers(const std::vector<engine::Node>& swarm_nodes) {
  std::vector<KnownManager> managers;
  for (const auto& n : swarm_nodes) {
    if (InRaft(n)) managers.push_back({n.description.hostname, RaftIp(n)});
  }
  if (managers.empty()) return;  // a listing without a manager is no listing of a swarm
  std::sort(managers.begin(), managers.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::lock_guard lock(mu_);
  known_managers_ = std::move(managers);
}

void Cluster::ForgetManager(const nodes::Node& node) {
  std::lock_guard lock(mu_);
  std::erase_if(known_managers_, [&](const KnownManager& m) {
    return m.name == node.name || (!m.ip.empty() && m.ip == node.ip);
  });
}

absl::Status Cluster::CheckQuorum() {
  std::vector<KnownManager> managers;
  {
    std::lock_guard lock(mu_);
    managers = known_managers_;
  }
  if (managers.empty()) return absl::OkStatus();
  std::vector<NodeHandle> all = AllNodes();
  // Every manager's engine at once: a host that is gone costs one ping deadline, not one each.
  // A manager that is none of musketeer's nodes cannot be asked: it counts as answering.
  std::vector<std::pair<std::string, std::future<bool>>> pings;
  for (const auto& m : managers) {
    const NodeHandle* it = NodeOfManager(all, m.ip, m.name);
    if (it == nullptr) {
      std::promise<bool> unknown;
      unknown.set_value(true);
      pings.emplace_back(m.name, unknown.get_future());
    } else if (it->node.state == nodes::NodeState::kStopped) {
      std::promise<bool> down;
      down.set_value(false);
      pings.emplace_back(it->node.name, down.get_future());
    } else {
      pings.emplace_back(it->node.name, std::async(std::launch::async, [this, node = it->node] {
                           return Engine(node)->Ping().ok();
                         }));
    }
  }
  std::vector<std::string> up, down;
  for (auto& [name, answer] : pings) (answer.get() ? up : down).push_back(name);
  const size_t quorum = managers.size() / 2 + 1;
  // None answering may as well be a list from an earlier swarm: let the manager search say
  // what there is (it finds no manager quickly when no engine answers).
  if (up.size() >= quorum || up.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the swarm has lost its quorum: ", up.size(), " of its ", managers.size(),
      " managers answer (", absl::StrJoin(up, ", "), "; ", absl::StrJoin(down, ", "),
      down.size() == 1 ? " does" : " do", " not), and raft needs ", quorum,
      " to elect a leader: until then the swarm can be neither read nor changed. Start the "
      "lost ones again (`musketeer node start ",
      down.front(), "`), or, if they are gone for good, make ", up.front(),
      " the only manager with `musketeer swarm recover ", up.front(),
      "` and add managers again with `musketeer swarm update --managers 3`."));
}

void Cluster::DescribeManagers(const std::vector<engine::Node>& swarm_nodes, pb::Swarm& out) {
  uint32_t managers = 0, reachable = 0;
  for (const auto& n : swarm_nodes) {
    if (!InRaft(n)) continue;
    ++managers;
    if (Reachable(n)) ++reachable;
    if (n.manager_status->leader) out.set_leader(NodeNameOf(n));
  }
  out.set_managers_reachable(reachable);
  out.set_quorum(managers / 2 + 1);
  if (managers > 0 && managers % 2 == 0) {
    out.add_warnings(absl::StrCat(
        "an even number of managers (", managers, ") tolerates no more lost managers than ",
        managers - 1, " do: raft needs ", managers / 2 + 1,
        " of them; `musketeer swarm update --managers ", managers + 1, "` makes it odd"));
  }
  if (managers > 0 && reachable < managers / 2 + 1) {
    out.add_warnings(absl::StrCat("only ", reachable, " of ", managers,
                                  " managers are reachable: the swarm has no quorum"));
  }
}

absl::Status Cluster::WaitForRole(engine::DockerEngine& manager, const std::string& node_id,
                                  const std::string& role, absl::Time deadline) {
  std::string last = "not listed";
  // Raft's word first, then the node's own (where musketeer knows its engine): a promoted
  // node that raft lists reachable may still answer "Manager is being prepared"; a manager
  // lost right then would leave the swarm without the majority it seems to have.
  auto the_node_agrees = [&](const engine::Node& n) {
    auto h = FindNode(n.description.hostname);
    if (!h.ok() || h->node.state != nodes::NodeState::kRunning) return true;
    auto info = Engine(h->node)->Info();
    if (!info.ok()) return true;  // its engine's trouble is not this wait's to judge
    if (info->swarm.control_available == (role == "manager")) return true;
    last = absl::StrCat("raft lists it, and its engine says it is ",
                        info->swarm.control_available ? "still a manager" : "not a manager yet");
    return false;
  };
  while (absl::Now() < deadline) {
    auto list = manager.ListNodes();
    if (list.ok()) {
      for (const auto& n : *list) {
        if (n.id != node_id) continue;
        last = absl::StrCat("role ", n.spec.role, ", reachability ",
                            n.manager_status ? n.manager_status->reachability : "none");
        if (role == "manager" && IsManager(n) && Reachable(n) && the_node_agrees(n))
          return absl::OkStatus();
        if (role == "worker" && !IsManager(n) && !n.manager_status && the_node_agrees(n))
          return absl::OkStatus();
      }
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "raft has not listed the node as ", role == "manager" ? "a reachable manager" : "a worker",
      " in time (", last, "); `musketeer swarm inspect` shows the managers"));
}

absl::StatusOr<pb::Swarm> Cluster::UpdateSwarm(const pb::UpdateSwarmRequest& req,
                                               absl::Time deadline) {
  const uint32_t want = req.managers();
  if (want == 0) return GetSwarm(false);
  if (want > 7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "managers: ", want, " is more than 7; docker recommends at most 7 (each raft write "
        "waits for a majority of them)"));
  }
  auto m = Manager();
  if (!m.ok()) return m.status();
  // The manager asked; never one being demoted (it stops answering as a manager mid-wait).
  std::shared_ptr<engine::DockerEngine> manager = m->second;
  std::string manager_id;
  if (auto info = manager->Info(); info.ok()) manager_id = info->swarm.node_id;
  // One promotion or demotion, and the wait until raft has made it.
  auto change_role = [&](const engine::Node& node, const std::string& role) -> absl::Status {
    absl::Status s = RetryUntil(deadline, [&] {
      return UpdateNodeSpec(*manager, node.id, [&](engine::NodeSpec& spec) { spec.role = role; });
    });
    if (!s.ok()) return s;
    s = WaitForRole(*manager, node.id, role, deadline);
    if (s.ok()) return s;
    return absl::Status(s.code(), absl::StrCat(node.description.hostname,
                                               role == "manager" ? " was promoted, but "
                                                                 : " was demoted, but ",
                                               s.message()));
  };
  for (int step = 0; step < 16; ++step) {
    // While raft takes a new member in, the manager's answers can time out: ask again.
    auto list = manager->ListNodes();
    while (!list.ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(500));
      list = manager->ListNodes();
    }
    if (!list.ok()) return list.status();
    NoteManagers(*list);
    std::vector<const engine::Node*> managers, workers;
    for (const auto& n : *list) {
      // A down manager that raft no longer lists (left behind by a recovery) is no manager.
      if (IsManager(n) && !InRaft(n) && n.status.state == "down") continue;
      (IsManager(n) ? managers : workers).push_back(&n);
    }
    auto by_name = [](const engine::Node* a, const engine::Node* b) {
      return a->description.hostname < b->description.hostname;
    };
    if (managers.size() == want) break;
    if (managers.size() < want) {
      std::vector<const engine::Node*> ready;
      for (const auto* n : workers)
        if (n->status.state == "ready" && n->spec.availability == "active") ready.push_back(n);
      if (ready.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the swarm has ", managers.size(), " managers and no ready, active worker to "
            "promote to reach ", want, "; add nodes (`musketeer node create`, `musketeer "
            "swarm join`) first"));
      }
      std::sort(ready.begin(), ready.end(), by_name);
      if (auto s = change_role(*ready.front(), "manager"); !s.ok()) return s;
      continue;
    }
    // Demote: never the leader; lost ones first, the one asked last.
    std::vector<const engine::Node*> candidates;
    const engine::Node* leader = nullptr;
    for (const auto* n : managers) {
      if (n->manager_status && n->manager_status->leader)
        leader = n;
      else
        candidates.push_back(n);
    }
    std::sort(candidates.begin(), candidates.end(), [&](const auto* a, const auto* b) {
      if (Reachable(*a) != Reachable(*b)) return !Reachable(*a);
      if ((a->id == manager_id) != (b->id == manager_id)) return b->id == manager_id;
      return a->description.hostname > b->description.hostname;
    });
    if (candidates.empty()) return absl::InternalError("no manager but the leader to demote");
    if (candidates.front()->id == manager_id && leader != nullptr) {
      auto via = Manager(NodeNameOf(*leader));
      if (!via.ok()) return via.status();
      manager = via->second;
      manager_id = leader->id;
    }
    if (auto s = change_role(*candidates.front(), "worker"); !s.ok()) return s;
  }
  return GetSwarm(false);
}

absl::StatusOr<pb::Swarm> Cluster::RecoverSwarm(const std::string& name) {
  auto h = FindNode(name);
  if (!h.ok()) return h.status();
  if (h->node.state != nodes::NodeState::kRunning || !Engine(h->node)->Ping().ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node '", name, "' does not answer; recover on a manager whose engine runs"));
  }
  engine::SwarmInitRequest body;
  body.force_new_cluster = true;
  body.listen_addr = "0.0.0.0:2377";
  body.advertise_addr = h->node.ip;
  auto id = Engine(h->node)->SwarmInit(body);
  if (!id.ok()) {
    return absl::Status(id.status().code(),
                        absl::StrCat("force-new-cluster on ", name, ": ", id.status().message(),
                                     " (is it a manager of the swarm?)"));
  }
  {
    std::lock_guard lock(mu_);
    known_managers_ = {{name, h->node.ip}};
    last_manager_ = name;
  }
  auto m = Manager(name);
  for (int i = 0; i < 60 && !m.ok(); ++i) {  // the new cluster elects itself at once
    absl::SleepFor(absl::Milliseconds(500));
    m = Manager(name);
  }
  if (!m.ok()) return m.status();
  // The other managers are no longer raft members. Those that are down cannot even be
  // demoted ("can't find manager in raft memberlist"): they leave the swarm's list, and
  // must leave their old swarm and join again when they come back. Those that answer are
  // demoted, so that the count is true and a manager count can be set again.
  std::vector<std::string> demoted, removed;
  if (auto list = m->second->ListNodes(); list.ok()) {
    for (const auto& n : *list) {
      if (!IsManager(n) || n.id == *id) continue;
      if (UpdateNodeSpec(*m->second, n.id, [](engine::NodeSpec& s) { s.role = "worker"; })
              .ok()) {
        demoted.push_back(n.description.hostname);
      } else if (m->second->RemoveNode(n.id, true).ok()) {
        removed.push_back(n.description.hostname);
      }
    }
  }
  std::sort(demoted.begin(), demoted.end());
  std::sort(removed.begin(), removed.end());
  auto out = GetSwarm(false);
  if (!out.ok()) return out.status();
  if (!demoted.empty()) {
    out->add_warnings(absl::StrCat("demoted ", absl::StrJoin(demoted, ", "),
                                   ": `musketeer swarm update --managers 3` promotes nodes again"));
  }
  if (!removed.empty()) {
    out->add_warnings(absl::StrCat(
        "removed the lost managers ", absl::StrJoin(removed, ", "),
        " from the swarm: to use one again, `musketeer node start ", removed.front(),
        "`, `musketeer swarm leave ", removed.front(), " --force`, `musketeer swarm join ",
        removed.front(), "`"));
  }
  return out;
}

}  // namespace musketeer::cluster
