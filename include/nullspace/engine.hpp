// libnullspace: the build engine embedded in a C++ program (no HTTP needed).
//
//   auto eng = nullspace::engine::open({.data_dir = "./data"});
//   auto b = eng.value()->submit(R"({"name":"demo","builder":{...}})");
//   auto done = eng.value()->wait_until_terminal(b->record.id, std::chrono::minutes(5));
//
// Every call is thread-safe. Calls that name a build take the caller's tenant:
// another tenant's build is reported as not_found, never revealed.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/request/plan.hpp"
#include "runtime/request/request_parser.hpp"
#include "storage/build_record.hpp"
#include "storage/log_entry.hpp"
#include "storage/store.hpp"

namespace caf {
class actor_system;
}

namespace nullspace {

using storage::build_record;
using storage::build_status;
using storage::log_entry;
using storage::raw_entry;  // {offset, JSON text of the entry}

// Where build steps run.
enum class isolation {
  host,     // plain processes in a per-build dir on the host: no base image, no
            // isolation; for unprivileged development and engine tests only
  sandbox,  // an OCI container (runc/crun) over overlay layers of a real base
            // image, with cgroup limits and an optional private network; needs root
};

// How long artifacts are kept (docs/ARCHITECTURE.md, "Retention"). A build a
// tag points at keeps its artifact for as long as the tag does.
struct retention_options {
  std::chrono::milliseconds untagged_ready = std::chrono::hours(24 * 7);
  std::chrono::milliseconds failed = std::chrono::hours(24);  // failed and cancelled builds
  std::chrono::milliseconds sweep_interval = std::chrono::minutes(10);
};

struct engine_options {
  std::string data_dir = "./data";        // RocksDB and per-build work dirs live here
  uint32_t executor_slots = 2;            // builds running at once
  size_t max_queued = 1024;               // queued builds beyond this: resource_exhausted
  bool sync = false;                      // fsync the WAL on every commit (WAL is always on)
  size_t scheduler_threads = 2;           // CAF worker threads
  runtime::platform_limits limits;        // what requests are validated against
  size_t status_cache_bytes = 32u << 20;  // get_status_json answers kept (0: none)
  isolation isolation_mode = isolation::host;
  std::string oci_runtime;  // "runc", "crun" or "" (runc, else crun); sandbox only
  std::string images_dir;   // base images ("" = DATA/images); may be shared by engines
  std::string debian_mirror = runtime::default_debian_mirror;  // for debootstrap images
  std::string contexts_dir;  // uploaded build contexts ("" = DATA/contexts)
  retention_options retention;
  // The tenants the embedder knows of (nullspaced: its API keys' tenants). Each
  // one's default namespace, its own name, is claimed for it at start-up, so no
  // other tenant can take it first.
  std::vector<std::string> tenants;
  // Milliseconds since the epoch, for retention; tests inject a fake clock.
  std::function<int64_t()> clock;
};

// What one retention sweep did.
struct sweep_summary {
  uint32_t expired = 0, artifacts_deleted = 0, layers_deleted = 0;
  uint64_t bytes_freed = 0;
  bool layers_deferred = false;  // builds were running: their layers go next time
};

// Filters of list_templates / list_builds (API.md "Templates").
struct template_list_options {
  std::string namespace_name, visibility;  // "" = any
  size_t limit = 50;
  std::string cursor;
};
struct build_list_options {
  std::optional<build_status> status;
  std::optional<bool> tagged;
  std::string backend;
  size_t limit = 50;
  std::string cursor;
};

// A template after a registry change. `json` is the API's Template object.
struct template_view {
  std::string namespace_name, name, visibility;
  std::string json;
};

// A build as the API shows it.
struct build_view {
  build_record record;
  uint64_t log_next_offset = 0;
  std::string json() const;  // the API's `Build` object
};

// get_status: the build plus log entries from an offset.
struct status_view {
  build_view build;
  std::vector<raw_entry> logs;
  uint64_t next_offset = 0;
  std::string json() const;  // {"build": …, "logs": […], "next_offset": K}
};

// get_status already encoded, for servers that answer pollers.
struct status_json {
  std::shared_ptr<const std::string> body;  // exactly status_view::json()
  build_status status{};
  size_t entries = 0;  // log entries in the body
};

struct retry_options {
  std::optional<std::vector<std::string>> tags;  // absent: the original build's tags
  std::vector<runtime::build_secret> secrets;    // fresh values for the original ids
};

// A live subscription; destroying it (or stop()) unsubscribes. Callbacks run on
// an engine thread, one at a time, in offset order; keep them short. A handle
// may outlive its engine: the engine ends every follower when it shuts down.
class follow_handle {
 public:
  virtual ~follow_handle() = default;
  virtual void stop() = 0;
};

struct follow_callbacks {
  std::function<void(const std::vector<raw_entry>&)> on_entries;
  std::function<void(const build_view&)> on_end;  // once, with the terminal build
};

class engine {
 public:
  // Opens the store under options.data_dir, starts the actor tree and recovers
  // every unfinished build. Fails with a clear error (e.g. data dir unusable).
  // Relative data_dir, images_dir and contexts_dir are made absolute first,
  // against the working directory at this call (options() shows the result).
  static result<std::unique_ptr<engine>> open(engine_options options);
  ~engine();  // stops running builds (they resume on the next open) and closes the store
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Parse + validate + submit. Errors name the offending field.
  result<build_view> submit(std::string_view request_json, const std::string& tenant = "default");
  result<build_view> submit(runtime::build_request request, const std::string& tenant = "default");

