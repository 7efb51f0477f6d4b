// A node driver for tests over the fake swarm: nodes exist (running) as soon as they are
// created, at 10.0.0.2, .3, ...; thread-safe (the live view lists nodes from its thread).
#ifndef TESTS_CONTROLPLANE_FAKE_NODE_DRIVER_H_
#define TESTS_CONTROLPLANE_FAKE_NODE_DRIVER_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controlplane/nodes/node_driver.h"

namespace musketeer::testing {

class InstantNodeDriver : public nodes::NodeDriver {
 public:
  const char* name() const override { return "local"; }
  absl::StatusOr<nodes::Node> Create(const std::string& name, const nodes::RemoteSpec*) override {
    if (auto s = nodes::ValidateNodeName(name); !s.ok()) return s;
    std::lock_guard lock(mu_);
    nodes::Node n;
    n.name = name;
    n.driver = "local";
    n.ip = absl::StrCat("10.0.0.", nodes_.size() + 2);
    n.endpoint = *engine::Endpoint::Parse("unix:///fake/" + name);
    n.state = nodes::NodeState::kRunning;
    nodes_[name] = n;
    return n;
  }
  absl::Status Start(const std::string&) override { return absl::OkStatus(); }
  absl::Status Stop(const std::string&) override { return absl::OkStatus(); }
  absl::Status Kill(const std::string&) override { return absl::OkStatus(); }
  absl::Status Remove(const std::string& n) override {
    std::lock_guard lock(mu_);
    nodes_.erase(n);
    return absl::OkStatus();
  }
  absl::StatusOr<nodes::Node> Inspect(const std::string& n) override {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(n);
    if (it == nodes_.end()) return absl::NotFoundError("node '" + n + "' does not exist");
    return it->second;
  }
  std::vector<nodes::Node> List() override {
    std::lock_guard lock(mu_);
    std::vector<nodes::Node> out;
    for (auto& [_, n] : nodes_) out.push_back(n);
    return out;
  }
  absl::Status RegenerateCerts(const std::string&) override { return absl::OkStatus(); }
  absl::Status ProbeTcp(const std::string&, const std::string&, uint16_t) override {
    return absl::OkStatus();
  }

 private:
  std::mutex mu_;
  std::map<std::string, nodes::Node> nodes_;
};

}  // namespace musketeer::testing

#endif  // TESTS_CONTROLPLANE_FAKE_NODE_DRIVER_H_
