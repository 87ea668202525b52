// Gives the allocator's free memory back to the system after a burst (a chatty
// build's log entries): glibc keeps freed heap pages in its arenas, so without
// this an engine's RSS stays at its highest point long after the builds that
// caused it ended. malloc_trim(0) runs on a thread of its own, at most once
// per `min_interval`, and only when asked since the last run. Under
// AddressSanitizer (its own allocator) a trim does nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace nullspace {

class heap_trimmer {
 public:
  explicit heap_trimmer(std::chrono::milliseconds min_interval = std::chrono::seconds(5));
  ~heap_trimmer();  // joins; a trim under way finishes first
  heap_trimmer(const heap_trimmer&) = delete;
  heap_trimmer& operator=(const heap_trimmer&) = delete;

  // Thread-safe and cheap: something that held much memory let it go.
  void request();

  // Trims done so far (tests).
  size_t trims() const;

 private:
  void run();

  const std::chrono::milliseconds min_interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stopping_ = false;
  size_t trims_ = 0;
  std::thread thread_;
};

}  // namespace nullspace
