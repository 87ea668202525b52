// The http_bridge of DESIGN.md: an actor whose mailbox is drained on the libuv
// loop thread. Engine callbacks (which run on CAF threads) send it a task; the
// task then runs on the loop thread and may touch uv handles and connections.
// Built on actor_companion (shared CAF notes, example 06): on_enqueue runs on
// the sender's thread, queues the message and wakes the loop with uv_async_send.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace caf {
class actor_system;
class actor;
}  // namespace caf

namespace nullspace::api {

using loop_task = std::function<void()>;
struct loop_bridge_state;

// A copyable handle for posting that may outlive the bridge (posts after
// close() are dropped): engine callbacks hold this, never the bridge itself.
class loop_poster {
 public:
  void post(loop_task task) const;

 private:
  friend class loop_bridge;
  std::shared_ptr<struct loop_bridge_state> st_;
};

class loop_bridge {
 public:
  // Loop thread. The bridge actor lives until close().
  loop_bridge(caf::actor_system& sys, uv_loop_t* loop);
  ~loop_bridge();
  loop_bridge(const loop_bridge&) = delete;
  loop_bridge& operator=(const loop_bridge&) = delete;

  // Any thread: runs `task` on the loop thread, in posting order. After
  // close() tasks are dropped (their captures are destroyed on the caller).
  void post(loop_task task);
  loop_poster poster() const;

  // Loop thread: stops the actor and releases the uv handle.
  void close();

  using state = loop_bridge_state;

 private:
  std::shared_ptr<state> st_;
};

}  // namespace nullspace::api
