// The `container` machine driver: each machine is an OCI container (crun when
// it works on this host, else runc) started detached, so it outlives a daemon
// restart and is adopted back. See docs/ARCHITECTURE.md, "Machines: the
// container driver", and machine_layout.hpp for where its pieces live.
//
//   root      the artifact's rootfs.ext4 loop-mounted read-only (once per
//             artifact, shared) under the machine's own writable layer: a
//             sparse ext4 image of disk_mb on a loop device (overlayfs)
//   PID 1     nullspace-init (bound read-only at /.nullspace/init): starts the
//             start command as the template's user, records how it ends,
//             reaps orphans, forwards SIGTERM
//   network   its own namespace; loopback only, or a veth pair with NAT
//   limits    cgroup v1: memory (swap = memory), CPU quota, pids, freezer
//   commands  the runtime's `exec`, raw output streamed (machine_exec.hpp)
//   files     through /proc/<init>/root with openat2(RESOLVE_IN_ROOT)
//
// Needs root, an OCI runtime, loop devices, e2fsprogs (mkfs.ext4), iptables
// (for machines with internet access) and the nullspace-init binary.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/machine/artifact_mounts.hpp"
#include "runtime/machine/container_placement.hpp"
#include "runtime/machine/machine_driver.hpp"
#include "runtime/machine/machine_exec.hpp"
#include "runtime/machine/machine_layout.hpp"
#include "runtime/machine/machine_network.hpp"
#include "runtime/machine/machine_runtime.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

struct container_driver_options {
  std::string data_dir;                          // machines live under DATA/machines
  std::string oci_runtime;                       // as engine_options::oci_runtime
  std::string init_binary;                       // nullspace-init; "" = next to this executable
  std::string network_range = "10.88.0.0/16";    // one /30 per machine with internet access
  std::string resolv_conf = "/etc/resolv.conf";  // bound read-only into machines with internet
  std::chrono::milliseconds command_probe_timeout{10000};  // a ready check's command
};

class container_driver final : public machine_driver {
 public:
  // Checks what machines need (runtime, init binary, range), counts the
  // artifact mounts the machines on disk use, unmounts the others.
  static result<std::unique_ptr<container_driver>> open(const container_driver_options& options);
  ~container_driver() override;

  std::string name() const override { return "container"; }
  result<machine_placement> start(const machine_spec& spec) override;
  result<machine_status> adopt(const std::string& id, const machine_placement& p) override;
  machine_status status(const std::string& id) override;
  probe_result probe_ready(const std::string& id, const ready_check& check) override;
  result<output_chunk> read_start_output(const std::string& id, uint64_t from, size_t max) override;
  result<std::shared_ptr<command_handle>> exec(const std::string& id, const command_spec& spec,
                                               command_callbacks callbacks) override;
  result<std::string> read_file(const std::string& id, const std::string& path,
                                size_t max_bytes) override;
  result<file_entry> write_file(const std::string& id, const file_write& w) override;
  result<std::vector<file_entry>> list_dir(const std::string& id, const std::string& path) override;
  result<bool> remove_path(const std::string& id, const std::string& path, bool recursive) override;
  result<int> connect_port(const std::string& id, uint16_t port) override;
  result<bool> pause(const std::string& id) override;
  result<bool> resume(const std::string& id) override;
  result<bool> stop(const std::string& id, std::chrono::milliseconds grace) override;
  void destroy(const std::string& id) override;
  std::vector<std::string> host_machines() override;
  std::vector<uint16_t> listening_ports(const std::string& id) override;

  const machine_layout& layout() const { return layout_; }
  const std::string& runtime_binary() const { return runtime_.binary(); }

 private:
  container_driver(const container_driver_options& options, std::string runtime_binary,
                   std::string init_binary);
  // The placement of a machine this driver runs (started or adopted).
  std::optional<container_placement> known(const std::string& id);
  // Its placement if its container's first process still runs.
  result<container_placement> running(const std::string& id);
  // The machine's root as its processes see it: /proc/<init>/root.
  result<int> open_root(const std::string& id);
  result<machine_placement> start_steps(const machine_spec& spec, container_placement& p);

  container_driver_options options_;
  machine_layout layout_;
  machine_runtime runtime_;
  std::string init_binary_;
  artifact_mounts artifacts_;
  machine_network network_;
  exec_runner exec_;
  std::mutex mu_;
  std::map<std::string, container_placement> machines_;  // guarded by mu_
  // A sock_diag socket per machine, made in its namespace on first use (for
  // listening_ports); one dump at a time each.
  struct diag_socket {
    std::mutex mu;
    unique_fd fd;
  };
  std::map<std::string, std::shared_ptr<diag_socket>> diag_;  // guarded by mu_
};

}  // namespace nullspace::runtime
