// The control plane's own state in SQLite (WAL mode, synchronous=NORMAL): access tokens
// (hashed), operations (with request ids for idempotent retries), an audit log and the
// routing the control plane chose for each service, and the SSH host keys it trusts. Swarm objects
// themselves are not copied here: the swarm is their source of truth. Thread-safety: thread-safe
// (one connection behind a mutex; SQLite serializes writers).
#ifndef CONTROLPLANE_STATE_STATE_STORE_H_
#define CONTROLPLANE_STATE_STATE_STORE_H_

#include <sqlite3.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace musketeer::state {

enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };
const char* RoleName(Role r);
absl::StatusOr<Role> ParseRole(const std::string& s);

struct TokenRecord {
  std::string name;
  Role role = Role::kViewer;
  std::string created_at;
  std::string expires_at;    // RFC 3339; "" when it does not expire
  std::string last_used_at;  // RFC 3339; "" when never used
};

// One mutation, by its request id. state: "running", "done", "failed", or "interrupted"
// (musketeerd stopped while it ran). A failed one keeps its status, so that a retry with the
// same request id gets the same error.
struct Operation {
  int64_t id = 0;
  std::string request_id, kind, target, state, result;
  std::string fingerprint;  // of the request, to tell a retry from another request
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  std::string started_at, finished_at;

  absl::Status status() const { return absl::Status(code, message); }
};

// What a volume made with content holds on every node (kept to fill nodes that join later).
struct VolumeContent {
  std::string name;
  std::string tar;     // empty in lists
  std::string digest;  // "sha256:..." of the tar
  std::string updated_at;
};

struct AuditRecord {
  std::string at, who, method, target, result;
  int64_t id = 0;  // increasing: newer entries have larger ids
};

// Which audit entries to list: newest first, at most `limit`, older than `before_id` (when
// not 0), and equal to each filter that is not empty.
struct AuditQuery {
  int limit = 100;
  int64_t before_id = 0;
  std::string who, method, target;
};

// A published port as a routing record keeps it.
struct PublishedPort {
  uint32_t published = 0, target = 0;
  std::string protocol;  // tcp, udp
  friend bool operator==(const PublishedPort&, const PublishedPort&) = default;
};

// How a service's published ports are kept reachable on every node.
struct ServiceRouting {
  std::string service;
  std::string mode;          // "ingress" or "edge-proxy"
  std::string edge_service;  // edge-proxy: the name of its proxy container on every node
  std::string ports_json;    // the published ports: [[published, target, "protocol"], ...]

  // The ports of ports_json; entries that cannot be read are skipped.
  std::vector<PublishedPort> Ports() const;
  static std::string PortsJson(const std::vector<PublishedPort>& ports);
};

// The SSH host key trusted for one SSH target ("host:port" as given), like a line of
// known_hosts: kept after its node is removed, so that a host that comes back with another
// key is refused (a pinned key given at create replaces it).
struct SshHostKey {
  std::string target;
  std::string key_type;     // "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string key_base64;   // the public key blob as known_hosts has it
  std::string fingerprint;  // "SHA256:..."
  std::string how;          // "trusted on first use" or "pinned"
  std::string recorded_at;  // RFC 3339
};

class StateStore {
 public:
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Tokens: only a SHA-256 of the secret is stored. Returns the new secret. A token with
  // an `expires_at` other than InfiniteFuture() stops authenticating then.
  absl::StatusOr<std::string> CreateToken(const std::string& name, Role role,
                                          absl::Time expires_at = absl::InfiniteFuture());
  // UNAUTHENTICATED for an unknown secret and for an expired token (saying so). Notes the
  // use: ListTokens shows it at once; the database gets it at most once per
  // kLastUseWriteInterval per token, so that a storm of calls is not a storm of writes.
  absl::StatusOr<TokenRecord> Authenticate(const std::string& secret);
  static constexpr absl::Duration kLastUseWriteInterval = absl::Seconds(5);
  std::vector<TokenRecord> ListTokens();
  absl::Status DeleteToken(const std::string& name);

  // Operations: Begin fails with ALREADY_EXISTS when `request_id` was seen before (callers
  // look it up first, under a lock of their own, and replay or resume it).
  absl::StatusOr<int64_t> BeginOperation(const std::string& request_id, const std::string& kind,
                                         const std::string& target,
                                         const std::string& fingerprint = "");
  std::optional<Operation> FindOperation(const std::string& request_id);
  // Marks an operation running again (a retry resumes an interrupted one).
  void ResumeOperation(int64_t id);
  void FinishOperation(int64_t id, const absl::Status& result);
  // Operations a crash left "running": marked "interrupted" and returned for reconciliation.
  std::vector<Operation> InterruptedOperations();

  void Audit(const std::string& who, const std::string& method, const std::string& target,
             const absl::Status& result);
  std::vector<AuditRecord> ListAudit(int limit);
  std::vector<AuditRecord> ListAudit(const AuditQuery& query);

  absl::Status PutRouting(const ServiceRouting& r);
  std::optional<ServiceRouting> GetRouting(const std::string& service);
  std::vector<ServiceRouting> ListRouting();
  void DeleteRouting(const std::string& service);

  // Volume contents (CreateVolume with content): put replaces.
  absl::Status PutVolumeContent(const std::string& name, const std::string& tar);
  std::optional<VolumeContent> GetVolumeContent(const std::string& name);
  std::vector<VolumeContent> ListVolumeContents();  // without the tars
  void DeleteVolumeContent(const std::string& name);

  // Autoscale policies and their state, by service (a serialized musketeer.v1.Autoscale:
  // the store keeps it without reading it).
  absl::Status PutAutoscale(const std::string& service, const std::string& state);
  std::map<std::string, std::string> ListAutoscale();
  std::optional<std::string> GetAutoscale(const std::string& service);
  void DeleteAutoscale(const std::string& service);

  absl::Status PutSshHostKey(const SshHostKey& key);
  std::optional<SshHostKey> GetSshHostKey(const std::string& target);

 private:
  explicit StateStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  // Per token name: the last use, and when it was last written to the database.
  struct LastUse {
    absl::Time used, written = absl::InfinitePast();
  };
  std::map<std::string, LastUse> last_use_ ABSL_GUARDED_BY(mu_);
  // Tokens that authenticated, by hash, so that a call costs a hash and a lookup instead of
  // a SQL query (dropped when the token is deleted; unknown secrets are never kept).
  struct KnownToken {
    TokenRecord record;
    absl::Time expires = absl::InfiniteFuture();
  };
  std::map<std::string, KnownToken> known_tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ServiceRouting> routing_ ABSL_GUARDED_BY(mu_);  // the routing table
  std::map<std::string, std::string> autoscale_ ABSL_GUARDED_BY(mu_);   // service -> state
};

// Hex SHA-256, used for token hashes.
std::string Sha256Hex(const std::string& data);

}  // namespace musketeer::state

#endif  // CONTROLPLANE_STATE_STATE_STORE_H_
