// How many child processes this process has started through runtime/process
// (process_runner, run_command) and the machine driver's own spawns. Tests read
// it to prove that work costs no process (a cached build step) or exactly one
// (a trivial step: the OCI runtime's `run`, nothing else).
#pragma once

#include <cstdint>

namespace nullspace::runtime {

// Called once per child actually started.
void note_process_started();

uint64_t processes_started();

}  // namespace nullspace::runtime