  runtime::parse_outcome validate(std::string_view request_json) const;
  result<runtime::build_plan> plan(std::string_view request_json) const;

  result<status_view> get_status(const std::string& id, uint64_t offset = 0, size_t limit = 1000,
                                 const std::string& tenant = "default") const;
  // The same answer as get_status(…).json(), served from a cache while the
  // build is unchanged (engine_options::status_cache_bytes).
  result<status_json> get_status_json(const std::string& id, uint64_t offset = 0,
                                      size_t limit = 1000,
                                      const std::string& tenant = "default") const;
  result<build_view> cancel(const std::string& id, const std::string& reason,
                            const std::string& tenant = "default");
  result<build_view> retry(const std::string& id, retry_options options,
                           const std::string& tenant = "default");

  // Asynchronous forms for event loops (the HTTP server). `done` runs exactly
  // once: on an engine thread, or on the calling thread when the call fails
  // before reaching an actor. Keep it short and never block inside it.
  template <class T>
  using callback = std::function<void(result<T>)>;
  void submit_async(runtime::build_request request, const std::string& tenant,
                    callback<build_view> done);
  void cancel_async(const std::string& id, const std::string& reason, const std::string& tenant,
                    callback<build_view> done);
  void retry_async(const std::string& id, retry_options options, const std::string& tenant,
                   callback<build_view> done);

  // Blocks until the build is terminal or `timeout` passes (then unavailable).
  result<build_view> wait_until_terminal(const std::string& id, std::chrono::milliseconds timeout,
                                         const std::string& tenant = "default");
  // Stored entries from `offset`, then live ones, with no gap or duplicate, then on_end.
  result<std::unique_ptr<follow_handle>> follow(const std::string& id, uint64_t offset,
                                                follow_callbacks callbacks,
                                                const std::string& tenant = "default");

  // ---- template registry: refs are name, ns/name, name:tag, ns/name@tb_… ----
  // Reads answer with the API's JSON: {"template": T}, {"templates": […],
  // "next_cursor"}, {"builds": […], "next_cursor"}, {"aliases": […]}.
  result<std::string> get_template_json(const std::string& ref,
                                        const std::string& tenant = "default") const;
  result<std::string> list_templates_json(const template_list_options& options,
                                          const std::string& tenant = "default") const;
  result<std::string> list_builds_json(const std::string& ref, const build_list_options& options,
                                       const std::string& tenant = "default") const;
  result<std::string> list_aliases_json(const std::string& ref,
                                        const std::string& tenant = "default") const;
  // Changes. `ref` of assign_tags names the build (its tag, @id, or latest).
  result<template_view> assign_tags(const std::string& ref, const std::vector<std::string>& tags,
                                    const std::string& tenant = "default");
  result<template_view> remove_tag(const std::string& ref, const std::string& tag,
                                   const std::string& tenant = "default");
  result<build_view> promote(const std::string& build_id, const std::string& tag,
                             const std::string& tenant = "default");
  result<template_view> add_alias(const std::string& ref, const std::string& alias,
                                  const std::string& tenant = "default");
  result<template_view> remove_alias(const std::string& ref, const std::string& alias,
                                     const std::string& tenant = "default");
  result<template_view> reserve_name(const std::string& namespace_name, const std::string& name,
                                     const std::string& tenant = "default");
  result<template_view> rename(const std::string& ref, const std::string& new_name,
                               const std::string& new_namespace = {},
                               const std::string& tenant = "default");
  result<template_view> set_visibility(const std::string& ref, const std::string& visibility,
                                       const std::string& tenant = "default");
  result<template_view> delete_template(const std::string& ref,
                                        const std::string& tenant = "default");
  // The same changes for event loops: `done` runs once, on an engine thread.
  struct registry_change {
    enum kind {
      assign_tags,
      remove_tag,
      add_alias,
      remove_alias,
      reserve,
      rename,
      set_visibility,
      remove
    } what{};
    std::string ref;                  // reserve: the name
    std::vector<std::string> values;  // tags, {tag}, {alias}, {new name}, {visibility}
    std::string namespace_name;       // reserve/rename target ("" = default/same)
  };
  void change_template_async(registry_change change, const std::string& tenant,
                             callback<template_view> done);
  // The blocking form of change_template_async (the calls above use it).
  result<template_view> change_template(registry_change change,
                                        const std::string& tenant = "default");
  void promote_async(const std::string& build_id, const std::string& tag, const std::string& tenant,
                     callback<build_view> done);
  // Runs retention now with the engine's clock (the registry also does every
  // retention.sweep_interval).
  result<sweep_summary> sweep_retention();

  // A build context finished uploading: builds waiting for it are queued.
  result<bool> context_uploaded(const std::string& context_id, std::string_view manifest_json);

  struct stats {
    uint64_t queued = 0, running = 0, live = 0;
    uint64_t entries_appended = 0, batches_written = 0, followers = 0;
    std::array<uint64_t, 6> builds_by_status{};  // index: storage::build_status
    uint64_t status_cache_hits = 0, status_cache_misses = 0;
  };
  stats current_stats() const;

  caf::actor_system& actor_system();
  storage::store& store();
  const engine_options& options() const;

  struct impl;

 private:
  explicit engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace nullspace
