// A machine driver runs machines started from template artifacts. The machine
// actor (actors/machine/) owns the lifecycle: states, deadlines, the durable
// record and log. The driver only does what a kind of machine needs done on
// this host, so the actor never learns what a machine is made of.
//
// Two drivers fit this interface:
//   container  an OCI container (crun, else runc) whose root is the artifact's
//              rootfs.ext4 mounted read-only under a private, size-bounded
//              writable layer, in its own network namespace and cgroups
//              (runtime/machine/container_driver.cpp)
//   microvm    (later) a QEMU microvm booting the same rootfs.ext4, commands
//              and files through a guest agent
//
// Threading: every call may block (mounts, runtime processes, probes) and must
// be made from a detached actor or a plain thread, never from CAF's shared
// workers. Calls for different machines may run concurrently; the caller
// serializes calls for one machine, except exec() and the command handles,
// which may be used from any thread while the machine runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/artifact/template_config.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/sandbox/ready_probe.hpp"

namespace nullspace::runtime {

struct machine_resources {
  uint32_t cpu_count = 0;       // 0: no CPU quota
  uint32_t memory_mb = 0;       // 0: no memory limit
  uint32_t disk_mb = 0;         // writable space; 0: the artifact's disk_mb
  bool internet_access = true;  // false: loopback only
};

// Everything needed to start one machine.
struct machine_spec {
  std::string id;            // "m_…": names the machine's host objects
  std::string artifact_id;   // the artifact dir's name (shared by machines of one build)
  std::string artifact_dir;  // rootfs.ext4, config.json, artifact.json
  template_config config;    // env, runtime envs, user, workdir, start command, ready check
  env_list envs;             // the request's envs: added last, override the template's
  machine_resources resources;
};

// What a driver needs to find a running machine again after nullspaced
// restarts. The actor stores it in the machine's record as is; only the driver
// reads it (container: runtime container id, netns, veth, address, loop devices).
struct machine_placement {
  std::string driver;  // "container"
  std::string json;
};

// What a machine is doing, as the host sees it.
struct machine_status {
  enum class state { running, paused, gone } machine = state::gone;
  // The start command (if any): still running, or how it ended.
  bool start_running = false;
  std::optional<int64_t> start_exit_status;  // exited normally
  int start_signal = 0;                      // killed by this signal
  bool oom = false;  // the memory limit was reached (the kernel killed something)
};

// Output of the start command, durable on the host so that it survives a
// daemon restart: bytes [offset, offset + data.size()) of its combined stream.
struct output_chunk {
  uint64_t offset = 0;
  std::string data;
};

// A command run inside a machine (POST /v1/machines/{id}/commands).
struct command_spec {
  std::vector<std::string> argv;  // run as is; a shell command is {"/bin/sh", "-c", cmd}
  env_list envs;                  // added to the machine's env
  std::string cwd;                // "" = the template's workdir
  std::string user;               // "" = the template's user; a name or uid[:gid]
  std::string stdin_data;         // written to the command's stdin, then closed
};

enum class command_stream { out, err };

struct command_exit {
  int64_t exit_code = -1;   // the exit status; 128 + signal when killed by a signal
  int term_signal = 0;      // the signal that ended it, 0 if none
  bool killed = false;      // by kill() (a timeout or a caller)
  bool oom = false;         // the memory limit was reached while it ran
  std::string start_error;  // non-empty if it could not be started at all
};

// A running command. Killing ends the command's whole process tree inside the
// machine, never the machine. Thread-safe; may outlive the driver call.
class command_handle {
 public:
  virtual ~command_handle() = default;
  virtual void kill() = 0;
};

struct command_callbacks {
  // Raw bytes as the command wrote them (not split into lines), in order per
  // stream. Called on a driver thread; must not block.
  std::function<void(command_stream, std::string_view)> on_output;
  // Once, after the last on_output.
  std::function<void(command_exit)> on_exit;
};

// A directory entry of GET …/files:list.
struct file_entry {
  std::string name;
  enum class kind { file, dir, symlink, other } type = kind::other;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits (07777)
  uint32_t uid = 0, gid = 0;
  int64_t mtime_ms = 0;
};

struct file_write {
  std::string path;  // absolute inside the machine
  std::string data;
  // A new file: mode 0644 and the template's user unless given; a replaced
  // file keeps its mode and owner unless given.
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid, gid;
  bool make_parents = true;
};

class machine_driver {
 public:
  virtual ~machine_driver() = default;
  virtual std::string name() const = 0;

  // Prepares the machine's root, network and limits and starts it: its init
  // and, if the template has one, the start command with the template's env,
  // user and workdir. Returns once the start command has been launched (not
  // when it is ready). On error nothing of the machine is left on the host;
  // the message says which part failed (and never holds an env value).
  virtual result<machine_placement> start(const machine_spec& spec) = 0;

  // Takes a machine back after a daemon restart. not_found if it is gone (the
  // caller then calls destroy() to remove what is left of it).
  virtual result<machine_status> adopt(const std::string& id, const machine_placement& p) = 0;

  virtual machine_status status(const std::string& id) = 0;

  // One look at the ready check, seen from inside the machine (a command
  // check runs in it and is bounded by the driver).
  virtual probe_result probe_ready(const std::string& id, const ready_check& check) = 0;

  // Start-command output from byte `from` (at most `max` bytes).
  virtual result<output_chunk> read_start_output(const std::string& id, uint64_t from,
                                                 size_t max) = 0;

  // Runs a command; its output and exit arrive through `callbacks`.
  virtual result<std::shared_ptr<command_handle>> exec(const std::string& id,
                                                       const command_spec& spec,
                                                       command_callbacks callbacks) = 0;

  // Files, resolved inside the machine's root: `..` and symlinks (absolute or
  // relative) never lead outside it, so no host file is ever read or written.
  // read_file: payload_too_large beyond max_bytes; failed_precondition for a
  // directory or a non-regular file. write_file replaces the file whole
  // (resource_exhausted when the machine's disk is full). remove_path:
  // not_found when nothing is at the path.
  virtual result<std::string> read_file(const std::string& id, const std::string& path,
                                        size_t max_bytes) = 0;
  virtual result<file_entry> write_file(const std::string& id, const file_write& w) = 0;
  virtual result<std::vector<file_entry>> list_dir(const std::string& id,
                                                   const std::string& path) = 0;
  virtual result<bool> remove_path(const std::string& id, const std::string& path,
                                   bool recursive) = 0;

  // A connected TCP socket (non-blocking, owned by the caller) to `port` on the
  // machine's loopback, for the HTTP port proxy. unavailable if nothing listens.
  virtual result<int> connect_port(const std::string& id, uint16_t port) = 0;

  // TCP ports something listens on inside the machine (sorted, each once).
  virtual std::vector<uint16_t> listening_ports(const std::string& id) = 0;

  // Freezes / thaws every process of the machine.
  virtual result<bool> pause(const std::string& id) = 0;
  virtual result<bool> resume(const std::string& id) = 0;

  // Stops the machine: SIGTERM to its processes, SIGKILL after `grace`, then
  // destroy(). Blocks for at most about `grace`.
  virtual result<bool> stop(const std::string& id, std::chrono::milliseconds grace) = 0;

  // Removes everything the machine left on the host (processes, mounts, loop
  // devices, cgroups, network namespace and links, its dir). Idempotent.
  virtual void destroy(const std::string& id) = 0;

  // Ids of machines this driver finds on the host (for removing those the
  // store no longer knows after a crash).
  virtual std::vector<std::string> host_machines() = 0;
};

}  // namespace nullspace::runtime
