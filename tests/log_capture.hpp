// What nullspace's loggers write while a test runs: a sink added to their
// shared sink (storage/common/logging.hpp) for the capture's lifetime,
// formatting lines as `--log-format` would.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "storage/common/log_format.hpp"

namespace nullspace::test {

class log_capture {
 public:
  explicit log_capture(logging::log_format format = logging::log_format::text);
  ~log_capture();
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  // Every line written so far, without its newline (thread-safe).
  std::vector<std::string> lines() const;
  std::string text() const;  // the lines, each ending in a newline

 private:
  class memory_sink;
  std::shared_ptr<memory_sink> sink_;
};

}  // namespace nullspace::test
