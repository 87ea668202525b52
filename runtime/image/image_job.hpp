// A build's handle on making its base image, which may take minutes
// (debootstrap): progress lines flow out to the build's log, cancel flows in.
// The build actor keeps the job; the thread making the image (the build's
// sandbox worker) runs processes and waits through it, so that a cancel kills
// the running process and wakes every wait at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/process/process_runner.hpp"

namespace nullspace::runtime {

class image_job {
 public:
  // Called on a runner or worker thread; must not block.
  using progress_fn = std::function<void(std::vector<std::string>)>;

  explicit image_job(progress_fn on_progress = {}) : on_progress_(std::move(on_progress)) {}
  image_job(const image_job&) = delete;
  image_job& operator=(const image_job&) = delete;

  // Thread-safe and idempotent: kills the process run() is waiting for and ends
  // every wait.
  void cancel();
  bool cancelled() const;

  void progress(std::vector<std::string> lines) const;
  void progress(std::string line) const { progress(std::vector<std::string>{std::move(line)}); }

  // Runs `spec` under `runner` until it exits, passing its output lines on as
  // progress (after showing them to `observe`, if given, on the runner
  // thread). After cancel() the process is killed (and `killed` set).
  using observe_fn = std::function<void(const std::vector<std::string>&)>;
  process_exit run(process_runner& runner, process_spec spec, observe_fn observe = {});

  // Waits for `d` unless cancelled first; false if cancelled.
  bool pause(std::chrono::milliseconds d);

 private:
  progress_fn on_progress_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  process_runner* runner_ = nullptr;  // of the process run() waits for
  std::optional<uint64_t> running_;
};

}  // namespace nullspace::runtime
