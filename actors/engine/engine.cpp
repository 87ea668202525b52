// The embedded API (include/nullspace/engine.hpp): opening and closing an
// engine over its actor tree, and its statistics. Builds, follows, contexts
// and the registry are in the engine_*.cpp files beside this one.
#include "nullspace/engine.hpp"

#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include "actors/engine/engine_impl.hpp"
#include "actors/engine/status_cache.hpp"
#include "actors/machine/machine_messages.hpp"
#include "actors/orchestrator.hpp"
#include "runtime/machine/container_driver.hpp"
#include "runtime/sandbox/step_commands.hpp"
#include "storage/common/absolute_path.hpp"
#include "storage/common/logging.hpp"

namespace nullspace {

const char* to_string(isolation i) {
  switch (i) {
    case isolation::host:
      return "host";
    case isolation::sandbox:
      return "sandbox";
    case isolation::automatic:
      return "auto";
  }
  return "host";
}

namespace {

// `automatic` becomes sandbox when this process may run one (root and an OCI
// runtime), else host; a sandbox that was asked for and cannot run is an error.
result<isolation> resolve_isolation(const engine_options& o) {
  if (o.isolation_mode == isolation::host) return isolation::host;
  bool root = ::geteuid() == 0;
  auto found = runtime::find_oci_runtime(o.oci_runtime, o.data_dir + "/run/oci");
  // A runtime that cannot be (a wrong name) is an error, not a fall-back to host.
  if (!found && found.error().code == errc::invalid_argument) return found.error();
  bool runtime_found = found.ok();
  if (o.isolation_mode == isolation::automatic) {
    if (root && runtime_found) return isolation::sandbox;
    logging::engine.warn(
        "steps run as plain host processes (isolation=host); run as root with runc installed "
        "for sandboxed builds",
        {{"reason", root ? "no OCI runtime (runc or crun) is installed" : "not running as root"}});
    return isolation::host;
  }
  if (!root)
    return make_error(errc::failed_precondition,
                      "sandboxed builds need root (mounts, namespaces, cgroups); "
                      "run as root or choose the host executor (--isolation host)");
  return isolation::sandbox;
}

// Machines run as containers next to sandboxed builds; when the driver cannot
// work here, builds still do and machine calls say why.
void open_machines(engine::impl& p) {
  runtime::container_driver_options mo;
  mo.data_dir = p.opts.data_dir;
  mo.oci_runtime = p.opts.oci_runtime;
  mo.init_binary = p.opts.machines.init_binary;
  mo.network_range = p.opts.machines.network_range;
  auto driver = runtime::container_driver::open(mo);
  if (!driver) {
    p.machines_unavailable = "machines are not available on this server: " + driver.error().message;
    logging::engine.warn(p.machines_unavailable);
    return;
  }
  p.machines = std::move(driver.value());
  p.blocking = std::make_unique<runtime::blocking_pool>(p.opts.machines.worker_threads);
}

}  // namespace

engine::engine(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

engine::~engine() {
  impl_->cache_mounts->stop();  // a step waiting for a locked cache dir gives up
  impl_->shutdown();
  // A build actor's last kill goes through the runner, which is about to kill
  // whatever it still runs (that kill included): stop the containers here,
  // and leave no mount or secret file of a build that was running.
  if (impl_->sandbox) impl_->sandbox->stop_all_builds();
  impl_->blocking.reset();  // finishes the machine work already queued
  impl_->machines.reset();  // machines keep running: the next open adopts them
  impl_->runner.reset();    // kills any process still running
  impl_->db.reset();
}

result<std::unique_ptr<engine>> engine::open(engine_options options) {
  caller_thread_guard caller;  // the actor system is made on this thread
  if (options.data_dir.empty())
    return make_error(errc::invalid_argument, "the data dir is empty: name a directory");
  // Once, before anything uses them: every component (and the OCI runtime,
  // which reads a bundle's paths against the bundle) sees the same paths.
  options.data_dir = absolute_path(options.data_dir);
  options.images_dir = absolute_path(options.images_dir);
  options.contexts_dir = absolute_path(options.contexts_dir);
  options.machines.init_binary = absolute_path(options.machines.init_binary);
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec)
    return make_error(errc::unavailable,
                      "cannot create data dir " + options.data_dir + ": " + ec.message());
  if (options.contexts_dir.empty()) options.contexts_dir = options.data_dir + "/contexts";
  if (options.images_dir.empty()) options.images_dir = options.data_dir + "/images";
  auto mode = resolve_isolation(options);
  if (!mode) return mode.error();
  options.isolation_mode = mode.value();
  auto p = std::make_unique<impl>();
  p->opts = options;
  auto db = storage::store::open(options.data_dir + "/db", {.sync = options.sync});
  if (!db) return db.error();
  p->db = std::move(db.value());
  if (options.status_cache_bytes > 0)
    p->statuses = std::make_unique<status_cache>(options.status_cache_bytes);
  p->runner = std::make_unique<runtime::process_runner>();
  auto clock = options.clock;
  p->cache_mounts = std::make_unique<runtime::cache_mount_store>(
      options.data_dir + "/cache-mounts", options.cache_mounts.max_bytes_per_tenant,
      [clock] { return clock ? clock() : storage::now_ms(); });
  if (options.isolation_mode == isolation::sandbox) {
    auto rt = runtime::find_oci_runtime(options.oci_runtime, options.data_dir + "/run/oci");
    if (!rt) return rt.error();
    p->images = std::make_unique<runtime::image_store>(options.images_dir, *p->runner,
                                                       options.debian_mirror);
    p->sandbox = std::make_unique<runtime::step_sandbox>(
        options.data_dir, std::move(rt.value()), p->cache_mounts.get(), options.max_download_bytes);
    open_machines(*p);
  }
  p->cfg = std::make_unique<caf::actor_system_config>();
  p->cfg->set("scheduler.max-threads", std::max<size_t>(1, options.scheduler_threads));
  // Workers block on a condition variable instead of polling with back-off
  // sleeps: lower latency for request/response chains (docs/PERFORMANCE.md).
  p->cfg->set("scheduler.policy", caf::atom("sharing"));
  p->cfg->set("logger.verbosity", caf::atom("quiet"));
  p->sys = std::make_unique<caf::actor_system>(*p->cfg);

  p->ctx = std::make_shared<engine_context>();
  p->ctx->config = {
      options.data_dir,
      options.contexts_dir,
      std::max<uint32_t>(1, options.executor_slots),
      options.max_queued,
      options.limits,
      {options.retention.untagged_ready.count(), options.retention.failed.count(),
       options.retention.sweep_interval.count(), options.cache_mounts.max_unused.count(),
       options.retention.idempotency_keys.count()},
      options.tenants,
      options.clock,
      runtime::package_mirror_env(options.pip_index_url),
      options.machines};
  p->ctx->db = p->db.get();
  p->ctx->heap = &p->heap;
  p->ctx->runner = p->runner.get();
  p->ctx->images = p->images.get();
  p->ctx->sandbox = p->sandbox.get();
  p->ctx->cache_mounts = p->cache_mounts.get();
  p->ctx->machines = p->machines.get();
  p->ctx->blocking = p->blocking.get();
  if (!p->machines_unavailable.empty()) p->ctx->machines_unavailable = p->machines_unavailable;
  p->orch = spawn_orchestrator(*p->sys, p->ctx);
  p->ctx->directory.set_orchestrator(caf::actor_cast<caf::actor>(p->orch));

  // Round trips: the orchestrator has published its children, and the manager
  // (recovery) and the registry (adopting old history) have finished start-up
  // before open() returns.
  caf::scoped_actor self{*p->sys};
  bool ready = false;
  self->request(p->orch, caf::infinite, stats_atom::value)
      .receive([&](uint64_t) { ready = true; }, [&](caf::error&) {});
  if (ready)
    self->request(p->ctx->directory.manager(), caf::infinite, stats_atom::value)
        .receive([&](const manager_stats&) {}, [&](caf::error&) { ready = false; });
  if (ready)
    self->request(p->ctx->directory.registry(), caf::infinite, stats_atom::value)
        .receive([&](bool) {}, [&](caf::error&) { ready = false; });
  if (ready)
    self->request(caf::actor_cast<machine_manager_actor>(p->ctx->directory.machines()),
                  caf::infinite, stats_atom::value)
        .receive([&](const machine_stats&) {}, [&](caf::error&) { ready = false; });
  if (!ready) {
    p->shutdown();
    return make_error(errc::internal, "the engine's actors did not start");
  }
  return std::unique_ptr<engine>(new engine(std::move(p)));
}

namespace {

// What the engine's own counters say, read on the caller's thread: no actor asked.
engine::stats local_stats(const engine::impl& p) {
  engine::stats out;
  auto counters = p.ctx->machine_stats.read();
  out.commands_run = counters.commands;
  out.create_ms_buckets = counters.buckets;
  out.create_ms_bounds.assign(machine_counters::bounds.begin(), machine_counters::bounds.end());
  out.creates = counters.count;
  out.create_ms_sum = counters.sum_ms;
  for (auto& e : p.ctx->pools.all())
    out.pools.push_back({e.id, e.tenant, e.name, to_string(e.state), e.counts});
  auto checkouts = p.ctx->checkouts.read();
  using outcome = checkout_counters::outcome;
  out.checkouts_hit = checkouts.by_outcome[static_cast<size_t>(outcome::hit)];
  out.checkouts_fallback = checkouts.by_outcome[static_cast<size_t>(outcome::fallback)];
  out.checkouts_bypass = checkouts.by_outcome[static_cast<size_t>(outcome::bypass)];
  out.checkouts_empty = checkouts.by_outcome[static_cast<size_t>(outcome::empty)];
  out.checkout_ms_buckets = checkouts.buckets;
  out.checkout_ms_bounds.assign(checkout_counters::bounds.begin(), checkout_counters::bounds.end());
  out.checkouts = checkouts.count;
  out.checkout_ms_sum = checkouts.sum_ms;
  out.status_cache_hits = p.status_hits.load(std::memory_order_relaxed);
  out.status_cache_misses = p.status_misses.load(std::memory_order_relaxed);
  return out;
}

}  // namespace

void engine::current_stats_async(callback<stats> done) const {
  auto out = local_stats(*impl_);
  if (!impl_->ctx->accepting_calls()) return done(std::move(out));  // stopping: no actor asked
  auto& dir = impl_->ctx->directory;
  auto mgr = dir.manager();
  auto hub = dir.hub();
  auto machines = caf::actor_cast<machine_manager_actor>(dir.machines());
  caller_thread_guard caller;
  // The three actors are asked at once; each answer fills its part, and one
  // that fails to answer leaves its part at zero.
  impl_->sys->spawn([out = std::move(out), done = std::move(done), mgr, hub,
                     machines](caf::event_based_actor* self) mutable {
    auto st = std::make_shared<stats>(std::move(out));
    auto left = std::make_shared<int>(3);
    auto answered = [st, left, done] {
      if (--*left == 0) done(std::move(*st));
    };
    auto skip = [answered](caf::error&) { answered(); };
    self->request(mgr, caf::infinite, stats_atom::value)
        .then(
            [st, answered](const manager_stats& m) {
              st->queued = m.queued;
              st->running = m.running;
              st->live = m.live;
              answered();
            },
            skip);
    self->request(hub, caf::infinite, stats_atom::value)
        .then(
            [st, answered](const hub_stats& h) {
              st->entries_appended = h.entries_appended;
              st->batches_written = h.batches_written;
              st->followers = h.followers;
              st->builds_by_status = h.builds_by_status;
              answered();
            },
            skip);
    self->request(machines, caf::infinite, stats_atom::value)
        .then(
            [st, answered](const machine_stats& m) {
              st->machines_by_state = m.by_state;
              answered();
            },
            skip);
  });
}

engine::stats engine::current_stats() const {
  std::promise<stats> answer;
  auto got = answer.get_future();
  current_stats_async([&answer](result<stats> r) { answer.set_value(std::move(r.value())); });
  return got.get();
}

const engine_options& engine::options() const {
  return impl_->opts;
}

}  // namespace nullspace
