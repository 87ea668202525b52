// libnullspace: the build engine embedded in a C++ program (no HTTP needed).
//
//   auto eng = nullspace::engine::open({.data_dir = "./data"});
//   auto b = eng.value()->submit(R"({"name":"demo","builder":{...}})");
//   auto done = eng.value()->wait_until_terminal(b->id(), std::chrono::minutes(5));
//
// Every call is thread-safe. Calls that name something take the caller's
// tenant: another tenant's build or template is reported as not_found, never
// revealed. docs/EMBEDDING.md says which thread runs each callback and what
// may block.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/build.hpp"
#include "nullspace/error.hpp"
#include "nullspace/ids.hpp"
#include "nullspace/log.hpp"
#include "nullspace/machine.hpp"
#include "nullspace/options.hpp"
#include "nullspace/pool.hpp"
#include "nullspace/templates.hpp"

namespace nullspace {

namespace detail {
struct engine_access;  // the library's own tests and tools reach inside through it
}  // namespace detail

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

// A machine's log: the same kind of subscription, ending with the machine.
struct machine_follow_callbacks {
  std::function<void(const std::vector<raw_entry>&)> on_entries;
  std::function<void(const machine_view&)> on_end;  // once it is stopped or failed
};

// A warm pool's log: the same kind of subscription; on_end once the pool is deleted.
struct pool_follow_callbacks {
  std::function<void(const std::vector<raw_entry>&)> on_entries;
  std::function<void(const pool_view&)> on_end;
};

// A page of list_machines.
struct machine_page {
  std::vector<machine_view> machines;
  std::string next_cursor;  // "" on the last page
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

  // Asynchronous calls (for event loops such as the HTTP server) take a
  // `done` that runs exactly once: on an engine thread, or on the calling
  // thread when the call fails before reaching an actor. Keep it short and
  // never block inside it.
  template <class T>
  using callback = std::function<void(result<T>)>;

  // ---- builds ----
  // Parse + validate + submit. A refused request fails with its first problem
  // as the error and every problem found in error.details.
  result<build_view> submit(std::string_view request_json,
                            const tenant_id& tenant = default_tenant());
  void submit_async(std::string_view request_json, const tenant_id& tenant,
                    callback<build_view> done);
  // With an idempotency key (API.md, "Idempotency"; "" = none): the same key
  // and request again answer with the build the first one made, another
  // request under the key is conflict (reason idempotency_key_reused). The key
  // is stored with the build's first record; it expires after
  // retention.idempotency_keys.
  void submit_async(std::string_view request_json, const tenant_id& tenant,
                    std::string_view idempotency_key, callback<build_view> done);

  validation validate(std::string_view request_json) const;
  // The normalized plan: {"backend", "base", "steps": [{index, type, summary,
  // cache_key}], "resources"} (API.md, POST /v1/builds:plan); a template
  // source's ONBUILD triggers (as `tenant` sees the template) are its first
  // steps, and "onbuild_triggers" names them.
  result<std::string> plan_json(std::string_view request_json,
                                const tenant_id& tenant = default_tenant()) const;

  result<status_view> get_status(const build_id& id, log_offset offset = {}, size_t limit = 1000,
                                 const tenant_id& tenant = default_tenant()) const;
  // The same answer as get_status(…).json(), served from a cache while the
  // build is unchanged (engine_options::status_cache_bytes).
  result<status_json> get_status_json(const build_id& id, log_offset offset = {},
                                      size_t limit = 1000,
                                      const tenant_id& tenant = default_tenant()) const;

  // Stored entries only, from `offset` (at most `limit`): a replay that needs no status.
  result<std::vector<raw_entry>> read_log(const build_id& id, log_offset offset, size_t limit,
                                          const tenant_id& tenant = default_tenant()) const;
  // The same without a copy per entry: `take` sees each stored entry with
  // offset in [offset, upto), in order, as a view valid during the call, and
  // returns false to leave it and stop. Answers the offset after the last one
  // taken. Replays read pages of their log this way (api/log_streams.cpp).
  result<uint64_t> scan_log(const build_id& id, log_offset offset, uint64_t upto,
                            const std::function<bool(uint64_t, std::string_view)>& take,
                            const tenant_id& tenant = default_tenant()) const;

