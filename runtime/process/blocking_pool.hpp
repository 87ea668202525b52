// A fixed set of threads for blocking work (mounts, driver calls, file I/O)
// that must never run on CAF's shared workers or an event loop. Jobs run in
// submission order as threads free up; callers that need one-at-a-time per
// object (a machine) submit its next job only after the last one answered.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nullspace::runtime {

class blocking_pool {
 public:
  explicit blocking_pool(size_t threads);
  ~blocking_pool();  // runs the jobs already queued, then joins
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // Thread-safe. The job must not throw.
  void post(std::function<void()> job);

  size_t queued() const;

 private:
  void run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace nullspace::runtime
