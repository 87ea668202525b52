// Machines started from templates: their record, the request that starts
// one, commands run in them, files in their root. The engine calls are in
// engine.hpp; the HTTP contract is API.md's "Warm pools and machines".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nullspace/ids.hpp"

namespace nullspace {

//   starting → ready ⇄ paused;  ready|paused → stopping → stopped;  any → failed
// stopped and failed never change.
enum class machine_state { starting, ready, paused, stopping, stopped, failed };

const char* to_string(machine_state s);
std::optional<machine_state> parse_machine_state(std::string_view s);
bool is_terminal(machine_state s);

using env_pairs = std::vector<std::pair<std::string, std::string>>;  // keeps their order

struct machine_resources {
  uint32_t cpu_count = 0, memory_mb = 0, disk_mb = 0;
  bool internet_access = true;
};

// Why a machine failed or stopped.
struct machine_failure {
  std::string code;  // start_failed, ready_check_failed, ready_timeout, sandbox_failed, lost, …
  std::string message;                  // a human sentence
  std::vector<std::string> last_lines;  // the start command's last output lines, if any
};

// How a create was served from a warm pool (API.md: hit | fallback | bypass).
struct pool_checkout {
  std::string result;  // "hit", "fallback" or "bypass"; "" when no pool was involved
  std::string pool_id;
  uint64_t waited_ms = 0;
  std::string reason;  // why a fallback happened
};

// The durable record of one machine. It never holds env values (only names).
struct machine_record {
  std::string id;            // m_…
  std::string tenant;        // owner; never shown to other tenants
  std::string template_ref;  // as the request named it
  std::string build_id;      // the ready build it resolved to
  std::string namespace_name, template_name;
  std::string artifact_id;  // the artifact its root is made of
  machine_state state = machine_state::starting;
  machine_resources resources;
  std::vector<std::string> env_names;  // the request's envs, names only
  env_pairs labels;
  int64_t created_ms = 0, ready_ms = 0, finished_ms = 0;
  int64_t deadline_ms = 0;  // when it is stopped unless extended (0: none)
  std::optional<machine_failure> failure;
  std::string stop_reason;  // "deleted", "timeout", "engine shutdown", …
  pool_checkout checkout;
  std::string pool_id;         // the warm pool holding it (ready, not yet checked out)
  std::string driver;          // "container"
  std::string placement;       // the driver's own record of where it runs (opaque)
  uint64_t output_offset = 0;  // bytes of start-command output already in its log
};

// A machine as the API shows it.
struct machine_view {
  machine_record record;
  uint64_t log_next_offset = 0;
  std::vector<uint16_t> ports;  // TCP ports listening inside it (ready machines)
  machine_id id() const;
  std::string json() const;  // the API's `Machine` object
};

// POST /v1/machines.
struct machine_request {
  std::string template_ref;  // any ref the registry resolves (name = latest)
  env_pairs envs;            // added to the template's runtime envs; values never stored
  std::optional<uint32_t> cpu_count, memory_mb;  // override the template's, within limits
  std::optional<uint64_t> timeout_ms;            // default: engine_options::machines
  env_pairs labels;
  std::optional<bool>
      internet_access;  // false: loopback only (true never overrides a template's false)
  bool wait = true;     // answer once ready (else at `starting`)
  // Warm pools (API.md); until pools exist a request naming one is refused.
  std::string warm_pool;
  std::string warm_pool_mode;  // prefer | require | bypass
  std::optional<uint64_t> warm_pool_wait_ms;
  // Not part of the request body: the Idempotency-Key header ("" = none). The
  // same key and request again answer with the machine the first one made.
  std::string idempotency_key;
};

struct machine_list_options {
  std::optional<machine_state> state;
  std::string template_ref;  // as created with
  std::string label;         // "key" or "key=value"
  size_t limit = 50;
  std::string cursor;
};

// A command run in a machine (POST /v1/machines/{id}/commands).
struct command_request {
  std::string cmd;                // with shell: one shell line
  std::vector<std::string> argv;  // without shell: the program and its arguments
  bool shell = false;             // run `cmd` with /bin/sh -c
  env_pairs envs;
  std::string cwd;   // "" = the template's workdir
  std::string user;  // "" = the template's user
  // Kills the command's whole process tree, not the machine. Default: 60 s for
  // a command the caller waits for (streamed too), none for a background one.
  std::optional<uint64_t> timeout_ms;
  std::string stdin_data;
  bool background = false;  // answer at once with a command id
};

struct command_result {
  std::string command_id;  // background commands
  std::string stdout_data, stderr_data;
  int64_t exit_code = -1;  // 128 + signal when a signal ended it
  uint64_t duration_ms = 0;
  bool truncated = false;  // a stream passed engine_options::machines.max_output_bytes
  bool timed_out = false;  // timeout_ms passed and the command was killed
  bool killed = false;     // killed on request
  bool oom = false;        // the machine's memory limit was reached while it ran
  bool running = false;    // a background command still running
  std::string error;       // it could not start at all
  // A background command read from offsets: where its next reads start.
  uint64_t stdout_next = 0, stderr_next = 0;
};

// Output as a command writes it (streaming runs). Called on an engine thread;
// must not block.
struct command_stream_callbacks {
  std::function<void(std::string_view)> on_stdout, on_stderr;
  std::function<void(const command_result&)> on_exit;  // once, last
};

// A directory entry (GET …/files:list).
struct file_info {
  std::string name;
  std::string type;  // file | dir | symlink | other
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits
  uint32_t uid = 0, gid = 0;
  int64_t mtime_ms = 0;
};

struct file_write_options {
  std::optional<uint32_t> mode{};        // default 0644 for a new file
  std::optional<uint32_t> uid{}, gid{};  // default: the template's user
};

}  // namespace nullspace
