#include "storage/common/heap_trimmer.hpp"

#include <malloc.h>

namespace nullspace {

heap_trimmer::heap_trimmer(std::chrono::milliseconds min_interval)
    : min_interval_(min_interval), thread_([this] { run(); }) {}

heap_trimmer::~heap_trimmer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void heap_trimmer::request() {
  {
    std::lock_guard lock(mu_);
    if (requested_) return;
    requested_ = true;
  }
  cv_.notify_all();
}

size_t heap_trimmer::trims() const {
  std::lock_guard lock(mu_);
  return trims_;
}

void heap_trimmer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    lock.unlock();
    ::malloc_trim(0);
    lock.lock();
    ++trims_;
    // Requests meanwhile wait for the next run: one trim per interval at most.
    if (cv_.wait_for(lock, min_interval_, [&] { return stopping_; })) return;
  }
}

}  // namespace nullspace
