// The control plane's certificate authority: one CA per state directory, a server
// certificate per node (its IP and DNS names as subjectAltNames) and client
// certificates for musketeerd and for `musketeer node env`.
//
// Keys are ECDSA P-256 and written with mode 0600 (files are created 0600 and renamed
// into place, so a key is never briefly world-readable). No key material ever goes into a
// Status message. Thread-safety: not thread-safe; the caller serializes issuance.
#ifndef CONTROLPLANE_PKI_PKI_H_
#define CONTROLPLANE_PKI_PKI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace musketeer::pki {

// Paths of one certificate bundle, in the layout the docker CLI expects under
// DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem).
struct Bundle {
  std::string dir;
  std::string ca() const { return dir + "/ca.pem"; }
  std::string cert() const { return dir + "/cert.pem"; }
  std::string key() const { return dir + "/key.pem"; }
};

class Authority {
 public:
  // Loads the CA from `dir` (ca.pem, ca-key.pem), creating it on first use.
  static absl::StatusOr<std::unique_ptr<Authority>> OpenOrCreate(const std::string& dir,
                                                                 const std::string& common_name);
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  // Writes a server bundle (serverAuth) for `common_name` valid for `ips` and `dns_names`
  // into `out_dir`, replacing what was there (that is how certificates are regenerated).
  absl::StatusOr<Bundle> IssueServer(const std::string& out_dir, const std::string& common_name,
                                     const std::vector<std::string>& ips,
                                     const std::vector<std::string>& dns_names);
  // Writes a client bundle (clientAuth) into `out_dir`.
  absl::StatusOr<Bundle> IssueClient(const std::string& out_dir, const std::string& common_name);

  const std::string& ca_path() const { return ca_path_; }

 private:
  struct Keys;
  Authority(std::string ca_path, std::unique_ptr<Keys> keys);
  absl::StatusOr<Bundle> Issue(const std::string& out_dir, const std::string& common_name,
                               const std::vector<std::string>& ips,
                               const std::vector<std::string>& dns_names, bool server);

  std::string ca_path_;
  std::unique_ptr<Keys> keys_;
};

// Writes `contents` to `path` with `mode` atomically (temp file, fsync, rename).
absl::Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode);
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace musketeer::pki

#endif  // CONTROLPLANE_PKI_PKI_H_
