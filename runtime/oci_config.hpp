// The OCI runtime bundle configuration (config.json) for one sandboxed step or
// start command. nullspace writes the whole file itself: what a step may see and
// use is decided here, not by a runtime's defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nullspace::runtime {

struct sandbox_spec {
  std::string rootfs;  // absolute path of the (overlay-mounted) root filesystem
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::string hostname = "nullspace";
  // false: the sandbox gets its own network namespace, which has only loopback.
  bool network = true;
  std::string resolv_conf = "/etc/resolv.conf";  // bound read-only when network is on
  uint32_t cpu_count = 0;                        // 0: no CPU quota
  uint64_t memory_bytes = 0;  // 0: no memory limit (swap is limited to the same value)
  int64_t pids_limit = 4096;
  std::string cgroups_path;  // absolute, e.g. /nullspace/<build>/<step>
  // Host dir bound read-only at /run/secrets (files on a memory tmpfs); "" = none.
  std::string secrets_dir;
};

// config.json for `spec` (OCI runtime-spec 1.0.2; runc and crun both accept it).
std::string oci_config_json(const sandbox_spec& spec);

}  // namespace nullspace::runtime
