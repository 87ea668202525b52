// Runs a short helper program (mkfs.ext4, runc delete, busybox --list) to
// completion and returns its exit status and combined output. Blocks: call it
// from a detached actor or a plain thread. Long-running or cancellable work
// (build steps, debootstrap) goes through process_runner instead.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct command_output {
  int exit_status = -1;    // -1 if killed by a signal
  std::string output;      // stdout and stderr interleaved, at most max_output bytes
  bool timed_out = false;  // run_command_within: killed at its timeout
};

// argv[0] is looked up in PATH. Fails only if the program cannot be started.
result<command_output> run_command(const std::vector<std::string>& argv,
                                   size_t max_output = 64 << 10);

// The same, bounded: once `timeout` passes, the program and every process
// below it are killed (process_tree.hpp: a command the OCI runtime's `exec`
// runs is below the runtime process) and it is reaped; `timed_out` says so.
result<command_output> run_command_within(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout,
                                          size_t max_output = 64 << 10);

// The last `n` non-empty lines of `text`, for error messages.
std::vector<std::string> last_lines(const std::string& text, size_t n);

}  // namespace nullspace::runtime
