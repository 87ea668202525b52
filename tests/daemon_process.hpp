// nullspaced as a child process of a test: its flags and environment, its
// stdout's `listening on` line, its exit. Killed (SIGKILL) if still running
// when the object goes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nullspace::test {

struct daemon_process {
  pid_t pid = -1;
  int out_fd = -1;  // its stdout
  std::string err_path;

  // Starts NULLSPACE_DAEMON with `args`, stderr appended to `err_file`.
  daemon_process(const std::vector<std::string>& args, const std::string& err_file,
                 const std::vector<std::string>& extra_env = {});
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  // Blocks until the daemon prints its `listening on` line (0 if it exits first).
  uint16_t port();
  // Waits for it to end: its exit status, or 128 + the signal that ended it.
  int wait_exit();
};

}  // namespace nullspace::test
