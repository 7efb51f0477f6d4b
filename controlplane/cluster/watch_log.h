// WatchLog: the revisioned history behind the cluster-wide watch (musketeer.v1.ClusterWatch).
//
// It holds the current state of every watched object (nodes, services, tasks, each as the
// PUT event that last changed it) and the last `history` changes. Update() is given the
// whole state of some kinds as the live view last saw it; what differs from before becomes
// changes (PUT for new or changed objects, DELETE for gone ones), each with the next
// revision. A client resumes from the revision of the last event it saw (Since); when that
// is no longer in the history, or comes from another run (revisions start at the log's
// creation time in microseconds, so they grow across restarts), it gets the whole state
// again, marked as a reset.
//
// Events are immutable once recorded and shared: a watcher's catch-up (the whole state at
// 1,000 nodes is 11,000 events) copies pointers, not events.
//
// Thread-safety: thread-safe; WaitNewer blocks until Update records a change.
#ifndef CONTROLPLANE_CLUSTER_WATCH_LOG_H_
#define CONTROLPLANE_CLUSTER_WATCH_LOG_H_

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::cluster {

class WatchLog {
 public:
  // Revisions of this log start after `first_revision`.
  explicit WatchLog(uint64_t first_revision, size_t history = 10000);
  WatchLog(const WatchLog&) = delete;
  WatchLog& operator=(const WatchLog&) = delete;

  // `objects` is the whole state of the kinds in `kinds` (PUT events with kind, name and
  // object set); objects of other kinds are left as they are. Records what changed.
  void Update(const std::set<std::string>& kinds, std::vector<musketeer::v1::WatchEvent> objects,
              const std::string& observed_at);

  struct Catchup {
    bool reset = false;     // `since` could not be resumed: `events` is the whole state
    uint64_t revision = 0;  // the state `events` bring the client to
    std::vector<std::shared_ptr<const musketeer::v1::WatchEvent>> events;
  };
  // since == 0: the whole state (not a reset). Otherwise the changes after `since`, or,
  // when they are not all kept, the whole state as a reset.
  Catchup Since(uint64_t since) const;
  uint64_t revision() const;
  // Whether the revision passed `after` before `until`.
  bool WaitNewer(uint64_t after, absl::Time until) const;

 private:
  Catchup StateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t first_revision_;
  const size_t history_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_);
  struct Current {
    std::shared_ptr<const musketeer::v1::WatchEvent> event;  // the PUT that made it so
    std::string object;  // that event without revision and time, serialized: what is compared
  };
  // By kind, then name.
  std::map<std::string, std::map<std::string, Current>> state_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const musketeer::v1::WatchEvent>> changes_
      ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_WATCH_LOG_H_
