// Liveness from inside: a thread that checks every I/O thread still runs handlers, and calls
// `on_stall` (judge_server: log and exit, so that Swarm's restart policy replaces the task)
// when one has not for `stall_limit`. It replaces Docker's HEALTHCHECK as the image's
// liveness check: that one execs a probe in the container (about 45 ms of dockerd's and
// runc's CPU each time), and Swarm counts a task as running only once its first probe
// passed, one interval after the start: a floor under every deploy, scale and update.
// The same thing /healthz answers (the I/O path runs) is checked here for free, with a
// limit lenient enough that a loaded machine is not mistaken for a hung server.
#ifndef JUDGE_SERVER_WATCHDOG_H_
#define JUDGE_SERVER_WATCHDOG_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace judge {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // on_stall(index of the stalled context, how long it has not run a handler).
  using StallFn = std::function<void(size_t, Clock::duration)>;
  // Checks every `period`; on_stall runs at most once (from the watchdog's thread).
  Watchdog(std::vector<boost::asio::io_context*> contexts, Clock::duration stall_limit,
           StallFn on_stall, Clock::duration period = std::chrono::seconds(1));
  ~Watchdog();  // stops the thread
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  void Stop();

 private:
  void Run();
  struct Beat {
    std::atomic<Clock::rep> last;  // when a posted handler last ran on the context
  };
  std::vector<boost::asio::io_context*> contexts_;
  std::vector<std::shared_ptr<Beat>> beats_;
  const Clock::duration stall_limit_, period_;
  StallFn on_stall_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_WATCHDOG_H_
