// musketeer image ...: build on one node and copy everywhere, import a root filesystem,
// distribute without a registry, list.
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

// A streaming image operation (build, import, distribute): its progress lines as they come.
template <class Request>
int ImageOperation(const Args& a, const Connection& c,
                   std::unique_ptr<grpc::ClientReader<pb::ImageProgress>> (
                       pb::Images::Stub::*method)(grpc::ClientContext*, const Request&),
                   const Request& req) {
  pb::Images::Stub stub(Dial(c));
  auto ctx = Context(c, kLongDeadline);
  auto reader = (stub.*method)(ctx.get(), req);
  pb::ImageProgress p;
  while (reader->Read(&p)) {
    if (Json(a)) {
      PrintJson(p);
    } else {
      std::cout << p.node() << ": " << p.message() << "\n" << std::flush;
    }
  }
  return Report(Answered(*ctx, reader->Finish()));
}

// musketeerd reads paths on its own machine: send them absolute.
std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
}

int ImageBuild(const Args& a, const Connection& c) {
  if (a.positional().size() != 1 || (!a.Has("-t") && !a.Has("--tag"))) return kUsage;
  pb::BuildImageRequest req;
  req.set_context_dir(Absolute(a.positional()[0]));
  req.set_tag(a.Get("-t", a.Get("--tag")));
  req.set_node(a.Get("--node"));
  req.set_distribute(!a.Has("--no-distribute"));
  return ImageOperation(a, c, &pb::Images::Stub::BuildImage, req);
}

int ImageImport(const Args& a, const Connection& c) {
  if (a.positional().size() != 2) return kUsage;
  pb::ImportImageRequest req;
  req.set_rootfs_tar(Absolute(a.positional()[0]));
  req.set_tag(a.positional()[1]);
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  return ImageOperation(a, c, &pb::Images::Stub::ImportImage, req);
}

int ImageDistribute(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::DistributeImageRequest req;
  req.set_image(a.positional()[0]);
  req.set_from_node(a.Get("--from"));
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  return ImageOperation(a, c, &pb::Images::Stub::DistributeImage, req);
}

int ImageLs(const Args& a, const Connection& c) {
  pb::ListImagesRequest req;
  req.set_node(a.Get("--node"));
  return Show(a, c, 60, &pb::Images::Stub::ListImages, req, [](const pb::ListImagesResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : out.images()) {
      std::string id = i.id().substr(i.id().find(':') + 1).substr(0, 12);
      rows.push_back({i.node(), i.tags_size() ? absl::StrJoin(i.tags(), ",") : "<none>", id,
                      absl::StrCat(i.size_bytes() / 1000000, "MB")});
    }
    PrintTable({"NODE", "IMAGE", "IMAGE ID", "SIZE"}, rows);
  });
}

// One image row per node it was removed from, then what was reclaimed.
void PrintRemoved(const google::protobuf::RepeatedPtrField<pb::Image>& removed) {
  for (const auto& i : removed)
    std::cout << i.node() << ": removed "
              << (i.tags_size() ? absl::StrJoin(i.tags(), ",") : std::string("<none>")) << " "
              << i.id().substr(0, 19) << " (" << i.size_bytes() / 1000000 << "MB)\n";
}

int ImageRm(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::DeleteImageRequest req;
  req.set_image(a.positional()[0]);
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  req.set_force(Force(a));
  return Show(a, c, 120, &pb::Images::Stub::DeleteImage, req,
              [](const pb::DeleteImageResponse& out) { PrintRemoved(out.removed()); });
}

int ImagePrune(const Args& a, const Connection& c) {
  pb::PruneImagesRequest req;
  req.set_all(a.Has("-a") || a.Has("--all"));
  req.set_dry_run(a.Has("--dry-run"));
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  return Show(a, c, 300, &pb::Images::Stub::PruneImages, req,
              [&](const pb::PruneImagesResponse& out) {
                PrintRemoved(out.removed());
                for (const auto& e : out.errors()) std::cout << "not removed: " << e << "\n";
                std::cout << (req.dry_run() ? "Would reclaim: " : "Total reclaimed space: ")
                          << out.reclaimed_bytes() / 1000000 << "MB (" << out.removed_size()
                          << " images)\n";
              });
}

}  // namespace

std::vector<Command> ImageCommands() {
  return {
      {"image",
       "build",
       "-t|--tag TAG [--node NODE] [--no-distribute] CONTEXT_DIR",
       "Build an image on a node and copy it to every node",
       {"--no-distribute"},
       ImageBuild},
      {"image",
       "import",
       "[--node NODE]... ROOTFS_TAR TAG",
       "Import a root filesystem tarball as an image on nodes",
       {},
       ImageImport},
      {"image",
       "distribute",
       "[--from NODE] [--node NODE]... IMAGE",
       "Copy an image to nodes without a registry",
       {},
       ImageDistribute},
      {"image", "ls", "[--node NODE]", "List images on nodes", {}, ImageLs},
      {"image",
       "rm",
       "[--node NODE]... [-f] IMAGE",
       "Remove an image from nodes (refused while a service uses it)",
       {"-f", "--force"},
       ImageRm},
      {"image",
       "prune",
       "[-a|--all] [--dry-run] [--node NODE]...",
       "Remove dangling images (-a: every unused one) on every node",
       {"-a", "--all", "--dry-run"},
       ImagePrune},
  };
}

}  // namespace musketeer::cli
