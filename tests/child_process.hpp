// A real child process for end-to-end tests (nullspaced, the CLI, the README's
// shell commands): spawned with its own working dir and environment, stdout
// (and stderr, unless it goes to a file) on pipes. Every wait is on the
// child's output or exit, never on a clock; a poll bound of 10 minutes only
// turns a hang into a failed test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::test {

struct spawn_options {
  std::string cwd = {};                 // "" = the test's own
  std::vector<std::string> env = {};    // NAME=value, replacing ours of that name
  std::vector<std::string> unset = {};  // names of ours the child does not get
  std::string stderr_file = {};         // "" = a pipe, read into err()
};

class child_process {
 public:
  explicit child_process(std::vector<std::string> argv, const spawn_options& o = {});
  ~child_process();  // SIGKILLs and reaps a child still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Reads stdout until a whole line starts with `prefix`; that line, or ""
  // if stdout ended first.
  std::string line_starting(std::string_view prefix);
  // Reads the pipes to their end and reaps: the exit code (128 + signal if
  // killed).
  int finish();
  // SIGTERM, then finish().
  int terminate();

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  bool pump();  // one read from a ready pipe; false once both are at their end
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  size_t scanned_ = 0;  // of out_, by line_starting
  std::string out_, err_;
};

// The port of nullspaced's `listening on http://127.0.0.1:PORT` line, or 0
// if it exited without printing one.
uint16_t listening_port(child_process& daemon);

}  // namespace nullspace::test
