// The OCI runtime bundle configuration (config.json) for one sandboxed step or
// start command. nullspace writes the whole file itself: what a step may see and
// use is decided here, not by a runtime's defaults.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
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
  // Secrets bound read-only elsewhere: (id, absolute target), each the file
  // secrets_dir/<id>.
  std::vector<std::pair<std::string, std::string>> secret_files;
  std::vector<std::string> tmpfs;  // empty tmpfs dirs (RUN --mount=type=cache|tmpfs)
  // Machines: join this network namespace (an nsfs file) instead of the
  // host's or a fresh one; `network` then only decides the resolv.conf bind.
  std::string netns_path;
  // Host files or dirs bound read-only (source, absolute target).
  std::vector<std::pair<std::string, std::string>> readonly_binds;
  std::vector<std::pair<std::string, std::string>> writable_binds;  // (host source, target)
  bool tmp_tmpfs = true;  // /tmp is a tmpfs (steps); machines keep /tmp on their disk

  // Where the runtime mounts something the image may lack (it creates the
  // mount point, which must not stay in the step's layer).
  std::vector<std::string> mount_targets() const;
};

// config.json for `spec` (OCI runtime-spec 1.0.2; runc and crun both accept it).
std::string oci_config_json(const sandbox_spec& spec);

}  // namespace nullspace::runtime
