// A machine's cgroups (v1): the OCI runtime creates /nullspace-machines/<id>
// in every controller from the bundle's cgroupsPath and sets the limits
// (memory with swap = memory, CPU quota, pids). This reads what the driver
// needs back and removes what a crash left.
#pragma once

#include <cstdint>
#include <string>

namespace nullspace::runtime {

// How often the kernel killed a process of the machine for memory (the
// memory controller's oom_kill counter); 0 without a memory cgroup.
uint64_t machine_oom_kills(const std::string& id);

// Whether the freezer holds the machine (FROZEN or FREEZING).
bool machine_frozen(const std::string& id);

// Thaws the machine and SIGKILLs every process in its cgroups.
void kill_machine_processes(const std::string& id);

// Removes the machine's cgroup dirs in every controller. Idempotent.
void remove_machine_cgroups(const std::string& id);

// How many controllers still have a cgroup dir of the machine.
int machine_cgroup_dirs(const std::string& id);

}  // namespace nullspace::runtime
