#include "controlplane/cluster/tar_stream.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace musketeer::cluster {
namespace fs = std::filesystem;
namespace {

struct Entry {
  std::string name;  // relative, '/'-separated
  fs::path path;
  bool dir = false;
  uint64_t size = 0;
  unsigned mode = 0644;  // permission bits, kept so executables stay executable
};

// One 512-byte ustar header.
absl::StatusOr<std::string> Header(const Entry& e) {
  std::string h(512, '\0');
  std::string name = e.dir ? e.name + "/" : e.name, prefix;
  if (name.size() > 100) {
    auto slash = name.rfind('/', name.size() - 2);
    while (slash != std::string::npos && name.size() - slash - 1 > 100)
      slash = name.rfind('/', slash - 1);
    if (slash == std::string::npos || slash > 155) {
      return absl::InvalidArgumentError(absl::StrCat("path too long for a build context: ", name));
    }
    prefix = name.substr(0, slash);
    name = name.substr(slash + 1);
  }
  memcpy(&h[0], name.data(), name.size());
  auto octal = [&](size_t off, size_t len, uint64_t v) {
    std::string s = absl::StrFormat("%0*o", static_cast<int>(len - 1), v);
    memcpy(&h[off], s.data(), len - 1);
  };
  octal(100, 8, e.mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, e.dir ? 0 : e.size);
  octal(136, 12, 0);
  h[156] = e.dir ? '5' : '0';
  memcpy(&h[257],
         "ustar\0"
         "00",
         8);
  memcpy(&h[345], prefix.data(), prefix.size());
  memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::string chk = absl::StrFormat("%06o", sum);
  memcpy(&h[148], chk.data(), 6);
  h[154] = '\0';
  return h;
}

class TarSource {
 public:
  explicit TarSource(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  absl::StatusOr<size_t> Read(char* buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
      if (!pending_.empty()) {
        size_t k = std::min(cap - n, pending_.size() - pending_pos_);
        memcpy(buf + n, pending_.data() + pending_pos_, k);
        n += k;
        pending_pos_ += k;
        if (pending_pos_ == pending_.size()) pending_.clear(), pending_pos_ = 0;
        continue;
      }
      if (file_.is_open()) {
        file_.read(buf + n, std::min<uint64_t>(cap - n, remaining_));
        size_t got = file_.gcount();
        if (got == 0)
          return absl::DataLossError(absl::StrCat("a build context file shrank while being sent"));
        n += got;
        remaining_ -= got;
        if (remaining_ == 0) {
          file_.close();
          if (size_t pad = (512 - current_size_ % 512) % 512) pending_.assign(pad, '\0');
        }
        continue;
      }
      if (next_ < entries_.size()) {
        const Entry& e = entries_[next_++];
        auto h = Header(e);
        if (!h.ok()) return h.status();
        pending_ = *h;
        if (!e.dir && e.size > 0) {
          file_.open(e.path, std::ios::binary);
          if (!file_) return absl::NotFoundError(absl::StrCat("cannot read ", e.path.string()));
          remaining_ = current_size_ = e.size;
        }
        continue;
      }
      if (!trailer_sent_) {
        trailer_sent_ = true;
        pending_.assign(1024, '\0');
        continue;
      }
      break;
    }
    return n;
  }

 private:
  std::vector<Entry> entries_;
  size_t next_ = 0;
  std::string pending_;
  size_t pending_pos_ = 0;
  std::ifstream file_;
  uint64_t remaining_ = 0, current_size_ = 0;
  bool trailer_sent_ = false;
};

}  // namespace

absl::StatusOr<engine::BodySource> TarDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::InvalidArgumentError(
        absl::StrCat("context_dir: '", dir, "' is not a directory on the control plane's machine"));
  if (!fs::exists(fs::path(dir) / "Dockerfile", ec))
    return absl::InvalidArgumentError(absl::StrCat("context_dir: '", dir, "' has no Dockerfile"));
  std::vector<Entry> entries;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    Entry e;
    e.path = it->path();
    e.name = fs::relative(it->path(), dir).generic_string();
    e.mode = static_cast<unsigned>(it->status(ec).permissions()) & 0777;
    if (it->is_directory(ec)) {
      e.dir = true;
    } else if (it->is_regular_file(ec)) {
      e.size = it->file_size(ec);
    } else {
      continue;
    }
    entries.push_back(std::move(e));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read ", dir, ": ", ec.message()));
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  auto source = std::make_shared<TarSource>(std::move(entries));
  return engine::BodySource([source](char* buf, size_t cap) { return source->Read(buf, cap); });
}

absl::StatusOr<engine::BodySource> ReadFileSource(const std::string& path) {
  auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*in)
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' cannot be read on the control plane's machine"));
  return engine::BodySource([in](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    in->read(buf, cap);
    return static_cast<size_t>(in->gcount());
  });
}

}  // namespace musketeer::cluster
