#include "controlplane/cluster/watch_log.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>

namespace musketeer::cluster {

namespace pb = ::musketeer::v1;

namespace {
// An object's bytes whatever the order of its map fields (deterministic serialization sorts
// them): comparing these is far cheaper than protobuf's reflection-based differencer.
std::string Canonical(const pb::WatchEvent& e) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  return out;
}
}  // namespace

WatchLog::WatchLog(uint64_t first_revision, size_t history)
    : first_revision_(first_revision), history_(history), revision_(first_revision) {}

void WatchLog::Update(const std::set<std::string>& kinds, std::vector<pb::WatchEvent> objects,
                      const std::string& observed_at) {
  std::map<std::string, std::map<std::string, pb::WatchEvent>> next;
  for (auto& o : objects) {
    const std::string kind = o.kind(), name = o.name();
    next[kind][name] = std::move(o);
  }
  bool any = false;
  {
    std::lock_guard lock(mu_);
    auto record = [&](pb::WatchEvent e) {
      e.set_revision(++revision_);
      e.set_observed_at(observed_at);
      changes_.push_back(std::make_shared<const pb::WatchEvent>(std::move(e)));
      if (changes_.size() > history_) changes_.pop_front();
      any = true;
      return changes_.back();
    };
    for (const std::string& kind : kinds) {
      auto& now = state_[kind];
      auto& want = next[kind];
      for (auto it = now.begin(); it != now.end();) {
        if (want.count(it->first)) {
          ++it;
          continue;
        }
        pb::WatchEvent gone = *it->second.event;
        gone.set_type(pb::WatchEvent::DELETE);
        record(std::move(gone));
        it = now.erase(it);
      }
      for (auto& [name, e] : want) {
        e.set_type(pb::WatchEvent::PUT);
        e.clear_revision();
        e.clear_observed_at();
        std::string object = Canonical(e);
        auto it = now.find(name);
        if (it != now.end() && it->second.object == object) continue;
        now[name] = Current{record(std::move(e)), std::move(object)};
      }
    }
  }
  if (any) changed_.notify_all();
}

WatchLog::Catchup WatchLog::StateLocked() const {
  Catchup c;
  c.revision = revision_;
  for (const auto& [kind, objects] : state_)
    for (const auto& [name, current] : objects) c.events.push_back(current.event);
  return c;
}

WatchLog::Catchup WatchLog::Since(uint64_t since) const {
  std::lock_guard lock(mu_);
  if (since == 0) return StateLocked();
  // Resumable: `since` is this run's, not ahead of it, and every change after it is kept.
  const uint64_t oldest_resumable =
      changes_.empty() ? revision_ : changes_.front()->revision() - 1;
  if (since < first_revision_ || since > revision_ || since < oldest_resumable) {
    Catchup c = StateLocked();
    c.reset = true;
    return c;
  }
  Catchup c;
  c.revision = revision_;
  for (auto it = changes_.rbegin(); it != changes_.rend() && (*it)->revision() > since; ++it)
    c.events.push_back(*it);
  std::reverse(c.events.begin(), c.events.end());
  return c;
}

uint64_t WatchLog::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

bool WatchLog::WaitNewer(uint64_t after, absl::Time until) const {
  std::unique_lock lock(mu_);
  return changed_.wait_until(lock, absl::ToChronoTime(until), [&] { return revision_ > after; });
}

}  // namespace musketeer::cluster
