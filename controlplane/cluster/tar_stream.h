// Streams a directory as a POSIX ustar archive (a Docker build context) without
// building it in memory: files are read piece by piece as the engine asks for more.
#ifndef CONTROLPLANE_CLUSTER_TAR_STREAM_H_
#define CONTROLPLANE_CLUSTER_TAR_STREAM_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/engine/engine_client.h"

namespace musketeer::cluster {

// A BodySource over the regular files and directories under `dir` (symlinks are followed
// only if they point to regular files). INVALID_ARGUMENT if `dir` is not a directory
// or has no Dockerfile.
absl::StatusOr<engine::BodySource> TarDirectory(const std::string& dir);

// A BodySource over one file (a root filesystem tarball).
absl::StatusOr<engine::BodySource> ReadFileSource(const std::string& path);

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_TAR_STREAM_H_
