// Compose files (version 3) to what `docker stack deploy` makes of them: service specs,
// networks, secrets and configs, named as docker names them (STACK_KEY unless the file gives
// a `name`). The conversion follows docker/cli's compose loader and converter key for key:
// interpolation from the caller's environment, YAML merge keys, several files merged,
// docker's defaults, orders and warnings. What docker refuses is refused, naming the key.
#ifndef MUSKETEER_CONTROLPLANE_CLUSTER_COMPOSE_H_
#define MUSKETEER_CONTROLPLANE_CLUSTER_COMPOSE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::cluster {

struct ComposeInput {
  std::string stack;               // the stack's name (the prefix of what it makes)
  std::vector<std::string> files;  // the files' contents, merged in order
  // Defaulted ({}), so that {stack, files} is a whole ComposeInput.
  std::map<std::string, std::string> environment = {};    // for ${VAR}, env_file's bare KEY, ~
  std::map<std::string, std::string> files_content = {};  // secrets/configs `file`, env_file
  std::string working_dir = {};  // relative bind sources are resolved against it ("": refused)
};

// A network the stack makes (or, external, only uses).
struct ComposeNetwork {
  std::string key;   // the file's name for it
  std::string name;  // the swarm's
  bool external = false;
  std::string driver = "overlay";
  std::map<std::string, std::string> driver_opts, labels;  // labels with the stack's
  bool attachable = false, internal = false;
  std::string ipam_driver;
  std::vector<std::string> subnets;
};

// A secret or config the stack makes from a file (or, external, only uses).
struct ComposeData {
  std::string key, name;
  bool external = false;
  std::string data;
  std::map<std::string, std::string> labels;  // with the stack's
};

struct ComposeStack {
  std::vector<musketeer::v1::ServiceSpec> services;  // named STACK_SERVICE, names resolved
  std::vector<ComposeNetwork> networks;  // the ones services use, in name order
  std::vector<ComposeData> secrets, configs;  // the ones services use
  std::vector<std::string> warnings;  // docker's: ignored and deprecated keys, unset variables
};

absl::StatusOr<ComposeStack> LoadCompose(const ComposeInput& input);

// ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, $VAR and $$ in `text`, from `env`.
// An unset variable without a default is empty and named in `unset`. INVALID_ARGUMENT
// naming `field` for a malformed template or a required variable that is missing.
absl::StatusOr<std::string> Interpolate(const std::string& text,
                                        const std::map<std::string, std::string>& env,
                                        const std::string& field, std::vector<std::string>* unset);

}  // namespace musketeer::cluster

#endif  // MUSKETEER_CONTROLPLANE_CLUSTER_COMPOSE_H_
