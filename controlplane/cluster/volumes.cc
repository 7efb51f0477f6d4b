// Cluster: named volumes, node by node. A volume made with content is filled on every node
// the way images travel without a registry: a container that mounts the volume is made
// (never started), the tar is put into it (PUT /containers/{id}/archive) and the container
// removed. The content is kept in the state database, so that a node that joins later (or
// starts again) is filled too.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

namespace {
constexpr char kFillTarget[] = "/musketeer-fill";
constexpr char kContentLabel[] = "com.musketeer.volume-content";

pb::Volume VolumeToProto(const engine::Volume& v, const std::string& node) {
  pb::Volume out;
  out.set_name(v.name);
  out.set_node(node);
  out.set_driver(v.driver);
  for (const auto& [k, x] : v.labels) (*out.mutable_labels())[k] = x;
  out.set_mountpoint(v.mountpoint);
  out.set_created_at(v.created_at);
  return out;
}

// Makes the volume on one engine (an existing one is answered as it is) and puts `tar` in.
absl::StatusOr<engine::Volume> MakeAndFill(engine::DockerEngine& e,
                                           const engine::VolumeCreateRequest& request,
                                           const std::string& tar) {
  auto volume = e.CreateVolume(request);
  if (!volume.ok() || tar.empty()) return volume;
  // Any image the node has will do: the container is never started.
  auto images = e.ListImages();
  if (!images.ok()) return images.status();
  if (images->empty())
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", e.address(), " has no image to make the container that fills the volume with; "
        "import one first (`musketeer image import`)"));
  engine::ContainerCreateRequest c;
  c.image = images->front().id;
  c.cmd = {"true"};
  c.labels[kContentLabel] = request.name;
  engine::Mount& m = c.host_config.mounts.emplace_back();
  m.type = "volume";
  m.source = request.name;
  m.target = kFillTarget;
  auto id = e.CreateContainer(c);
  if (!id.ok()) return id.status();
  size_t at = 0;
  engine::BodySource body = [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    const size_t n = std::min(cap, tar.size() - at);
    std::copy_n(tar.data() + at, n, buf);
    at += n;
    return n;
  };
  absl::Status put = e.PutArchive(*id, kFillTarget, body);
  absl::Status removed = e.RemoveContainer(*id, /*force=*/true);
  if (!put.ok()) return absl::Status(put.code(), absl::StrCat("filling volume ", request.name,
                                                             ": ", put.message()));
  if (!removed.ok()) return removed;
  return volume;
}
}  // namespace

absl::StatusOr<std::vector<pb::Volume>> Cluster::FillVolume(
    const engine::VolumeCreateRequest& request, const std::string& tar,
    const std::vector<std::string>& only) {
  std::string content;  // the kept content's digest, shown on every node's volume
  for (const auto& k : store_.ListVolumeContents())
    if (k.name == request.name) content = k.digest;
  std::vector<pb::Volume> out;
  std::vector<std::string> failed;
  for (auto& h : AllNodes()) {
    if (h.node.state != nodes::NodeState::kRunning) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), h.node.name) == only.end()) continue;
    auto v = MakeAndFill(*Engine(h.node), request, tar);
    if (!v.ok()) {
      failed.push_back(absl::StrCat(h.node.name, ": ", v.status().message()));
      continue;
    }
    out.push_back(VolumeToProto(*v, h.node.name));
    out.back().set_content(content);
  }
  if (!failed.empty())
    return absl::UnavailableError(absl::StrCat("volume ", request.name, ": ",
                                               absl::StrJoin(failed, "; ")));
  return out;
}

absl::StatusOr<std::vector<pb::Volume>> Cluster::CreateVolume(const pb::CreateVolumeRequest& req) {
  if (auto s = ValidateSecretName("name", req.name()); !s.ok()) return s;
  for (const auto& n : req.nodes()) {
    if (auto h = FindNode(n); !h.ok()) return h.status();
  }
  engine::VolumeCreateRequest request;
  request.name = req.name();
  request.driver = req.driver();
  request.driver_opts = engine::Labels(req.driver_options().begin(), req.driver_options().end());
  request.labels = engine::Labels(req.labels().begin(), req.labels().end());
  if (!req.content_tar().empty()) {
    if (req.nodes_size() > 0)
      return absl::InvalidArgumentError(
          "nodes: a volume with content is on every node (and every node that joins later)");
    if (auto s = store_.PutVolumeContent(req.name(), req.content_tar()); !s.ok()) return s;
  }
  std::vector<std::string> only(req.nodes().begin(), req.nodes().end());
  return FillVolume(request, req.content_tar(), only);
}

