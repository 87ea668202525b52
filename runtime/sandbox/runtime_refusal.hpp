// What an OCI runtime (runc, crun) said when it did not start a container.
//
// A sandboxed step runs as `runc run --pid-file …`: the runtime writes the pid
// file only once the container's process runs. Without it, a non-zero exit is
// the runtime refusing (a bundle it cannot use, a mount or cgroup failing, its
// state dir unusable): our machinery, not the user's command. The one
// exception is a process the runtime could not execute (the program is not in
// the image, the working dir is a file): the step's own doing, as in Docker.
#pragma once

#include <string>
#include <vector>

namespace nullspace::runtime {

struct runtime_refusal {
  std::string message;         // the runtime's own words, one line
  bool step_at_fault = false;  // the step's program or working dir cannot be used
};

// Reads the lines a runtime printed before giving up (logrus `msg="…"` lines
// are unwrapped; runc's `time=… level=…` prefix goes). `lines` may be empty.
runtime_refusal read_runtime_refusal(const std::vector<std::string>& lines);

}  // namespace nullspace::runtime
