// nullspaced as the harness runs it: started on a data dir, its port read
// from its `listening on` line, killed with -9 (or ended with SIGTERM), and
// started again on the same data dir.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nullspace::chaos {

class daemon_child {
 public:
  daemon_child(std::string binary, std::vector<std::string> args, std::string log_path);
  ~daemon_child();  // SIGKILLs a daemon still running
  daemon_child(const daemon_child&) = delete;
  daemon_child& operator=(const daemon_child&) = delete;

  // Starts it and waits for its `listening on` line (deadline: start_ms, for
  // the recovery of everything the data dir holds); 0 if it did not come.
  uint16_t start(int start_ms);
  void kill9();  // SIGKILL and reap
  // SIGTERM; its exit status (128 + signal if one ended it), or -1 if it did
  // not exit within `deadline_ms` (then it is killed).
  int terminate(int deadline_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }

 private:
  std::string binary_, log_path_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace nullspace::chaos
