// Engine calls that block (machine files, port connects, background-command
// reads) run on the API's own worker threads; their answer comes back on the
// loop thread.
//
// Why not libuv's thread pool: its four threads are shared with the build-
// context uploads, and a file call may block as long as the machine's disk
// does; these workers are ours, and joined when the server stops.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "api/loop_bridge.hpp"

namespace nullspace::api {

class worker_pool {
 public:
  explicit worker_pool(size_t threads);
  ~worker_pool();  // stop()
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Any thread. After stop() tasks are dropped.
  void post(std::function<void()> task);
  // Runs the tasks already queued, then joins the threads.
  void stop();

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// Runs `work` on `pool`, then `done(value)` on the loop thread (through
// `poster`). The client may have gone meanwhile: respond() on a gone client is
// a no-op, and `done` must release anything else it was handed (e.g. an fd).
template <class T>
void off_loop(worker_pool& pool, loop_poster poster, std::function<T()> work,
              std::function<void(T&)> done) {
  pool.post([poster, work = std::move(work), done = std::move(done)]() mutable {
    auto out = std::make_shared<T>(work());
    poster.post([out, done = std::move(done)] { done(*out); });
  });
}

}  // namespace nullspace::api
