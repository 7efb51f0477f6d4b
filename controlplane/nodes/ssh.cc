#include "controlplane/nodes/ssh.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace musketeer::nodes::ssh {

std::string Target::Display() const {
  std::string out = user.empty() ? host : absl::StrCat(user, "@", host);
  if (port != 0) absl::StrAppend(&out, ":", port);
  return out;
}

std::string Target::KeyId() const { return absl::StrCat(host, ":", port == 0 ? 22 : port); }

std::string Target::Alias() const {
  return absl::StrCat("musketeer.", host, ".", port == 0 ? 22 : port);
}

absl::Status ValidateTarget(const Target& t) {
  // Host names, IPv4 and IPv6 literals; user names as useradd allows them.
  static const std::regex kHost("[A-Za-z0-9_]([A-Za-z0-9._:-]{0,252})");
  static const std::regex kUser("[A-Za-z_][A-Za-z0-9._-]{0,31}");
  if (t.host.empty()) {
    return absl::InvalidArgumentError(
        "ssh_host: empty; give the host to log in to (--ssh-host HOST: a name, an address or a "
        "Host of the ssh config)");
  }
  if (!std::regex_match(t.host, kHost)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ssh_host: '", t.host,
        "' is not a host name or address (letters, digits, '.', '-', '_', ':'; not starting "
        "with '-')"));
  }
  if (!t.user.empty() && !std::regex_match(t.user, kUser)) {
    return absl::InvalidArgumentError(absl::StrCat("ssh_user: '", t.user, "' is not a user name"));
  }
  if (!t.key.empty() && (t.key[0] != '/' || absl::StrContains(t.key, "\n"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("ssh_key: '", t.key,
                     "' must be an absolute path of a private key file on the control "
                     "plane's machine"));
  }
  return absl::OkStatus();
}

std::vector<std::string> SshArgv(const Target& t, const CommandOptions& o,
                                 const std::string& remote_command) {
  std::vector<std::string> argv = {o.ssh};
  if (!o.config_file.empty()) argv.insert(argv.end(), {"-F", o.config_file});
  argv.insert(argv.end(),
              {"-T",
               "-o",
               "BatchMode=yes",
               "-o",
               absl::StrCat("ConnectTimeout=", o.connect_timeout_seconds),
               "-o",
               absl::StrCat("StrictHostKeyChecking=", o.accept_new ? "accept-new" : "yes"),
               "-o",
               "UserKnownHostsFile=" + o.known_hosts,
               "-o",
               "GlobalKnownHostsFile=/dev/null",
               "-o",
               "HostKeyAlias=" + t.Alias(),
               "-o",
               "UpdateHostKeys=no",
               "-o",
               "CheckHostIP=no",
               "-o",
               "ControlPath=none",
               "-o",
               "ServerAliveInterval=5",
               "-o",
               "ServerAliveCountMax=6",
               "-o",
               "LogLevel=ERROR"});
  if (t.port != 0) argv.insert(argv.end(), {"-p", std::to_string(t.port)});
  if (!t.user.empty()) argv.insert(argv.end(), {"-l", t.user});
  if (!t.key.empty()) argv.insert(argv.end(), {"-i", t.key, "-o", "IdentitiesOnly=yes"});
  // "--" ends ssh's options: the host (validated) and the command are never read as flags.
  argv.insert(argv.end(), {"--", t.host, remote_command});
  return argv;
}

namespace {

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, n);
  out.resize(len);
  return out;
}

// Decodes standard base64; empty on malformed input.
std::string Unbase64(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return "";
  std::string out(in.size() / 4 * 3, '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), in.size());
  if (len < 0) return "";
  size_t pad = 0;
  if (absl::EndsWith(in, "==")) {
    pad = 2;
  } else if (absl::EndsWith(in, "=")) {
    pad = 1;
  }
  out.resize(len - pad);
  return out;
}

}  // namespace

std::string HostKey::Fingerprint() const {
  std::string blob = Unbase64(base64);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), digest);
  std::string b64 = Base64(digest, sizeof digest);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

std::string HostKey::Label() const {
  std::string kind = type;
  if (type == "ssh-ed25519") {
    kind = "ED25519";
  } else if (absl::StartsWith(type, "ecdsa-")) {
    kind = "ECDSA";
  } else if (type == "ssh-rsa") {
    kind = "RSA";
  } else if (type == "ssh-dss") {
    kind = "DSA";
  }
  return absl::StrCat(kind, " ", Fingerprint());
}