  result<build_view> cancel(const build_id& id, const std::string& reason,
                            const tenant_id& tenant = default_tenant());
  void cancel_async(const build_id& id, const std::string& reason, const tenant_id& tenant,
                    callback<build_view> done);
  // A new build from the sanitized stored definition (retry_of = id).
  result<build_view> retry(const build_id& id, retry_options options,
                           const tenant_id& tenant = default_tenant());
  void retry_async(const build_id& id, retry_options options, const tenant_id& tenant,
                   callback<build_view> done);

  // Blocks until the build is terminal or `timeout` passes (then request_timeout).
  result<build_view> wait_until_terminal(const build_id& id, std::chrono::milliseconds timeout,
                                         const tenant_id& tenant = default_tenant());
  // Stored entries from `offset`, then live ones, with no gap or duplicate, then on_end.
  result<std::unique_ptr<follow_handle>> follow(const build_id& id, log_offset offset,
                                                follow_callbacks callbacks,
                                                const tenant_id& tenant = default_tenant());

  // ---- build contexts ----
  // Stores a tar archive (content-addressed) and queues the builds waiting
  // for it. Blocks while it hashes and fsyncs: call it off any event loop.
  result<context_info> upload_context(std::string_view tar);
  // Template.inspect_build_context: the files, warnings and unsupported
  // entries of a local tar (`is_tar`) or of the uploaded contexts a build
  // request names, plus the sanitized request. The API's JSON answer.
  result<std::string> inspect_context_json(std::string_view body, bool is_tar) const;

  // ---- template registry ----
  // Reads answer with the API's JSON: {"template": T}, {"templates": […],
  // "next_cursor"}, {"builds": […], "next_cursor"}, {"aliases": […]}.
  result<std::string> get_template_json(const template_ref& ref,
                                        const tenant_id& tenant = default_tenant()) const;
  result<std::string> list_templates_json(const template_list_options& options,
                                          const tenant_id& tenant = default_tenant()) const;
  result<std::string> list_builds_json(const template_ref& ref, const build_list_options& options,
                                       const tenant_id& tenant = default_tenant()) const;
  result<std::string> list_aliases_json(const template_ref& ref,
                                        const tenant_id& tenant = default_tenant()) const;
  // Changes. `ref` of assign_tags names the build (its tag, @id, or latest).
  result<template_view> assign_tags(const template_ref& ref, const std::vector<std::string>& tags,
                                    const tenant_id& tenant = default_tenant());
  result<template_view> remove_tag(const template_ref& ref, const std::string& tag,
                                   const tenant_id& tenant = default_tenant());
  result<build_view> promote(const build_id& id, const std::string& tag,
                             const tenant_id& tenant = default_tenant());
  void promote_async(const build_id& id, const std::string& tag, const tenant_id& tenant,
                     callback<build_view> done);
  result<template_view> add_alias(const template_ref& ref, const std::string& alias,
                                  const tenant_id& tenant = default_tenant());
  result<template_view> remove_alias(const template_ref& ref, const std::string& alias,
                                     const tenant_id& tenant = default_tenant());
  result<template_view> reserve_name(const std::string& namespace_name, const std::string& name,
                                     const tenant_id& tenant = default_tenant());
  result<template_view> rename(const template_ref& ref, const std::string& new_name,
                               const std::string& new_namespace = {},
                               const tenant_id& tenant = default_tenant());
  result<template_view> set_visibility(const template_ref& ref, const std::string& visibility,
                                       const tenant_id& tenant = default_tenant());
  result<template_view> delete_template(const template_ref& ref,
                                        const tenant_id& tenant = default_tenant());
  // Any of the changes above as one value (the HTTP routes use the async form).
  result<template_view> change_template(registry_change change,
                                        const tenant_id& tenant = default_tenant());
  void change_template_async(registry_change change, const tenant_id& tenant,
                             callback<template_view> done);
  // Runs retention now with the engine's clock (the registry also does every
  // retention.sweep_interval).
  result<sweep_summary> sweep_retention();

  // ---- cache mounts (Dockerfile RUN --mount=type=cache) ----
  // Deletes the tenant's cache dirs that no running step holds. Blocks while
  // it deletes: call it off any event loop.
  result<cache_mount_prune> prune_cache_mounts(const tenant_id& tenant = default_tenant());

