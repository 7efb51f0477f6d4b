#include "judge_server/judge_pool.h"

namespace judge {

JudgePool::JudgePool(int slots, int queue_capacity, std::function<bool(int slot)> in_service)
    : capacity_(queue_capacity), in_service_(std::move(in_service)) {
  for (int i = 0; i < slots; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

JudgePool::~JudgePool() { Drain(); }

bool JudgePool::TrySubmit(Task task) {
  {
    std::lock_guard lock(mu_);
    // Idle slots take tasks at once; beyond them up to `capacity_` may wait.
    const int idle = static_cast<int>(threads_.size()) - retired_ - running_;
    if (draining_ || retired_ == static_cast<int>(threads_.size()) ||
        static_cast<int>(queue_.size()) >= capacity_ + idle)
      return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void JudgePool::Close() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  cv_.notify_all();
}

void JudgePool::Drain() {
  Close();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

int JudgePool::slots() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size()) - retired_;
}

int JudgePool::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int JudgePool::queued() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(queue_.size());
}

void JudgePool::Loop(int slot) {
  while (true) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return draining_ || !queue_.empty(); });
      if (queue_.empty()) return;  // draining and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task(slot);
    const bool usable = !in_service_ || in_service_(slot);
    std::lock_guard lock(mu_);
    --running_;
    if (!usable) {
      ++retired_;
      return;
    }
  }
}

}  // namespace judge
