#include "controlplane/nodes/remote_driver.h"

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "controlplane/pki/pki.h"

namespace musketeer::nodes {
namespace fs = std::filesystem;
namespace json = boost::json;

absl::StatusOr<Node> RemoteDriver::Create(const std::string& name, const RemoteSpec* remote) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  if (remote == nullptr || remote->url.empty()) {
    return absl::InvalidArgumentError(
        "the remote driver needs --url (unix:///path or tcp://host:port with --tls-ca, --tls-cert, "
        "--tls-key)");
  }
  auto endpoint = engine::Endpoint::Parse(remote->url);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->kind == engine::Endpoint::Kind::kTcp) {
    if (remote->ca.empty() || remote->cert.empty() || remote->key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote engine ", remote->url,
                       ": tcp:// needs a CA, a client certificate and a key (mutual TLS); plain "
                       "TCP engines are refused"));
    }
    endpoint->tls = engine::TlsFiles{remote->ca, remote->cert, remote->key};
  }
  std::lock_guard lock(mu_);
  if (fs::exists(NodeDir(name))) {
    return absl::AlreadyExistsError(absl::StrCat(
        "node '", name, "' already exists; pick another name or `node rm ", name, "` first"));
  }
  engine::EngineClient client(*endpoint, std::chrono::seconds(5));
  auto version = client.Version();
  if (!version.ok()) {
    return absl::Status(version.status().code(),
                        absl::StrCat("remote engine ", remote->url,
                                     " is not usable: ", version.status().message()));
  }
  const auto& v = version->as_object();
  const std::string api =
      v.contains("ApiVersion") ? json::value_to<std::string>(v.at("ApiVersion")) : "";
  if (api.empty() || engine::VersionLess(api, "1.24")) {
    return absl::FailedPreconditionError(absl::StrCat("remote engine ", remote->url, " speaks API ",
                                                      api, "; swarm mode needs 1.24 or later"));
  }
  if (v.contains("Os") && v.at("Os") != "linux") {
    return absl::FailedPreconditionError(absl::StrCat("remote engine ", remote->url, " runs ",
                                                      json::serialize(v.at("Os")),
                                                      "; only linux engines can run the judge"));
  }
  // Keep our own copies of the credentials, so the node survives the originals moving.
  const std::string dir = NodeDir(name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  json::object record{
      {"name", name},
      {"url", remote->url},
      {"driver", "remote"},
      {"created_at", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())}};
  absl::Status s = absl::OkStatus();
  if (endpoint->tls) {
    for (auto [from, to, mode] : {std::tuple{remote->ca, "ca.pem", 0644},
                                  {remote->cert, "cert.pem", 0644},
                                  {remote->key, "key.pem", 0600}}) {
      auto content = pki::ReadFile(from);
      s = content.ok() ? pki::WriteFileAtomic(dir + "/" + to, *content, mode) : content.status();
      if (!s.ok()) break;
    }
  }
  if (s.ok()) s = pki::WriteFileAtomic(dir + "/node.json", json::serialize(record), 0644);
  if (!s.ok()) {
    fs::remove_all(dir, ec);
    return s;
  }
  return Load(name);
}

absl::StatusOr<Node> RemoteDriver::Load(const std::string& name) {
  auto text = pki::ReadFile(NodeDir(name) + "/node.json");
  if (!text.ok())
    return absl::NotFoundError(
        absl::StrCat("node '", name, "' does not exist; `node ls` lists the nodes"));
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object())
    return absl::DataLossError(
        absl::StrCat(NodeDir(name), "/node.json is corrupt; `node rm ", name, "` removes it"));
  Node n;
  n.name = name;
  n.driver = "remote";
  n.created_at = json::value_to<std::string>(v.at("created_at"));
  auto endpoint = engine::Endpoint::Parse(json::value_to<std::string>(v.at("url")));
  if (!endpoint.ok()) return endpoint.status();
  n.endpoint = *endpoint;
  if (n.endpoint.kind == engine::Endpoint::Kind::kTcp) {
    n.cert_path = NodeDir(name);
    n.endpoint.tls = engine::TlsFiles{n.cert_path + "/ca.pem", n.cert_path + "/cert.pem",
                                      n.cert_path + "/key.pem"};
    n.ip = n.endpoint.host;
  } else {
    n.ip = "127.0.0.1";
  }
  engine::EngineClient client(n.endpoint, std::chrono::seconds(2));
  n.state = client.Ping().ok() ? NodeState::kRunning : NodeState::kUnreachable;
  return n;
}

absl::Status RemoteDriver::Start(const std::string& name) {
  return absl::FailedPreconditionError(absl::StrCat(
      "node '", name,
      "' is remote: musketeer does not manage its engine's process; start it where it runs"));
}
absl::Status RemoteDriver::Stop(const std::string& name) { return Start(name); }
absl::Status RemoteDriver::Kill(const std::string& name) { return Start(name); }
absl::Status RemoteDriver::RegenerateCerts(const std::string& name) {
  return absl::FailedPreconditionError(absl::StrCat(
      "node '", name,
      "' is remote: its certificates are not ours; `node rm` it and add it again with new files"));
}

absl::Status RemoteDriver::Remove(const std::string& name) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (!fs::exists(NodeDir(name)))
    return absl::NotFoundError(absl::StrCat("node '", name, "' does not exist"));
  std::error_code ec;
  fs::remove_all(NodeDir(name), ec);
  return absl::OkStatus();
}

absl::StatusOr<Node> RemoteDriver::Inspect(const std::string& name) {
  if (auto s = ValidateNodeName(name); !s.ok()) return s;
  return Load(name);
}

std::vector<Node> RemoteDriver::List() {
  return InspectEach(dir_, [this](const std::string& name) { return Load(name); });
}

}  // namespace musketeer::nodes
