// Engine calls that block (machine files, port connects, command reads) run on
// libuv's thread pool; their answer comes back on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>

namespace nullspace::api {

// Runs `work` on the thread pool, then `done(value)` on the loop thread. The
// client may have gone meanwhile: `done` checks exchange::connected() where it
// matters (respond() on a gone client is a no-op).
template <class T>
void off_loop(uv_loop_t* loop, std::function<T()> work, std::function<void(T&)> done) {
  struct job {
    uv_work_t req{};
    std::function<T()> work;
    std::function<void(T&)> done;
    std::optional<T> out;
  };
  auto* j = new job;
  j->req.data = j;
  j->work = std::move(work);
  j->done = std::move(done);
  int rc = uv_queue_work(
      loop, &j->req,
      [](uv_work_t* r) {
        static_cast<job*>(r->data)->out.emplace(static_cast<job*>(r->data)->work());
      },
      [](uv_work_t* r, int) {
        std::unique_ptr<job> j(static_cast<job*>(r->data));
        if (!j->out) j->out.emplace(j->work());  // cancelled (we never cancel): run it here
        j->done(*j->out);
      });
  if (rc != 0) {
    std::unique_ptr<job> owned(j);
    owned->out.emplace(owned->work());
    owned->done(*owned->out);
  }
}

}  // namespace nullspace::api
