#include "controlplane/nodes/node_driver.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <regex>

#include "absl/strings/str_cat.h"

namespace musketeer::nodes {

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kRunning:
      return "running";
    case NodeState::kStopped:
      return "stopped";
    case NodeState::kUnreachable:
      return "unreachable";
  }
  return "unknown";
}

absl::Status ValidateNodeName(const std::string& name) {
  static const std::regex kName("[a-z]([a-z0-9-]{0,28}[a-z0-9])?");
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node name '", name,
                     "' is invalid: use 1-30 characters of a-z, 0-9 and '-', starting with a "
                     "letter and not ending with '-' (e.g. manager1)"));
  }
  return absl::OkStatus();
}

std::vector<Node> InspectEach(const std::string& dir,
                              const std::function<absl::StatusOr<Node>(const std::string&)>& load) {
  std::vector<std::future<absl::StatusOr<Node>>> pending;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    pending.push_back(std::async(std::launch::async,
                                 [&load, name = entry.path().filename().string()] {
                                   return load(name);
                                 }));
  }
  std::vector<Node> nodes;
  for (auto& f : pending) {
    if (auto n = f.get(); n.ok()) nodes.push_back(*n);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  return nodes;
}

}  // namespace musketeer::nodes
