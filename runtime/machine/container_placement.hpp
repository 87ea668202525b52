// What the container driver records about a started machine: the opaque
// machine_placement::json the actor stores, and DATA/machines/<id>/placement.json,
// so adopt() after a restart and destroy() after a crash know what to undo.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::runtime {

struct container_placement {
  std::string runtime;      // the OCI runtime binary that started it
  std::string container;    // its container id (nsm-<id>)
  std::string artifact_id;  // whose shared read-only mount it holds
  uint32_t disk_mb = 0;     // its writable space
  // Network: loopback only, or a veth with a /30 out of the driver's range.
  bool internet = false;
  int64_t slot = -1;  // the /30's index in the range; -1 without one
  std::string veth, host_ip, guest_ip;
  // The template's user and workdir: what exec() uses by default.
  std::string user = "root";
  uint32_t uid = 0, gid = 0;
  std::string workdir = "/";
  uint32_t memory_mb = 0, cpu_count = 0;
  // The container's first process (nullspace-init) on the host, with its start
  // time in clock ticks since boot, so a reused pid is never taken for it.
  pid_t init_pid = 0;
  uint64_t init_start = 0;
  // The request's envs: their names are kept with the placement; their values
  // ("K=V") only in memory, never on disk (they may be credentials). After an
  // adoption they are read back from init's environment (/proc/<init>/environ).
  std::vector<std::string> env_names;
  std::vector<std::string> request_env;  // not in json()

  std::string json() const;
  static std::optional<container_placement> parse(std::string_view json);
};

}  // namespace nullspace::runtime