  // ---- machines (isolation::sandbox only; else failed_precondition) ----
  // Starts a machine from a template ref. With request.wait the answer comes
  // once it is ready (or failed: the error says why); else at `starting`.
  result<machine_view> create_machine(const machine_request& request,
                                      const tenant_id& tenant = default_tenant());
  void create_machine_async(machine_request request, const tenant_id& tenant,
                            callback<machine_view> done);
  result<machine_view> get_machine(const machine_id& id,
                                   const tenant_id& tenant = default_tenant()) const;
  result<machine_page> list_machines(const machine_list_options& options,
                                     const tenant_id& tenant = default_tenant()) const;
  // Stops it: SIGTERM to its processes, SIGKILL after the grace period; answers
  // once it is stopped and nothing of it is left on the host.
  result<machine_view> stop_machine(const machine_id& id,
                                    const tenant_id& tenant = default_tenant());
  void stop_machine_async(const machine_id& id, const tenant_id& tenant,
                          callback<machine_view> done);
  result<machine_view> pause_machine(const machine_id& id,
                                     const tenant_id& tenant = default_tenant());
  result<machine_view> resume_machine(const machine_id& id,
                                      const tenant_id& tenant = default_tenant());
  // A new deadline `timeout` from now (within machine_options::max_timeout).
  result<machine_view> set_machine_timeout(const machine_id& id, std::chrono::milliseconds timeout,
                                           const tenant_id& tenant = default_tenant());
  // The same four for event loops.
  enum class machine_change { stop, pause, resume, timeout };
  void change_machine_async(const machine_id& id, machine_change change,
                            std::chrono::milliseconds timeout, const tenant_id& tenant,
                            callback<machine_view> done);

  // Runs a command to its end (or, with request.background, starts it and
  // answers with its command_id at once).
  result<command_result> run_command(const machine_id& id, const command_request& request,
                                     const tenant_id& tenant = default_tenant());
  // run_command for event loops: `done` gets the whole result.
  void run_command_async(const machine_id& id, command_request request, const tenant_id& tenant,
                         callback<command_result> done);
  // Streams a command's output as it comes; callbacks.on_exit ends it. `done`
  // reports only whether it started (its value is the command id).
  void run_command_async(const machine_id& id, command_request request, const tenant_id& tenant,
                         command_stream_callbacks callbacks, callback<std::string> done);
  // A background command: its state and output from the given offsets.
  result<command_result> get_command(const machine_id& id, const std::string& command_id,
                                     uint64_t stdout_offset, uint64_t stderr_offset,
                                     const tenant_id& tenant = default_tenant()) const;
  result<command_result> kill_command(const machine_id& id, const std::string& command_id,
                                      const tenant_id& tenant = default_tenant());

  // Files, resolved inside the machine's root (never a host file). These block
  // on the machine's filesystem: call them off any event loop.
  result<std::string> read_file(const machine_id& id, const std::string& path,
                                const tenant_id& tenant = default_tenant());
  result<file_info> write_file(const machine_id& id, const std::string& path, std::string data,
                               const file_write_options& options = {},
                               const tenant_id& tenant = default_tenant());
  result<std::vector<file_info>> list_files(const machine_id& id, const std::string& path,
                                            const tenant_id& tenant = default_tenant());
  result<void> remove_file(const machine_id& id, const std::string& path, bool recursive = false,
                           const tenant_id& tenant = default_tenant());
  // A connected, non-blocking TCP socket to `port` inside the machine (the
  // caller owns it), for proxies. unavailable when nothing listens there.
  result<int> connect_port(const machine_id& id, uint16_t port,
                           const tenant_id& tenant = default_tenant());

  // The machine's durable log (start output, ready checks, commands, events).
  result<std::unique_ptr<follow_handle>> follow_machine(const machine_id& id, log_offset offset,
                                                        machine_follow_callbacks callbacks,
                                                        const tenant_id& tenant = default_tenant());
  result<std::vector<raw_entry>> read_machine_log(const machine_id& id, log_offset offset,
                                                  size_t limit,
                                                  const tenant_id& tenant = default_tenant()) const;

