#include "judge_server/compile_cache.h"

namespace judge {
namespace {
size_t SizeOf(const CompiledProgram& p) { return p.program.size() + p.message.size(); }
}  // namespace

std::shared_ptr<const CompiledProgram> CompileCache::Find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void CompileCache::Insert(const std::string& key, std::shared_ptr<const CompiledProgram> value) {
  if (SizeOf(*value) > max_bytes_) return;
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= SizeOf(*it->second->second);
    lru_.erase(it->second);
    index_.erase(it);
  }
  bytes_ += SizeOf(*value);
  lru_.emplace_front(key, std::move(value));
  index_[key] = lru_.begin();
  while (!lru_.empty() && (lru_.size() > max_entries_ || bytes_ > max_bytes_)) {
    bytes_ -= SizeOf(*lru_.back().second);
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

}  // namespace judge
