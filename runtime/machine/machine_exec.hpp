// Runs commands inside machines: the OCI runtime's `exec`, on a private libuv
// loop thread, with the command's stdin fed from memory and its stdout and
// stderr delivered as raw bytes, as they arrive (not split into lines: the
// machine actor caps and frames them). The runtime process is the command's
// parent, so a kill ends the command's whole process tree (process_tree.hpp)
// and never the machine.
//
// Output written after the command's main process has ended, by something it
// left running in the background, is not waited for: what is in the pipes
// when the runtime exits is delivered, then on_exit.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/machine/machine_driver.hpp"

namespace nullspace::runtime {

struct exec_job {
  std::vector<std::string> argv;  // the runtime's command line (absolute argv[0])
  std::string stdin_data;         // written, then stdin is closed
  command_callbacks callbacks;
  // Called on the loop thread just before callbacks.on_exit, to complete the
  // exit (e.g. whether the machine ran out of memory meanwhile).
  std::function<void(command_exit&)> amend_exit;
};

class exec_runner {
 public:
  exec_runner();
  ~exec_runner();  // kills every running command and joins the loop thread
  exec_runner(const exec_runner&) = delete;
  exec_runner& operator=(const exec_runner&) = delete;

  // Thread-safe. Failures to start arrive through on_exit (start_error).
  std::shared_ptr<command_handle> run(exec_job job);

  // Commands accepted and not yet reported through on_exit.
  size_t running() const;

  struct impl;  // opaque; public only so that command handles can name it

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace nullspace::runtime
