#include "runtime/image/image_job.hpp"

namespace nullspace::runtime {

void image_job::cancel() {
  std::lock_guard lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  if (running_) runner_->kill(*running_);
  cv_.notify_all();
}

bool image_job::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void image_job::progress(std::vector<std::string> lines) const {
  if (on_progress_ && !lines.empty()) on_progress_(std::move(lines));
}

process_exit image_job::run(process_runner& runner, process_spec spec, observe_fn observe) {
  if (cancelled()) {
    process_exit ex;
    ex.killed = true;
    return ex;
  }
  std::optional<process_exit> done;
  // The callbacks capture locals: we return only after on_exit, which comes
  // after the last lines callback.
  auto id = runner.spawn(
      std::move(spec),
      [this, observe = std::move(observe)](std::vector<output_line> lines) {
        std::vector<std::string> texts;
        texts.reserve(lines.size());
        for (auto& l : lines) texts.push_back(std::move(l.text));
        if (observe) observe(texts);
        progress(std::move(texts));
      },
      [this, &done](process_exit ex) {
        std::lock_guard lock(mu_);
        done = std::move(ex);
        cv_.notify_all();
      });
  std::unique_lock lock(mu_);
  runner_ = &runner;
  running_ = id;
  if (cancelled_) runner.kill(id);  // cancel() came before we knew the id
  cv_.wait(lock, [&] { return done.has_value(); });
  running_.reset();
  return std::move(*done);
}

bool image_job::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return cancelled_; });
  return !cancelled_;
}

}  // namespace nullspace::runtime
