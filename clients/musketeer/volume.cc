// musketeer volume ...: named volumes on every node (create, optionally filled from a
// directory or a tar on every node and on nodes that join later; ls shows which node holds
// which; inspect; refresh; rm).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

// --from DIR (packed as `tar -C DIR -c .` packs it) or --from FILE.tar, into `tar`.
int ReadContent(const std::string& from, std::string* tar) {
  std::error_code ec;
  if (std::filesystem::is_directory(from, ec)) {
    const std::string command = "tar -C '" + from + "' -cf - .";
    if (from.find('\'') != std::string::npos) return UsageError("--from: a quote in the path");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return UsageError("cannot run tar for " + from);
    char buf[65536];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) tar->append(buf, n);
    if (pclose(pipe) != 0) return UsageError("tar could not read " + from);
    return kOk;
  }
  std::ifstream in(from, std::ios::binary);
  if (!in) return UsageError("--from: cannot read " + from + " (a directory or a tar file)");
  tar->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return kOk;
}

void PrintVolumes(const pb::ListVolumesResponse& out) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : out.volumes())
    rows.push_back({v.name(), v.node(), v.driver(), v.content().empty() ? "-" : v.content().substr(0, 19)});
  PrintTable({"NAME", "NODE", "DRIVER", "CONTENT"}, rows);
}

int VolumeCreate(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one volume name");
  pb::CreateVolumeRequest req;
  req.set_name(a.positional()[0]);
  req.set_driver(a.Get("--driver"));
  for (const auto& o : a.All("--opt")) {
    auto [k, v] = SplitKeyValue(o);
    (*req.mutable_driver_options())[k] = v;
  }
  for (const auto& l : a.All("--label")) {
    auto [k, v] = SplitKeyValue(l);
    (*req.mutable_labels())[k] = v;
  }
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  if (a.Has("--from")) {
    if (int rc = ReadContent(a.Get("--from"), req.mutable_content_tar()); rc != kOk) return rc;
  }
  return Show(a, c, 600, &pb::Volumes::Stub::CreateVolume, req, PrintVolumes);
}

int VolumeLs(const Args& a, const Connection& c) {
  pb::ListVolumesRequest req;
  req.set_node(a.Get("--node"));
  return Show(a, c, 60, &pb::Volumes::Stub::ListVolumes, req, PrintVolumes);
}

int VolumeInspect(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one volume name");
  pb::ListVolumesRequest req;
  req.set_name(a.positional()[0]);
  return Show(a, c, 60, &pb::Volumes::Stub::ListVolumes, req,
              [](const pb::ListVolumesResponse& out) { PrintJson(out); });
}

int VolumeRefresh(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one volume name");
  pb::RefreshVolumeRequest req;
  req.set_name(a.positional()[0]);
  if (a.Has("--from")) {
    if (int rc = ReadContent(a.Get("--from"), req.mutable_content_tar()); rc != kOk) return rc;
  }
  return Show(a, c, 600, &pb::Volumes::Stub::RefreshVolume, req, PrintVolumes);
}

int VolumeRm(const Args& a, const Connection& c) {
  const bool force = Force(a);
  return ForEachName(
      a, c, 120, &pb::Volumes::Stub::DeleteVolume,
      [&](const std::string& name, pb::DeleteVolumeRequest& req) {
        req.set_name(name);
        req.set_force(force);
      },
      [](const std::string& name, const pb::Empty&) { std::cout << name << "\n"; });
}

}  // namespace

std::vector<Command> VolumeCommands() {
  return {
      {"volume",
       "create",
       "[--driver D] [--opt K=V] [--label K=V] [--node NODE] [--from DIR|TAR] NAME",
       "Create a volume on every node (--from: filled with DIR's files on every node, and on "
       "nodes that join later)",
       {},
       VolumeCreate},
      {"volume", "ls", "[--node NODE]", "List volumes and the nodes that hold them", {}, VolumeLs},
      {"volume", "inspect", "NAME", "Show a volume on every node as JSON", {}, VolumeInspect},
      {"volume",
       "refresh",
       "[--from DIR|TAR] NAME",
       "Fill a volume again on every node (with new content when given)",
       {},
       VolumeRefresh},
      {"volume", "rm", "[-f|--force] NAME...", "Remove volumes from every node", {"-f", "--force"}, VolumeRm},
  };
}

}  // namespace musketeer::cli
