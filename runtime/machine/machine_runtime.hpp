// The OCI runtime (crun or runc) as the container driver drives it, with its
// state dir (--root) under DATA/machines/.runtime so that a restarted daemon
// finds its containers again.
//
// Blocking (each call runs the runtime to completion): call from a detached
// actor or a plain thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

class machine_runtime {
 public:
  machine_runtime(std::string binary, std::string state_root);
  const std::string& binary() const { return binary_; }
  const std::string& state_root() const { return state_root_; }

  // `run --detach`: the container outlives this process. Its first process
  // gets stdin from /dev/null, stdout and stderr appended to `log` (where
  // the runtime's own errors land too) and `fds` as its fds 3, 4, …
  // Returns the host pid of the container's first process.
  result<pid_t> run_detached(const std::string& container, const std::string& bundle,
                             const std::string& log, const std::vector<int>& fds) const;

  // The command line of `exec` (run by exec_runner): as uid:gid in `cwd`,
  // `env` ("K=V") added to the container's environment.
  std::vector<std::string> exec_argv(const std::string& container, uint32_t uid, uint32_t gid,
                                     const std::string& cwd, const std::vector<std::string>& env,
                                     const std::vector<std::string>& argv) const;

  result<bool> pause(const std::string& container) const;
  result<bool> resume(const std::string& container) const;
  // `delete --force`: kills what runs and removes the runtime's state. Quiet.
  void remove(const std::string& container) const;
  // Container ids in the state dir.
  std::vector<std::string> containers() const;

 private:
  result<bool> simple(const std::string& verb, const std::string& container) const;
  std::string binary_;
  std::string state_root_;
};

}  // namespace nullspace::runtime
