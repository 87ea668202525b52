// Exit codes of the nullspace CLI and the one exception type that carries
// them to main(), which prints `nullspace: <message>` (redacted) on stderr.
#pragma once

#include <stdexcept>
#include <string>

namespace nullspace::cli {

enum exit_code : int {
  exit_ok = 0,           // ready, or the command succeeded
  exit_failed = 1,       // build error or cancelled; a 4xx/5xx answer other than 401
  exit_usage = 2,        // bad flags, unreadable inputs, a secret's env var not set
  exit_unreachable = 3,  // server unreachable, connection lost, or 401
};

class cli_error : public std::runtime_error {
 public:
  cli_error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// The server could not be reached, or the connection to it was lost (exit 3).
class unreachable_error : public cli_error {
 public:
  explicit unreachable_error(const std::string& message) : cli_error(exit_unreachable, message) {}
};

inline cli_error usage_error(const std::string& message) {
  return {exit_usage, message};
}

}  // namespace nullspace::cli
