// Probes a template's ready check against its running start command, seen
// from inside the container: through the namespaces of the container's first
// process (/proc/<pid>/ns/net, /proc/<pid>/root), so a private network or a
// tmpfs mounted in the container is what the check sees.
//
// Blocking (each probe is bounded by about two seconds): call from a detached
// actor or a plain thread. Command checks are run by the caller (`runc exec`).
#pragma once

#include <sys/types.h>

#include <string>

#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct probe_result {
  bool ready = false;
  std::string detail;  // what the probe saw: "connection refused", "HTTP 503", …
};

// port: a TCP connection to 127.0.0.1:<port> succeeds; url: an HTTP(S) GET
// answers 2xx or 3xx; file: the path exists. Not for command checks.
probe_result probe_ready(const ready_check& check, pid_t container_pid);

// "port 8000", "url http://…", "file /tmp/ready", "command test -f /x".
std::string describe(const ready_check& check);

}  // namespace nullspace::runtime
