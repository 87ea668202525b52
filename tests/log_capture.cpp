#include "tests/log_capture.hpp"

#include <spdlog/sinks/base_sink.h>

#include <mutex>

#include "storage/common/logging.hpp"

namespace nullspace::test {

class log_capture::memory_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::string s(line.data(), line.size());
    if (!s.empty() && s.back() == '\n') s.pop_back();
    lines_.push_back(std::move(s));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

log_capture::log_capture(logging::log_format format) : sink_(std::make_shared<memory_sink>()) {
  sink_->set_formatter(logging::make_formatter(format));
  logging::add_sink(sink_);
}

log_capture::~log_capture() {
  logging::remove_sink(sink_);
}

std::vector<std::string> log_capture::lines() const {
  return sink_->lines();
}

std::string log_capture::text() const {
  std::string out;
  for (auto& l : lines()) out += l + "\n";
  return out;
}

}  // namespace nullspace::test
