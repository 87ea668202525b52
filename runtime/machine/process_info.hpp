// Watching a process the driver did not start itself (a container's first
// process, found again after a daemon restart): identified by pid AND start
// time, so a pid the kernel has reused is never taken for it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace nullspace::runtime {

// Start time of `pid` in clock ticks since boot (/proc/<pid>/stat); 0 if
// there is no such process.
uint64_t process_start_time(pid_t pid);

// Whether the process (pid, start) exists and has not exited. An exited one
// that became our child (this process may be a child subreaper) is reaped.
bool process_alive(pid_t pid, uint64_t start);

// Waits up to `timeout` for the process (pid, start) to exit; true once it
// has (or never existed). Reaps it if it is our child.
bool wait_process_exit(pid_t pid, uint64_t start, std::chrono::milliseconds timeout);

}  // namespace nullspace::runtime
