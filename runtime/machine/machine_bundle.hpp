// The OCI bundle of a machine: config.json (through the sandbox's
// oci_config_json, so a machine gets the same masked paths, capabilities and
// device rules as a build step) with nullspace-init as the process.
#pragma once

#include <string>
#include <vector>

#include "runtime/machine/machine_driver.hpp"

namespace nullspace::runtime {

// Where nullspace-init is bound inside every machine.
inline constexpr const char* machine_init_path = "/.nullspace/init";
// The descriptors the runtime passes to init (--preserve-fds): the start
// command's output file, its status file, and (when the request has envs) a
// memfd holding them as "K=V\0…", so their values never reach config.json.
inline constexpr int init_output_fd = 3;
inline constexpr int init_status_fd = 4;
inline constexpr int init_env_fd = 5;

struct machine_bundle_paths {
  std::string rootfs;       // the machine's overlay mount
  std::string netns;        // its network namespace file
  std::string init_binary;  // nullspace-init on the host
  std::string resolv_conf;  // bound read-only with internet access
  std::string cgroup;       // cgroupsPath
};

// The template's environment: the image's and env steps' ("K=V"), then its
// runtime_envs; a later value of a name replaces an earlier one. PATH
// defaults to the usual one. (A request's envs come on top, in init.)
std::vector<std::string> machine_env(const template_config& config);

// A template's STOPSIGNAL ("SIGINT", "9", "SIGRTMIN+3") as a number; 0 for ""
// or a name this host does not know.
int signal_number(const std::string& name);

// config.json for the machine: the template's environment only (the
// request's envs reach init through init_env_fd). With a stop signal other
// than SIGTERM, init stops the start command with it (nullspace_init.c).
std::string machine_config_json(const machine_spec& spec, const machine_bundle_paths& paths);

}  // namespace nullspace::runtime
