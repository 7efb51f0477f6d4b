// Image references a service runs by: the pull policy, pinning a tag to an immutable
// reference before the swarm sees it, and showing the user's reference again on reads.
//
// Why: a Swarm agent asked to run "judge_server:1.0" first tries to pull it from its
// registry, and with no registry reachable every task waits for the DNS lookup to time out
// (about 20 s) before falling back to the local image. For an image referenced by ID
// ("sha256:...") the agent never pulls, and for one referenced by a digest that it has
// locally ("repo@sha256:...") neither. So the control plane makes the image present on the
// nodes itself (copying it from a node that has it, or pulling it, as the policy says) and
// hands the swarm the immutable reference; the user's reference is kept in labels and is
// what the API shows.
#ifndef CONTROLPLANE_CLUSTER_IMAGE_REF_H_
#define CONTROLPLANE_CLUSTER_IMAGE_REF_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/engine/docker_engine.h"

namespace musketeer::cluster {

// docker's --pull: when to ask the image's registry.
enum class PullPolicy {
  kMissing,  // only when no node has the image (the default)
  kAlways,   // on every node, every time the image is set
  kNever,    // never: the image must be on a node already (built, imported or distributed)
};
// "" -> missing. INVALID_ARGUMENT naming `field` for anything else but always/never.
absl::StatusOr<PullPolicy> ParsePullPolicy(const std::string& field, const std::string& text);
const char* PullPolicyName(PullPolicy policy);

// Labels on the Engine's ContainerSpec (so that every task carries them too): the reference
// the user gave, and the immutable one it was pinned to. And on the service: its policy.
inline constexpr char kImageLabel[] = "com.musketeer.image";
inline constexpr char kPinnedImageLabel[] = "com.musketeer.image.pinned";
inline constexpr char kPullLabel[] = "com.musketeer.pull";
// Labels under this prefix are the control plane's own; users may not set them.
inline constexpr char kReservedLabelPrefix[] = "com.musketeer.";

// True for "sha256:<64 hex>" (an image ID) and "name@sha256:<64 hex>" (a digest).
bool IsImmutableImageReference(const std::string& ref);

// A node the image must be on before the swarm may schedule a task there.
struct ImageHost {
  std::string node;
  engine::DockerEngine* engine = nullptr;
};

struct PinnedImage {
  std::string user;                    // as given: "judge_server:1.0"
  std::string pinned;                  // what the swarm runs: "sha256:..." or "repo@sha256:..."
  std::vector<std::string> copied_to;  // nodes that got the image from another node
  std::vector<std::string> pulled_on;  // nodes that pulled it from its registry
};

// Makes `ref` present on every host (`hosts[0]`, the manager, is the preferred source) and
// returns the immutable reference that names the same image on all of them:
// - an image some host has is copied (save -> load, no registry) to the hosts that lack it
//   or have another image under that name, unless the policy is always;
// - with no host having it, missing pulls it on every host; never fails;
// - always pulls it on every host first.
// The pin is the registry digest when every host has the image by that digest (agents then
// also pull it on a node added later), else the image ID. A reference that is already
// immutable is returned as it is. Errors name the image, the node and what to do.
// Hosts are worked on in parallel; `hosts` must not be empty.
// `still_here(node)` is asked when copying to a node failed: a node that is leaving (or has
// left) the swarm meanwhile takes no tasks, so its failure does not fail the pin. Any other
// node's is FAILED_PRECONDITION naming it (one node's engine is not the service
// unavailable). Null: every node counts.
absl::StatusOr<PinnedImage> PinImage(const std::string& ref, PullPolicy policy,
                                     const std::vector<ImageHost>& hosts,
                                     const std::function<bool(const std::string&)>& still_here = {});

// Writes a pinned image into an Engine API service spec: TaskTemplate.ContainerSpec.Image
// and the labels above (the policy on the service).
void ApplyPinnedImage(const PinnedImage& image, PullPolicy policy, engine::ServiceSpec& spec);

// The reference to show for an Engine ContainerSpec (a service's or a task's): the user's
// when the spec still runs what it was pinned to, else the spec's own Image.
std::string ShownImage(const engine::ContainerSpec& container);
// A service's pull policy from its Engine spec's labels ("missing" when unset).
std::string ShownPullPolicy(const engine::ServiceSpec& spec);

// Whether tasks of this ContainerSpec have a healthcheck: the spec's own, else the image's
// (as `engine` has it; false when it lacks the image). Their agent reports such a task
// running only once a probe has passed.
bool HasHealthcheck(engine::DockerEngine& engine, const engine::ContainerSpec& container);

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_IMAGE_REF_H_
