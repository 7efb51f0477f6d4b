#include "controlplane/cluster/image_ref.h"

#include <future>
#include <optional>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

absl::StatusOr<PullPolicy> ParsePullPolicy(const std::string& field, const std::string& text) {
  if (text.empty() || text == "missing") return PullPolicy::kMissing;
  if (text == "always") return PullPolicy::kAlways;
  if (text == "never") return PullPolicy::kNever;
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", text, "' is not a pull policy; use always, missing or never"));
}

const char* PullPolicyName(PullPolicy policy) {
  switch (policy) {
    case PullPolicy::kAlways:
      return "always";
    case PullPolicy::kNever:
      return "never";
    case PullPolicy::kMissing:
      break;
  }
  return "missing";
}

bool IsImmutableImageReference(const std::string& ref) {
  static const std::regex kImmutable("(?:sha256:|[^@]+@sha256:)[a-f0-9]{64}");
  return std::regex_match(ref, kImmutable);
}

namespace {

// Runs work(i) for every host at once; the answers in host order.
template <class T>
std::vector<T> OnEveryHost(const std::vector<ImageHost>& hosts,
                           const std::function<T(const ImageHost&)>& work) {
  std::vector<std::future<T>> futures;
  for (const auto& h : hosts) futures.push_back(std::async(std::launch::async, work, h));
  std::vector<T> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

std::vector<std::optional<engine::ImageInspect>> InspectEverywhere(
    const std::vector<ImageHost>& hosts, const std::string& ref) {
  return OnEveryHost<std::optional<engine::ImageInspect>>(
      hosts, [&](const ImageHost& h) -> std::optional<engine::ImageInspect> {
        auto v = h.engine->InspectImage(ref);
        if (!v.ok()) return std::nullopt;
        return std::move(*v);
      });
}

// Pulls on every host; the first failure, naming its node.
absl::Status PullEverywhere(const std::vector<ImageHost>& hosts, const std::string& ref) {
  auto results = OnEveryHost<absl::Status>(
      hosts, [&](const ImageHost& h) { return h.engine->PullImage(ref); });
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!results[i].ok()) {
      return absl::Status(results[i].code(),
                          absl::StrCat("node ", hosts[i].node, ": ", results[i].message()));
    }
  }
  return absl::OkStatus();
}

std::string NodeNames(const std::vector<ImageHost>& hosts) {
  std::vector<std::string> names;
  for (const auto& h : hosts) names.push_back(h.node);
  return absl::StrJoin(names, ", ");
}

// "host:5000/a/b:1.0" -> "host:5000/a/b" (a port's colon is not a tag's).
std::string RepositoryOf(const std::string& ref) {
  const std::string name = ref.substr(0, ref.find('@'));
  const size_t colon = name.rfind(':');
  if (colon == std::string::npos || name.find('/', colon) != std::string::npos) return name;
  return name.substr(0, colon);
}

// The image's digest under the reference's repository ("repo@sha256:..."), or "".
std::string DigestOf(const engine::ImageInspect& image, const std::string& ref) {
  const std::string repo = RepositoryOf(ref);
  for (const auto& digest : image.repo_digests) {
    // RepoDigests use the familiar name ("nginx@...") as the reference may ("nginx:1").
    if (digest.substr(0, digest.find('@')) == repo) return digest;
  }
  return "";
}

}  // namespace

absl::StatusOr<PinnedImage> PinImage(const std::string& ref, PullPolicy policy,
                                     const std::vector<ImageHost>& hosts,
                                     const std::function<bool(const std::string&)>& still_here) {
  PinnedImage out{ref, ref, {}, {}};
  if (IsImmutableImageReference(ref)) return out;
  if (hosts.empty())
    return absl::FailedPreconditionError(
        absl::StrCat("no node is ready to run image ", ref, "; `musketeer node ls` shows them"));
  if (policy == PullPolicy::kAlways) {
    if (absl::Status s = PullEverywhere(hosts, ref); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("pulling ", ref, " (pull policy always) failed on ", s.message(),
                                 "; where no registry is reachable use --pull missing (an image a "
                                 "node has is then copied to the others)"));
    }
    for (const auto& h : hosts) out.pulled_on.push_back(h.node);
  }
  auto found = InspectEverywhere(hosts, ref);
  auto source =
      std::find_if(found.begin(), found.end(), [](const auto& f) { return f.has_value(); });
  if (source == found.end()) {
    if (policy == PullPolicy::kNever) {
      return absl::FailedPreconditionError(absl::StrCat(
          "image ", ref, " is on none of the nodes (", NodeNames(hosts),
          ") and the pull policy is never: build, import or distribute it first (`musketeer "
          "image build DIR -t ",
          ref, "`), or allow a pull with --pull missing"));
    }
    if (absl::Status s = PullEverywhere(hosts, ref); !s.ok()) {
      // The caller's to fix (a name no registry has, or no registry reachable).
      return absl::FailedPreconditionError(
          absl::StrCat("image ", ref,
                       " is on none of the nodes, and pulling it from its registry "
                       "failed on ",
                       s.message(),
                       "; build or import it with musketeer (`musketeer "
                       "image build DIR -t ",
                       ref, "`), or check the name"));
    }
    for (const auto& h : hosts) out.pulled_on.push_back(h.node);
    found = InspectEverywhere(hosts, ref);
    source = std::find_if(found.begin(), found.end(), [](const auto& f) { return f.has_value(); });
    if (source == found.end())
      return absl::InternalError(absl::StrCat("image ", ref, " was pulled but is not there"));
  }
  const size_t from = source - found.begin();
  const std::string id = (*source)->id;
  if (id.empty())
    return absl::InternalError(
        absl::StrCat("node ", hosts[from].node, " shows image ", ref, " without an ID"));
  // The hosts without this very image (by ID: a name may stand for another image there).
  std::vector<ImageHost> lacking;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (found[i] && found[i]->id == id) continue;
    if (hosts[i].engine->InspectImage(id).ok()) continue;
    lacking.push_back(hosts[i]);
  }
  auto copies = OnEveryHost<absl::Status>(lacking, [&](const ImageHost& h) {
    return engine::CopyImage(*hosts[from].engine, *h.engine, ref);
  });
  for (size_t i = 0; i < lacking.size(); ++i) {
    if (!copies[i].ok()) {
      if (still_here && !still_here(lacking[i].node)) continue;  // left meanwhile: no tasks there
      return absl::FailedPreconditionError(absl::StrCat(
          "image ", ref, " is on node ", hosts[from].node, " but copying it to node ",
          lacking[i].node, " failed: ", copies[i].message(),
          "; `musketeer node inspect ", lacking[i].node, "` shows that node's engine"));
    }
    out.copied_to.push_back(lacking[i].node);
  }
  out.pinned = id;
  // A registry digest every host has lets an agent on a node added later pull it too.
  if (const std::string digest = DigestOf(**source, ref); !digest.empty() && lacking.empty()) {
    auto by_digest = InspectEverywhere(hosts, digest);
    if (std::all_of(by_digest.begin(), by_digest.end(),
                    [&](const auto& f) { return f && f->id == id; }))
      out.pinned = digest;
  }
  return out;
}

