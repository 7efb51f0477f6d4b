// Files and directories the judge prepares for runs and removes after them: never
// following a link a run could have planted, never recursing (a run's tree may be deep).
#ifndef JUDGE_SERVER_FILES_H_
#define JUDGE_SERVER_FILES_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace judge {

// Removes `root` and everything below it, however deep, without following links.
absl::Status RemoveTree(const std::string& root);

// A fresh, empty directory at `path` (whatever was there is removed first).
absl::Status FreshDir(const std::string& path, mode_t mode, uid_t uid, gid_t gid);

// Creates `path` (it must not exist) with `data`, then gives it to uid:gid with `mode`.
absl::Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                          gid_t gid);

// Reads a plain file of at most `max_bytes`, refusing links and anything else.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, int64_t max_bytes);

// The shared token from a file (a Swarm secret under /run/secrets, say): its contents without
// trailing whitespace (a final newline is not part of the token). At most 64 KiB; an empty
// token is an error naming the file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace judge

#endif  // JUDGE_SERVER_FILES_H_
