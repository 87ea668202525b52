// TCP ports something listens on in the network namespace of a process, as
// /proc/<pid>/net/tcp{,6} show them (the files show the reader's view of that
// process's namespace). Cheap: two small procfs reads, no namespace switch.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace nullspace::runtime {

// Sorted, each port once; empty if the process is gone.
std::vector<uint16_t> listening_tcp_ports(pid_t pid);

}  // namespace nullspace::runtime
