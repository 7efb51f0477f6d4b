// A fixed set of judge slots (one thread each) fed by a bounded queue.
// Thread-safe. Tasks receive the index of the slot they run in.
#ifndef JUDGE_SERVER_JUDGE_POOL_H_
#define JUDGE_SERVER_JUDGE_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace judge {

class JudgePool {
 public:
  using Task = std::function<void(int slot)>;

  // `in_service` is asked after every task: a slot it calls out of service (its cleanup
  // failed) takes no more tasks, and the pool shrinks by one.
  JudgePool(int slots, int queue_capacity, std::function<bool(int slot)> in_service = nullptr);
  ~JudgePool();  // drains
  JudgePool(const JudgePool&) = delete;
  JudgePool& operator=(const JudgePool&) = delete;

  // Queues a task. False when the queue is full or the pool is draining.
  bool TrySubmit(Task task);
  // Stops taking tasks; queued and running ones still finish.
  void Close();
  // Close(), then waits for every queued and running task and joins the slots.
  void Drain();

  int slots() const;  // in service
  int running() const;
  int queued() const;
  bool idle() const { return running() == 0 && queued() == 0; }

 private:
  void Loop(int slot);

  const int capacity_;
  const std::function<bool(int slot)> in_service_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int retired_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_JUDGE_POOL_H_
