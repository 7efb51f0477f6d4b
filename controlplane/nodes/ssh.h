// The pure parts of the ssh driver, apart so that unit tests can reach them: the ssh
// command line, host keys (known_hosts lines, fingerprints, pins), /etc/os-release and
// the key=value reports of the driver's remote scripts. No I/O here.
#ifndef CONTROLPLANE_NODES_SSH_H_
#define CONTROLPLANE_NODES_SSH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace musketeer::nodes::ssh {

// Where to log in. Empty user / port 0: not passed to ssh, so that ssh's defaults and the
// ssh config (Host blocks, Port, User, ProxyJump, IdentityFile) decide.
struct Target {
  std::string host;
  uint16_t port = 0;
  std::string user;
  std::string key;  // a private key file (-i, with IdentitiesOnly); empty: agent + defaults

  // "user@host:port" with what was given ("host", "root@host", "host:2222").
  std::string Display() const;
  // The host key record's key: "host:port", port 22 when not given.
  std::string KeyId() const;
  // The name the host key is filed under in musketeer's known_hosts (HostKeyAlias), so
  // that it does not depend on how the ssh config resolves the host.
  std::string Alias() const;
};

// Host names and users become ssh arguments: no option injection ("-oProxyCommand=..."),
// no whitespace or shell metacharacters.
absl::Status ValidateTarget(const Target& t);

struct CommandOptions {
  std::string ssh = "ssh";
  std::string config_file;  // -F FILE; empty: the user's ~/.ssh/config
  std::string known_hosts;  // musketeer's known_hosts file for this target
  // First contact: accept the key the host offers and write it to known_hosts (the
  // caller checks it against a pin or records it); otherwise StrictHostKeyChecking=yes.
  bool accept_new = false;
  int connect_timeout_seconds = 10;
};

// The argv that runs `remote_command` on `t` (the command is a single argument; ssh hands
// it to the login shell). Never disables host key checking; BatchMode (a daemon cannot
// answer prompts); no connection sharing, so every call checks the host key.
std::vector<std::string> SshArgv(const Target& t, const CommandOptions& o,
                                 const std::string& remote_command);

// A host public key as known_hosts and ssh-keyscan write it.
struct HostKey {
  std::string type;    // "ssh-ed25519"
  std::string base64;  // the key blob
  // "SHA256:" + unpadded base64 of the blob's SHA-256, as `ssh-keygen -lf` prints it.
  std::string Fingerprint() const;
  // "ED25519 SHA256:..." for people.
  std::string Label() const;
};
// Parses "HOSTS TYPE BASE64 [COMMENT]" (a known_hosts line; markers and hashed hosts are
// accepted as they are). INVALID_ARGUMENT when it is not one.
absl::StatusOr<HostKey> ParseKnownHostsLine(const std::string& line);
// The first key line of a known_hosts file's text.
absl::StatusOr<HostKey> FirstHostKey(const std::string& known_hosts_text);
std::string KnownHostsLine(const std::string& alias, const HostKey& key);
// A pin as given by the user: "SHA256:" + 43 base64 characters. Returns it normalized.
absl::StatusOr<std::string> ParseFingerprint(const std::string& pin);

// /etc/os-release: KEY=value lines, values unquoted ("..." or '...'), comments skipped.
std::map<std::string, std::string> ParseOsRelease(const std::string& text);

struct Os {
  std::string id, id_like, version_id, pretty_name;
  std::string package_manager;  // "apt" or "dnf"
  std::string packages;         // what to install: "docker.io", "moby-engine docker"
};
// The supported systems: Debian and Ubuntu (apt, docker.io) and the Fedora/RHEL family
// (dnf, moby-engine or docker), by ID or ID_LIKE. FAILED_PRECONDITION naming the system
// and what is supported otherwise.
absl::StatusOr<Os> ClassifyOs(const std::map<std::string, std::string>& os_release);

// A remote script's report: "key=value" lines (later keys win); other lines ignored.
std::map<std::string, std::string> ParseReport(const std::string& text);

// The server address of $SSH_CONNECTION ("client_ip client_port server_ip server_port"):
// the address this host was reached at, so the one the control plane can use.
absl::StatusOr<std::string> ServerAddress(const std::string& ssh_connection);

// 'text' quoted for a POSIX shell.
std::string ShellQuote(const std::string& text);

}  // namespace musketeer::nodes::ssh

#endif  // CONTROLPLANE_NODES_SSH_H_
