// The engine's calls run CAF code on the caller's thread (spawning the actor
// that asks, a scoped_actor, an anon_send). CAF 0.17 then keeps a reference to
// the actor system's logger in a thread-local of that thread, and
// ~actor_system waits until every such reference is gone: a caller's thread
// that lives on (an embedder's pool, libuv's) would keep the engine's
// destructor waiting forever. Each such call holds a caller_thread_guard, so a
// thread that had no CAF logger before the call has none after it. CAF's own
// threads, which had one, keep it.
#pragma once

#include <caf/logger.hpp>

namespace nullspace {

class caller_thread_guard {
 public:
  caller_thread_guard() : foreign_(caf::logger::current_logger() == nullptr) {}
  ~caller_thread_guard() {
    if (foreign_) caf::logger::set_current_actor_system(nullptr);
  }
  caller_thread_guard(const caller_thread_guard&) = delete;
  caller_thread_guard& operator=(const caller_thread_guard&) = delete;

 private:
  bool foreign_;
};

}  // namespace nullspace
