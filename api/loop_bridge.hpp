// The http_bridge of DESIGN.md: the way into the libuv loop thread. Engine
// callbacks (which run on engine threads) post a task; the task then runs on
// the loop thread and may touch uv handles and connections. A mutex-guarded
// queue woken by uv_async_send: tasks run in posting order, in batches.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

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
  std::shared_ptr<loop_bridge_state> st_;
};

class loop_bridge {
 public:
  // Loop thread. The bridge takes posts until close().
  explicit loop_bridge(uv_loop_t* loop);
  ~loop_bridge();
  loop_bridge(const loop_bridge&) = delete;
  loop_bridge& operator=(const loop_bridge&) = delete;

  // Any thread: runs `task` on the loop thread, in posting order. After
  // close() tasks are dropped (their captures are destroyed on the caller).
  void post(loop_task task);
  loop_poster poster() const;

  // Loop thread: drops what is still queued and releases the uv handle.
  void close();

 private:
  std::shared_ptr<loop_bridge_state> st_;
};

}  // namespace nullspace::api
