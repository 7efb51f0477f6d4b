// The remote driver: adopts an engine that already runs elsewhere, by URL (unix:// or
// tcp:// with CA, certificate and key). Nothing is installed on it; start, stop and kill
// are not ours to do. Credentials are copied into STATE/remote/NAME (keys 0600).
// Thread-safety: thread-safe.
#ifndef CONTROLPLANE_NODES_REMOTE_DRIVER_H_
#define CONTROLPLANE_NODES_REMOTE_DRIVER_H_

#include <mutex>

#include "controlplane/nodes/node_driver.h"

namespace musketeer::nodes {

class RemoteDriver : public NodeDriver {
 public:
  explicit RemoteDriver(std::string state_dir) : dir_(std::move(state_dir) + "/remote") {}
  const char* name() const override { return "remote"; }
  // Checks the engine before keeping anything: reachable, API version >= 1.41's floor
  // (1.24), its OS; the error says which check failed.
  absl::StatusOr<Node> Create(const std::string& name, const RemoteSpec* remote) override;
  absl::Status Start(const std::string& name) override;
  absl::Status Stop(const std::string& name) override;
  absl::Status Kill(const std::string& name) override;
  absl::Status Remove(const std::string& name) override;
  absl::StatusOr<Node> Inspect(const std::string& name) override;
  std::vector<Node> List() override;
  absl::Status RegenerateCerts(const std::string& name) override;

 private:
  absl::StatusOr<Node> Load(const std::string& name);
  std::string NodeDir(const std::string& name) const { return dir_ + "/" + name; }
  const std::string dir_;
  std::mutex mu_;
};

}  // namespace musketeer::nodes

#endif  // CONTROLPLANE_NODES_REMOTE_DRIVER_H_
