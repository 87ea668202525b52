// What every actor of one engine shares: the store, the process runner, the
// configuration, and a directory of the current log_hub/build_manager handles
// (the orchestrator replaces a handle when it restarts a crashed child).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "actors/machine/machine_stats.hpp"
#include "actors/messages.hpp"
#include "actors/pool/checkout_counters.hpp"
#include "actors/pool/pool_index.hpp"
#include "actors/registry/registry_txn.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/machine/machine_driver.hpp"
#include "runtime/process/blocking_pool.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/sandbox/step_sandbox.hpp"
#include "storage/common/heap_trimmer.hpp"
#include "storage/common/time_format.hpp"
#include "storage/store.hpp"

namespace nullspace::actors {

struct engine_config {
  std::string data_dir;
  std::string contexts_dir;  // uploaded build contexts: <hex>.tar + <hex>.json
  uint32_t executor_slots = 2;
  size_t max_queued = 1024;
  runtime::platform_limits limits;
  retention_policy retention;
  std::vector<std::string> tenants;   // known tenants: their default namespaces are theirs
  std::function<int64_t()> clock;     // ms since the epoch, for retention (tests inject one)
  std::vector<std::string> step_env;  // K=V every sandboxed command step gets (package mirrors)
  machine_options machines;
  int64_t now_ms() const { return clock ? clock() : storage::now_ms(); }
};

class actor_directory {
 public:
  log_hub_actor hub() const {
    std::lock_guard<std::mutex> g(mtx_);
    return hub_;
  }
  build_manager_actor manager() const {
    std::lock_guard<std::mutex> g(mtx_);
    return manager_;
  }
  void set_hub(log_hub_actor h) {
    std::lock_guard<std::mutex> g(mtx_);
    hub_ = std::move(h);
  }
  void set_manager(build_manager_actor m) {
    std::lock_guard<std::mutex> g(mtx_);
    manager_ = std::move(m);
  }
  template_registry_actor registry() const {
    std::lock_guard<std::mutex> g(mtx_);
    return registry_;
  }
  void set_registry(template_registry_actor r) {
    std::lock_guard<std::mutex> g(mtx_);
    registry_ = std::move(r);
  }
  // The root supervisor, as an untyped handle (its interface lives in
  // orchestrator.hpp, which depends on this file).
  // The machine manager, as an untyped handle (its interface lives in
  // actors/machine/machine_messages.hpp, which depends on this file).
  caf::actor machines() const {
    std::lock_guard<std::mutex> g(mtx_);
    return machines_;
  }
  void set_machines(caf::actor m) {
    std::lock_guard<std::mutex> g(mtx_);
    machines_ = std::move(m);
  }
  // The pool manager, untyped for the same reason (actors/pool/pool_messages.hpp).
  caf::actor pools() const {
    std::lock_guard<std::mutex> g(mtx_);
    return pools_;
  }
  void set_pools(caf::actor m) {
    std::lock_guard<std::mutex> g(mtx_);
    pools_ = std::move(m);
  }
  caf::actor orchestrator() const {
    std::lock_guard<std::mutex> g(mtx_);
    return orchestrator_;
  }
  void set_orchestrator(caf::actor o) {
    std::lock_guard<std::mutex> g(mtx_);
    orchestrator_ = std::move(o);
  }
  void clear() {
    std::lock_guard<std::mutex> g(mtx_);
    hub_ = nullptr;
    manager_ = nullptr;
    registry_ = nullptr;
    orchestrator_ = nullptr;
    machines_ = nullptr;
    pools_ = nullptr;
  }

 private:
  mutable std::mutex mtx_;
  log_hub_actor hub_;
  build_manager_actor manager_;
  template_registry_actor registry_;
  caf::actor orchestrator_;
  caf::actor machines_;
  caf::actor pools_;
};

struct engine_context {
  // False once the engine began shutting down: handles that outlive calls
  // into the actor system check it first.
  bool accepting_calls() const { return accepting_.load(); }
  void stop_accepting_calls() { accepting_.store(false); }

  engine_config config;
  storage::store* db = nullptr;
  runtime::process_runner* runner = nullptr;
  // Set when steps run sandboxed (isolation::sandbox); null for the host executor.
  runtime::image_store* images = nullptr;
  runtime::step_sandbox* sandbox = nullptr;
  runtime::cache_mount_store* cache_mounts = nullptr;  // RUN --mount=type=cache dirs
  // Machines (isolation::sandbox): the driver, or why there is none.
  runtime::machine_driver* machines = nullptr;
  std::string machines_unavailable = "machines need sandbox isolation (root and an OCI runtime)";
  runtime::blocking_pool* blocking = nullptr;  // blocking work of machines
  heap_trimmer* heap = nullptr;  // asked to trim when a build ends (chatty ones free much)
  machine_counters machine_stats;
  pool_index pools;             // live warm pools (their actors keep it current)
  checkout_counters checkouts;  // how creates were served by warm pools
  actor_directory directory;
  std::string work_root() const { return config.data_dir + "/work"; }

 private:
  std::atomic<bool> accepting_{true};
};

}  // namespace nullspace::actors