absl::StatusOr<std::vector<pb::Volume>> Cluster::ListVolumes(const pb::ListVolumesRequest& req) {
  std::map<std::string, std::string> contents;
  for (const auto& k : store_.ListVolumeContents()) contents[k.name] = k.digest;
  std::vector<pb::Volume> out;
  for (auto& h : AllNodes()) {
    if (h.node.state != nodes::NodeState::kRunning) continue;
    if (!req.node().empty() && h.node.name != req.node()) continue;
    auto list = Engine(h.node)->ListVolumes();
    if (!list.ok()) continue;  // a node that does not answer has nothing to list
    for (const auto& v : *list) {
      if (!req.name().empty() && v.name != req.name()) continue;
      out.push_back(VolumeToProto(v, h.node.name));
      if (auto it = contents.find(v.name); it != contents.end()) out.back().set_content(it->second);
    }
  }
  std::sort(out.begin(), out.end(), [](const pb::Volume& a, const pb::Volume& b) {
    return std::tie(a.name(), a.node()) < std::tie(b.name(), b.node());
  });
  return out;
}

absl::Status Cluster::DeleteVolume(const pb::DeleteVolumeRequest& req) {
  if (auto s = ValidateSecretName("name", req.name()); !s.ok()) return s;
  bool found = false;
  std::vector<std::string> failed;
  for (auto& h : AllNodes()) {
    if (h.node.state != nodes::NodeState::kRunning) continue;
    if (req.nodes_size() > 0 &&
        std::find(req.nodes().begin(), req.nodes().end(), h.node.name) == req.nodes().end())
      continue;
    absl::Status s = Engine(h.node)->RemoveVolume(req.name(), req.force());
    if (s.code() == absl::StatusCode::kNotFound) continue;
    found = true;
    if (!s.ok()) failed.push_back(absl::StrCat(h.node.name, ": ", s.message()));
  }
  const bool kept = store_.GetVolumeContent(req.name()).has_value();
  if (!failed.empty())
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", req.name(), " could not be removed everywhere (", absl::StrJoin(failed, "; "),
        "); remove the services that use it first"));
  if (req.nodes_size() == 0) store_.DeleteVolumeContent(req.name());
  if (!found && !kept)
    return absl::NotFoundError(absl::StrCat("volume '", req.name(),
                                            "' does not exist; `musketeer volume ls` lists them"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pb::Volume>> Cluster::RefreshVolume(const pb::RefreshVolumeRequest& req) {
  if (auto s = ValidateSecretName("name", req.name()); !s.ok()) return s;
  if (!req.content_tar().empty()) {
    if (auto s = store_.PutVolumeContent(req.name(), req.content_tar()); !s.ok()) return s;
  }
  auto kept = store_.GetVolumeContent(req.name());
  if (!kept)
    return absl::FailedPreconditionError(absl::StrCat(
        "volume '", req.name(), "' has no content to fill nodes with; give content_tar (--from)"));
  engine::VolumeCreateRequest request;
  request.name = req.name();
  return FillVolume(request, kept->tar, {});
}

absl::Status Cluster::FillVolumesOn(const std::string& node) {
  std::vector<std::string> failed;
  for (const auto& k : store_.ListVolumeContents()) {
    auto content = store_.GetVolumeContent(k.name);
    if (!content) continue;
    engine::VolumeCreateRequest request;
    request.name = k.name;
    if (auto s = FillVolume(request, content->tar, {node}); !s.ok())
      failed.push_back(std::string(s.status().message()));
  }
  if (!failed.empty()) return absl::UnavailableError(absl::StrJoin(failed, "; "));
  return absl::OkStatus();
}

}  // namespace musketeer::cluster