absl::StatusOr<HostKey> ParseKnownHostsLine(const std::string& line) {
  std::vector<std::string> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (!fields.empty() && absl::StartsWith(fields[0], "@")) fields.erase(fields.begin());
  if (fields.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a known_hosts line (HOSTS TYPE KEY): '", line, "'"));
  }
  static const std::regex kType("(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)");
  if (!std::regex_match(fields[1], kType)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown host key type '", fields[1], "'"));
  }
  if (Unbase64(fields[2]).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host key of type ", fields[1], " is not base64: '", fields[2], "'"));
  }
  return HostKey{fields[1], fields[2]};
}

absl::StatusOr<HostKey> FirstHostKey(const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    return ParseKnownHostsLine(std::string(line));
  }
  return absl::NotFoundError("no host key was recorded");
}

std::string KnownHostsLine(const std::string& alias, const HostKey& key) {
  return absl::StrCat(alias, " ", key.type, " ", key.base64, "\n");
}

absl::StatusOr<std::string> ParseFingerprint(const std::string& pin) {
  static const std::regex kPin("SHA256:[A-Za-z0-9+/]{43}");
  std::string p(absl::StripAsciiWhitespace(pin));
  if (!std::regex_match(p, kPin)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ssh_host_key: '", pin,
        "' is not a SHA256 fingerprint; give it as `ssh-keygen -lf "
        "/etc/ssh/ssh_host_ed25519_key.pub` prints it on the host (SHA256: and 43 characters)"));
  }
  return p;
}

std::map<std::string, std::string> ParseOsRelease(const std::string& text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    std::string key(line.substr(0, eq));
    std::string value(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
      // Shell escapes inside double quotes: \" \\ \$ \`.
      std::string unescaped;
      for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        unescaped += value[i];
      }
      value = unescaped;
    }
    out[key] = value;
  }
  return out;
}

absl::StatusOr<Os> ClassifyOs(const std::map<std::string, std::string>& r) {
  auto get = [&](const char* k) {
    auto it = r.find(k);
    return it == r.end() ? std::string() : it->second;
  };
  Os os;
  os.id = get("ID");
  os.id_like = get("ID_LIKE");
  os.version_id = get("VERSION_ID");
  os.pretty_name = get("PRETTY_NAME");
  if (os.pretty_name.empty()) os.pretty_name = absl::StrCat(get("NAME"), " ", os.version_id);
  std::vector<std::string> ids = absl::StrSplit(os.id_like, ' ', absl::SkipEmpty());
  ids.insert(ids.begin(), os.id);
  for (const auto& id : ids) {
    if (id == "debian" || id == "ubuntu") {
      os.package_manager = "apt";
      os.packages = "docker.io";
      return os;
    }
    if (id == "fedora" || id == "rhel" || id == "centos") {
      os.package_manager = "dnf";
      os.packages = "moby-engine docker";
      return os;
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "unsupported operating system '", absl::StripAsciiWhitespace(os.pretty_name),
      "' (ID=", os.id.empty() ? "none" : os.id,
      "); the ssh driver supports Debian and Ubuntu (apt) and the Fedora/RHEL family (dnf). "
      "For another system install Docker yourself and add the engine with --driver remote"));
}

std::map<std::string, std::string> ParseReport(const std::string& text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    auto eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) continue;
    absl::string_view key = line.substr(0, eq);
    if (!std::all_of(key.begin(), key.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; })) {
      continue;
    }
    out[std::string(key)] = std::string(absl::StripTrailingAsciiWhitespace(line.substr(eq + 1)));
  }
  return out;
}

absl::StatusOr<std::string> ServerAddress(const std::string& ssh_connection) {
  std::vector<std::string> f = absl::StrSplit(ssh_connection, ' ', absl::SkipEmpty());
  if (f.size() != 4) {
    return absl::FailedPreconditionError(
        absl::StrCat("the host's SSH_CONNECTION is '", ssh_connection,
                     "', not 'client_ip client_port server_ip server_port'; is it an OpenSSH "
                     "server?"));
  }
  return f[2];
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace musketeer::nodes::ssh
