#include "judge_server/watchdog.h"

#include <boost/asio/post.hpp>

namespace judge {

Watchdog::Watchdog(std::vector<boost::asio::io_context*> contexts, Clock::duration stall_limit,
                   StallFn on_stall, Clock::duration period)
    : contexts_(std::move(contexts)),
      stall_limit_(stall_limit),
      period_(period),
      on_stall_(std::move(on_stall)) {
  const auto now = Clock::now().time_since_epoch().count();
  for (size_t i = 0; i < contexts_.size(); ++i) {
    beats_.push_back(std::make_shared<Beat>());
    beats_.back()->last = now;
  }
  thread_ = std::thread([this] { Run(); });
}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Run() {
  std::unique_lock lock(mu_);
  Clock::time_point last_wake = Clock::now();
  while (!stop_) {
    // One cheap handler per context and period: when it runs, the context is alive.
    for (size_t i = 0; i < contexts_.size(); ++i) {
      // Shared: a beat still queued when the watchdog is gone must not write freed memory.
      boost::asio::post(*contexts_[i], [beat = beats_[i]] {
        beat->last = Clock::now().time_since_epoch().count();
      });
    }
    if (cv_.wait_for(lock, period_, [this] { return stop_; })) return;
    const Clock::time_point now = Clock::now();
    // Woken far too late, the watchdog was held up itself (the process frozen by `docker
    // pause` or SIGSTOP, a starved machine): silence since then proves nothing. Start over.
    const bool held_up = now - last_wake > 3 * period_;
    last_wake = now;
    if (held_up) {
      for (auto& beat : beats_) beat->last = now.time_since_epoch().count();
      continue;
    }
    for (size_t i = 0; i < contexts_.size(); ++i) {
      const Clock::duration silent = now - Clock::time_point(Clock::duration(beats_[i]->last));
      if (silent >= stall_limit_) {
        lock.unlock();
        on_stall_(i, silent);
        return;
      }
    }
  }
}

}  // namespace judge