  // ---- warm pools (isolation::sandbox only) ----
  // A pool keeps spec.min_ready machines of its template ready (at most
  // max_ready); create_machine with request.warm_pool takes one. `pool` names
  // one by id (wp_…) or by name; another tenant's pool is not_found.
  result<pool_view> create_pool(const pool_spec& spec, const tenant_id& tenant = default_tenant());
  result<pool_view> get_pool(const std::string& pool,
                             const tenant_id& tenant = default_tenant()) const;
  result<std::vector<pool_view>> list_pools(const tenant_id& tenant = default_tenant()) const;
  // Stops refilling (ready machines stay; checkouts fall back) / starts again
  // (also clears `degraded`).
  result<pool_view> disable_pool(const std::string& pool,
                                 const tenant_id& tenant = default_tenant());
  result<pool_view> enable_pool(const std::string& pool,
                                const tenant_id& tenant = default_tenant());
  // Stops its ready machines; answers once none is left (then `disabled`).
  result<pool_view> drain_pool(const std::string& pool, const tenant_id& tenant = default_tenant());
  // Drains, then removes the record. Checked-out machines live on.
  result<pool_view> delete_pool(const std::string& pool,
                                const tenant_id& tenant = default_tenant());
  // Blocks until `min_ready` machines are ready: request_timeout after
  // `timeout`; conflict at once when the pool is degraded.
  result<pool_view> wait_until_pool_ready(const std::string& pool, uint32_t min_ready,
                                          std::chrono::milliseconds timeout,
                                          const tenant_id& tenant = default_tenant());
  // Changes min/max, resources, policy or max_idle_ms (pool_update).
  result<pool_view> update_pool(const std::string& pool, const pool_update& update,
                                const tenant_id& tenant = default_tenant());
  // The same calls for event loops (`done` runs on an engine thread).
  enum class pool_change { get, enable, disable, drain, remove };
  void create_pool_async(pool_spec spec, const tenant_id& tenant, callback<pool_view> done);
  void change_pool_async(const std::string& pool, pool_change change, const tenant_id& tenant,
                         callback<pool_view> done);
  void update_pool_async(const std::string& pool, pool_update update, const tenant_id& tenant,
                         callback<pool_view> done);
  void wait_until_pool_ready_async(const std::string& pool, uint32_t min_ready,
                                   std::chrono::milliseconds timeout, const tenant_id& tenant,
                                   callback<pool_view> done);
  // The pool's durable event log: refills, failed starts with their output,
  // rolls to a new build, checkouts, state changes.
  result<std::unique_ptr<follow_handle>> follow_pool(const std::string& pool, log_offset offset,
                                                     pool_follow_callbacks callbacks,
                                                     const tenant_id& tenant = default_tenant());
  result<std::vector<raw_entry>> read_pool_log(const std::string& pool, log_offset offset,
                                               size_t limit,
                                               const tenant_id& tenant = default_tenant()) const;

  // ---- operations ----
  struct stats {
    uint64_t queued = 0, running = 0, live = 0;
    uint64_t entries_appended = 0, batches_written = 0, followers = 0;
    std::array<uint64_t, 6> builds_by_status{};  // index: build_status
    uint64_t status_cache_hits = 0, status_cache_misses = 0;
    std::array<uint64_t, 6> machines_by_state{};  // index: machine_state (live ones and those
                                                  // ended since the engine opened)
    uint64_t commands_run = 0;
    std::vector<uint64_t> create_ms_buckets;  // create-to-ready latency histogram (cumulative)
    std::vector<double> create_ms_bounds;     // its upper bounds, in ms
    uint64_t creates = 0;
    double create_ms_sum = 0;
    // Warm pools: each live pool's counts, checkouts by result since the engine
    // opened (hit, fallback, bypass, and `empty`: a require that got none), and
    // the checkout latency histogram (at the orchestrator, hits only).
    struct pool_gauge {
      std::string id, tenant, name, state;
      pool_counts counts;
    };
    std::vector<pool_gauge> pools;
    uint64_t checkouts_hit = 0, checkouts_fallback = 0, checkouts_bypass = 0, checkouts_empty = 0;
    std::vector<uint64_t> checkout_ms_buckets;  // cumulative
    std::vector<double> checkout_ms_bounds;     // upper bounds, in ms
    uint64_t checkouts = 0;
    double checkout_ms_sum = 0;
  };
  stats current_stats() const;
  // The same without blocking: `done` runs on an engine thread once the
  // engine's actors answered (an HTTP scrape must not hold its loop).
  void current_stats_async(callback<stats> done) const;
  // The options the engine runs with: paths absolute, `automatic` isolation resolved.
  const engine_options& options() const;

  struct impl;  // the library's; embedders never see inside

 private:
  friend struct detail::engine_access;
  explicit engine(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace nullspace
