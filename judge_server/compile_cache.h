// Compiled programs keyed by a hash of language, compiler flags and source, so that a
// resubmission (or the same program judged on several test sets) skips the compiler.
// Compile errors are cached too. LRU, bounded by entries and bytes. Thread-safe.
#ifndef JUDGE_SERVER_COMPILE_CACHE_H_
#define JUDGE_SERVER_COMPILE_CACHE_H_

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"

namespace judge {

struct CompiledProgram {
  bool ok = false;
  std::string message;  // compiler diagnostics (CE) or empty
  std::string program;  // the executable, or the source of an interpreted language
};

class CompileCache {
 public:
  CompileCache(size_t max_entries, size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  std::shared_ptr<const CompiledProgram> Find(const std::string& key);
  void Insert(const std::string& key, std::shared_ptr<const CompiledProgram> value);

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const CompiledProgram>>;
  const size_t max_entries_;
  const size_t max_bytes_;
  std::mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace judge

#endif  // JUDGE_SERVER_COMPILE_CACHE_H_
