#include "storage/common/heap_trimmer.hpp"

#include <malloc.h>

namespace nullspace {
namespace {

// Under AddressSanitizer, malloc is the sanitizer's own allocator and glibc's
// arenas are not what holds the heap; malloc_trim still walks them, and they
// can be half set up: CI's ASan tree saw nullspaced die in mtrim (a SEGV on
// a null bin) and in glibc's arena accounting at a thread's exit, both as an
// exit status 134. There is nothing of glibc's to give back then.
#ifdef __SANITIZE_ADDRESS__
constexpr bool glibc_heap = false;
#else
constexpr bool glibc_heap = true;
#endif

}  // namespace

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
    if (glibc_heap) ::malloc_trim(0);
    lock.lock();
    ++trims_;
    // Requests meanwhile wait for the next run: one trim per interval at most.
    if (cv_.wait_for(lock, min_interval_, [&] { return stopping_; })) return;
  }
}

}  // namespace nullspace