void ApplyPinnedImage(const PinnedImage& image, PullPolicy policy, engine::ServiceSpec& spec) {
  engine::ContainerSpec& container = spec.task_template.container_spec;
  container.image = image.pinned;
  container.labels[kImageLabel] = image.user;
  container.labels[kPinnedImageLabel] = image.pinned;
  spec.labels[kPullLabel] = PullPolicyName(policy);
}

namespace {
std::string LabelOf(const engine::Labels& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}
}  // namespace

std::string ShownImage(const engine::ContainerSpec& container) {
  const std::string user = LabelOf(container.labels, kImageLabel);
  // Changed behind our back (e.g. `docker service update --image`): show what runs.
  if (user.empty() || LabelOf(container.labels, kPinnedImageLabel) != container.image)
    return container.image;
  return user;
}

bool HasHealthcheck(engine::DockerEngine& engine, const engine::ContainerSpec& container) {
  auto test_of = [](const std::optional<engine::HealthConfig>& h) -> std::optional<bool> {
    if (!h || h->test.empty()) return std::nullopt;
    return h->test[0] != "NONE";
  };
  if (auto own = test_of(container.healthcheck)) return *own;
  auto image = engine.InspectImage(container.image);
  if (!image.ok()) return false;
  return test_of(image->config.healthcheck).value_or(false);
}

std::string ShownPullPolicy(const engine::ServiceSpec& spec) {
  const std::string policy = LabelOf(spec.labels, kPullLabel);
  return policy.empty() ? "missing" : policy;
}

}  // namespace musketeer::cluster

// ---------------------------------------------------------------- Cluster's part

namespace musketeer::cluster {

absl::StatusOr<PinnedImage> Cluster::PinServiceImage(const nodes::Node& manager_node,
                                                     engine::DockerEngine& manager,
                                                     const std::string& ref, PullPolicy policy) {
  if (IsImmutableImageReference(ref)) return PinnedImage{ref, ref, {}, {}};
  // Every node the swarm may place a task on: in the swarm and ready (drained ones too:
  // they may be made active again). The manager first: it is the preferred source.
  std::set<std::string> ready;
  if (auto list = manager.ListNodes(); list.ok()) {
    for (const auto& n : *list)
      if (n.status.state == "ready") ready.insert(n.description.hostname);
  }
  std::vector<std::shared_ptr<engine::DockerEngine>> keep;  // alive while pinning
  std::vector<ImageHost> hosts{{manager_node.name, &manager}};
  for (auto& h : AllNodes()) {
    if (h.node.name == manager_node.name || h.node.state != nodes::NodeState::kRunning ||
        !ready.count(h.node.name) || Leaving(h.node.name))
      continue;
    keep.push_back(Engine(h.node));
    hosts.push_back({h.node.name, keep.back().get()});
  }
  // A node removed while its copy ran (`node rm`, `swarm leave`) is no failure of this call.
  return PinImage(ref, policy, hosts, [&](const std::string& node) {
    if (Leaving(node) || !FindNode(node).ok()) return false;
    auto list = manager.ListNodes();
    return !list.ok() || std::any_of(list->begin(), list->end(), [&](const engine::Node& n) {
      return n.description.hostname == node && n.status.state == "ready";
    });
  });
}

}  // namespace musketeer::cluster

namespace musketeer::cluster {

absl::StatusOr<PinnedImage> Cluster::PinUpdatedImage(const pb::UpdateServiceRequest& req,
                                                     PullPolicy* policy) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto current = m->second->InspectService(req.name());
  if (!current.ok()) {
    if (current.status().code() == absl::StatusCode::kNotFound)
      return absl::NotFoundError(absl::StrCat("service '", req.name(), "' does not exist"));
    return current.status();
  }
  const engine::ServiceSpec& spec = current->spec;
  auto p = ParsePullPolicy("pull", req.has_pull() ? req.pull() : ShownPullPolicy(spec));
  if (!p.ok()) return p.status();
  *policy = *p;
  const std::string ref =
      req.has_image() ? req.image() : ShownImage(spec.task_template.container_spec);
  return PinServiceImage(m->first, *m->second, ref, *policy);
}

}  // namespace musketeer::cluster
