#include "judge_server/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace judge {
namespace fs = std::filesystem;

// Removes a tree without recursion, without an open descriptor per level and without
// long paths (a 25,000-deep tree defeats all three), never following links: every
// subdirectory is first moved up to the top level, so nothing is ever more than two
// levels deep, then emptied and removed.
absl::Status RemoveTree(const std::string& root) {
  auto fail = [&](const char* what) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", root, ": ", what, ": ", strerror(errno)));
  };
  struct stat st;
  if (lstat(root.c_str(), &st) != 0) return errno == ENOENT ? absl::OkStatus() : fail("stat");
  if (!S_ISDIR(st.st_mode)) return unlink(root.c_str()) == 0 ? absl::OkStatus() : fail("unlink");
  int root_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_fd < 0) return fail("open");
  absl::Cleanup close_root = [&] { close(root_fd); };
  uint64_t hoisted = 0;
  // Empties `dir_fd`: files are unlinked, directories moved to the top level.
  auto empty_dir = [&](int dir_fd, bool is_root) -> bool {
    DIR* d = fdopendir(dir_fd);
    if (d == nullptr) return false;
    bool ok = true;
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      struct stat est;
      if (fstatat(dirfd(d), e->d_name, &est, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISDIR(est.st_mode)) {
        ok = unlinkat(dirfd(d), e->d_name, 0) == 0 && ok;
      } else if (!is_root) {
        std::string name = absl::StrCat(".rm-", hoisted++);
        ok = renameat(dirfd(d), e->d_name, root_fd, name.c_str()) == 0 && ok;
      }
    }
    closedir(d);
    return ok;
  };
  for (int64_t round = 0; round < 10'000'000; ++round) {
    int scan = dup(root_fd);
    if (scan < 0) return fail("dup");
    lseek(scan, 0, SEEK_SET);
    if (!empty_dir(scan, true)) return fail("empty");
    // The top level now holds only directories: empty each (hoisting its subdirectories)
    // and remove it.
    DIR* d = fdopendir(dup(root_fd));
    if (d == nullptr) return fail("list");
    rewinddir(d);
    bool any = false;
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      any = true;
      int sub = openat(root_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) empty_dir(sub, false);
      unlinkat(root_fd, e->d_name, AT_REMOVEDIR);  // may need another round: checked below
    }
    closedir(d);
    if (!any) return rmdir(root.c_str()) == 0 ? absl::OkStatus() : fail("rmdir");
  }
  errno = E2BIG;
  return fail("too many entries");
}

// A fresh directory: whatever was at `path` is removed first (never followed).
absl::Status FreshDir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  if (auto s = RemoveTree(path); !s.ok()) return s;
  if (mkdir(path.c_str(), mode) != 0 || chown(path.c_str(), uid, gid) != 0 ||
      chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                          gid_t gid) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) break;
    done += n;
  }
  bool ok = done == data.size() && fchown(fd, uid, gid) == 0 && fchmod(fd, mode) == 0;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Reads the compiler's output without following a link the compile could have planted.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, int64_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("the compiler produced no executable");
  struct stat st;
  std::string data;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > max_bytes) {
    close(fd);
    return absl::FailedPreconditionError("the compiler's output is not a plain file of sane size");
  }
  data.resize(st.st_size);
  ssize_t n = pread(fd, data.data(), data.size(), 0);
  close(fd);
  if (n != st.st_size) return absl::InternalError("short read of the executable");
  return data;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  // Not ReadRegularFile: its messages speak of compiler output. A secret is a plain file
  // (Swarm mounts it so); anything else is refused too.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("token file ", path, ": cannot open it: ", strerror(errno)));
  }
  absl::Cleanup closer = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024) {
    return absl::FailedPreconditionError(
        absl::StrCat("token file ", path, ": not a plain file of at most 64 KiB"));
  }
  std::string token(st.st_size, '\0');
  if (pread(fd, token.data(), token.size(), 0) != st.st_size)
    return absl::FailedPreconditionError(absl::StrCat("token file ", path, ": short read"));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty())
    return absl::InvalidArgumentError(absl::StrCat("token file ", path, " is empty"));
  return token;
}

}  // namespace judge
