// The ssh driver: docker-machine's `generic` driver done transactionally. Given a bare
// Linux host it can log in to over SSH, it installs Docker with the host's package
// manager when it is missing, installs a server certificate from the control plane's CA
// under /etc/musketeer (key 0600), makes dockerd also listen on tcp 2376 with --tlsverify
// and waits until the engine answers over mutual TLS.
//
// SSH is the OpenSSH client run as a process: the ssh config, agent and ProxyJump of the
// user musketeerd runs as apply. Host keys: each node has its own known_hosts file
// (STATE/ssh/NAME/known_hosts) written from the key recorded in the state database; ssh
// runs with StrictHostKeyChecking=yes against it. Only the first contact with a target
// runs with accept-new (the key is then checked against a pin, or recorded: trust on
// first use), and only a read-only probe runs before that check.
//
// How dockerd gets its listener: with systemd, a drop-in
// (/etc/systemd/system/docker.service.d/musketeer.conf) that replaces ExecStart with the
// packaged command plus -H tcp://0.0.0.0:2376 and the TLS flags; without systemd, a
// musketeer-managed dockerd (/etc/musketeer/dockerd.sh, started detached, pid in
// /run/musketeer-dockerd.pid, log in /var/log/musketeer-dockerd.log). daemon.json is never
// written (it would collide with the systemd unit's -H fd://), so a daemon.json of the
// host's own keeps applying.
//
// Create is transactional: a failure at any step undoes what was done on the host (stops
// the engine it started, removes the listener, the certificates and, when this call
// installed it, the Docker package) and keeps no node record and no new host key.
// Thread-safety: thread-safe.
#ifndef CONTROLPLANE_NODES_SSH_DRIVER_H_
#define CONTROLPLANE_NODES_SSH_DRIVER_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <set>

#include "absl/base/thread_annotations.h"
#include "controlplane/nodes/node_driver.h"
#include "controlplane/nodes/ssh.h"
#include "controlplane/pki/pki.h"
#include "controlplane/state/state_store.h"

namespace musketeer::nodes {

struct SshDriverConfig {
  std::string state_dir = "/var/lib/musketeer";  // ssh/NAME/{node.json,known_hosts}
  std::string ssh = "ssh";                       // the OpenSSH client
  std::string ssh_config;                        // ssh -F; empty: the user's ~/.ssh/config
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds command_timeout{120};  // one remote step
  std::chrono::seconds install_timeout{900};  // the package install
  std::chrono::seconds ready_timeout{60};     // until the engine answers over TLS
};

// The result of one remote command.
struct RemoteResult {
  int exit_code = -1;
  std::string out, err;
};

class SshDriver : public NodeDriver {
 public:
  // `authority` signs the hosts' server certificates; `client` is the bundle the control
  // plane (and `node env`) uses; `store` keeps the trusted host keys.
  SshDriver(SshDriverConfig config, pki::Authority& authority, pki::Bundle client,
            state::StateStore& store);

  const char* name() const override { return "ssh"; }
  absl::StatusOr<Node> Create(const std::string& name, const RemoteSpec* remote) override;
  absl::StatusOr<Node> CreateWith(const std::string& name, const CreateOptions& options) override;
  absl::Status Start(const std::string& name) override;
  absl::Status Stop(const std::string& name) override;
  absl::Status Kill(const std::string& name) override;
  absl::Status Remove(const std::string& name) override;
  // Removes what musketeer configured on the host (listener, certificates, the engine it
  // started) and the node record; the swarm was left before (Cluster). Keeps Docker unless
  // purge_engine. When the host cannot be reached: FAILED_PRECONDITION, unless force.
  absl::Status RemoveWith(const std::string& name, const RemoveOptions& options) override;
  absl::StatusOr<Node> Inspect(const std::string& name) override;
  std::vector<Node> List() override;
  // Logs in again, reads the host's current addresses, issues a new certificate for
  // them, restarts dockerd and waits for TLS; the node's address follows (the address a
  // changed IP now has). On failure the previous certificates are put back.
  absl::Status RegenerateCerts(const std::string& name) override;

  std::string NodeDir(const std::string& name) const { return dir_ + "/" + name; }

 private:
  struct Record {
    std::string name, address, created_at;
    ssh::Target target;
    std::string host_key;  // label "ED25519 SHA256:..."
    std::string mode;      // "systemd" or "managed"
    bool sudo = false;     // root through `sudo -n`
  };
  struct Probe;

  absl::StatusOr<Record> ReadRecord(const std::string& name) const;
  absl::Status WriteRecord(const Record& r) const;
  Node ToNode(const Record& r, bool ping) const;

  // Runs `script` on the host with `sh -s` (as root: directly or through `sudo -n`).
  absl::StatusOr<RemoteResult> Run(const ssh::Target& t, const std::string& known_hosts,
                                   bool accept_new, bool as_root, const std::string& script,
                                   std::chrono::seconds timeout) const;
  // Run, with a failed connection (exit 255) or a failed script turned into an error that
  // says what failed on which host and what to do.
  absl::StatusOr<RemoteResult> RunStep(const ssh::Target& t, const std::string& known_hosts,
                                       bool as_root, const std::string& what,
                                       const std::string& script,
                                       std::chrono::seconds timeout) const;
  absl::StatusOr<Probe> ProbeHost(const ssh::Target& t, const std::string& known_hosts,
                                  bool accept_new) const;
  // Issues a server certificate for the probe's addresses and names and returns the
  // script that installs it into /etc/musketeer.new.
  absl::StatusOr<std::string> CertScript(const std::string& name, const Probe& p);
  absl::Status WaitReady(const Record& r, bool as_root);
  // Marks `name` busy (being created or changed) until the returned claim is dropped;
  // FAILED_PRECONDITION when it is busy already, ALREADY_EXISTS for a new name in use.
  absl::StatusOr<std::shared_ptr<void>> Claim(const std::string& name, bool create);

  const SshDriverConfig config_;
  const std::string dir_;
  pki::Authority& authority_;
  const pki::Bundle client_;
  state::StateStore& store_;
  std::mutex mu_;
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);  // nodes being created or changed
};

}  // namespace musketeer::nodes

#endif  // CONTROLPLANE_NODES_SSH_DRIVER_H_
