// The engine facade's internals (include/nullspace/engine.hpp), shared by the
// files that implement it: actors/engine/engine.cpp (builds, logs) and
// actors/engine/engine_templates.cpp (the template registry).
#pragma once

#include <caf/all.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "actors/engine/caller_thread.hpp"
#include "actors/engine/idempotency_gate.hpp"
#include "actors/engine/status_cache.hpp"
#include "actors/engine_context.hpp"
#include "actors/machine/machine_messages.hpp"
#include "actors/orchestrator.hpp"
#include "actors/pool/pool_messages.hpp"
#include "nullspace/engine.hpp"

namespace nullspace {

inline error from_caf(const caf::error& e, std::string_view what) {
  return make_error(errc::unavailable, std::string(what) + ": " + caf::to_string(e));
}

// Blocks the calling (non-CAF) thread until an async call answers.
template <class T, class F>
result<T> wait_for(F start) {
  std::promise<result<T>> p;
  auto f = p.get_future();
  start([&p](result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

using namespace actors;

// A machine as the API shows it: its record, log position and open ports
// (actors/engine/engine_machines.cpp).
// `known_next_offset`: the log's next offset from the machine actor's reply
// (0: read it from the store).
machine_view machine_view_of(engine::impl& p, machine_record rec, uint64_t known_next_offset = 0);

// The stored record of the tenant's pool named by id or name (engine_pools.cpp).
std::optional<pool_record> find_pool_record(const storage::store& db, const std::string& pool,
                                            const tenant_id& tenant);

// The Idempotency-Key row of a machine create (nullopt without a key): made
// once, from the request as the caller sent it (the pool path fills in
// fields), and written with the machine's record it leads to.
using idempotency_row_opt = std::optional<storage::idempotency_record>;
idempotency_row_opt machine_idempotency_row(engine::impl& p, const machine_request& request,
                                            const tenant_id& tenant);
// A cold create (engine_machines.cpp): the template resolved, then the machine
// manager; `served` says how a warm pool was involved, if at all.
void cold_create(engine::impl& p, const machine_request& request, const tenant_id& tenant,
                 pool_checkout served, engine::callback<machine_view> done,
                 idempotency_row_opt key = std::nullopt);
// A create that names a warm pool, or names a template while the tenant has
// pools (engine_checkout.cpp).
void create_through_pool(engine::impl& p, machine_request request, const tenant_id& tenant,
                         engine::callback<machine_view> done, idempotency_row_opt key);

// Asks the tenant's warm pool for a ready machine (actors/engine/engine_pools.cpp).
void ask_pool_checkout(engine::impl& p, checkout_request req,
                       std::function<void(result<checkout_reply>)> done);

struct engine::impl {
  engine_options opts;
  std::unique_ptr<storage::store> db;
  std::unique_ptr<status_cache> statuses;
  mutable std::atomic<uint64_t> status_hits{0}, status_misses{0};
  std::unique_ptr<runtime::process_runner> runner;
  heap_trimmer heap;  // outlives the actors (declared before `sys`)
  std::unique_ptr<runtime::image_store> images;
  std::unique_ptr<runtime::cache_mount_store> cache_mounts;  // before sandbox, which uses it
  std::unique_ptr<runtime::step_sandbox> sandbox;
  std::unique_ptr<runtime::blocking_pool> blocking;
  std::unique_ptr<runtime::machine_driver> machines;
  std::string machines_unavailable;  // why `machines` is null (sandbox isolation only)
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<engine_context> ctx;
  orchestrator_actor orch;
  idempotency_gate idempotency;  // creates with an Idempotency-Key in progress

  build_view view(build_record rec) const {
    auto next = db->next_offset(rec.id);
    return build_view{std::move(rec), next};
  }

  result<build_view> ask_manager_submit(submit_request sr) {
    caller_thread_guard caller;
    caf::scoped_actor self{*sys};
    std::optional<result<build_view>> out;
    self->request(ctx->directory.manager(), caf::infinite, submit_atom::value, std::move(sr))
        .receive(
            [&](build_reply& r) {
              if (r.err)
                out.emplace(std::move(*r.err));
              else
                out.emplace(view(std::move(r.record)));
            },
            [&](caf::error& e) { out.emplace(from_caf(e, "the build manager did not answer")); });
    return std::move(*out);
  }

  // One request to the manager from a short-lived actor; `done` runs on the
  // CAF thread that handles the reply.
  template <class... Ts>
  void ask_manager_async(engine::callback<build_view> done, Ts... msg) {
    auto mgr = ctx->directory.manager();
    if (!mgr || !ctx->accepting_calls())
      return done(make_error(errc::unavailable, "the engine is restarting or stopping; retry"));
    caller_thread_guard caller;
    sys->spawn([this, mgr, done = std::move(done),
                ... msg = std::move(msg)](caf::event_based_actor* self) mutable {
      self->request(mgr, caf::infinite, std::move(msg)...)
          .then(
              [this, done](build_reply& r) {
                if (r.err)
                  done(std::move(*r.err));
                else
                  done(view(std::move(r.record)));
              },
              [done](caf::error& e) { done(from_caf(e, "the build manager did not answer")); });
    });
  }

  result<submit_request> prepare_retry(const std::string& id, retry_options options,
                                       const std::string& tenant);

  // Followers spawned by follow(), so shutdown can end those never stopped
  // (a live actor would keep ~actor_system waiting forever).
  std::mutex followers_mtx;
  std::vector<caf::actor_addr> followers;

  void track_follower(const log_follower& f) {
    std::lock_guard<std::mutex> g(followers_mtx);
    std::erase_if(followers, [](const caf::actor_addr& a) { return !a; });
    followers.push_back(f.address());
  }

  void shutdown() {
    if (!sys) return;
    ctx->stop_accepting_calls();
    {
      std::lock_guard<std::mutex> g(followers_mtx);
      for (auto& addr : followers)
        if (auto f = caf::actor_cast<caf::actor>(addr))
          caf::anon_send_exit(f, caf::exit_reason::user_shutdown);
      followers.clear();
    }
    {
      caller_thread_guard caller;
      caf::scoped_actor self{*sys};
      std::vector<caf::actor_addr> watched;
      for (auto a :
           {caf::actor_cast<caf::actor>(orch), caf::actor_cast<caf::actor>(ctx->directory.hub()),
            caf::actor_cast<caf::actor>(ctx->directory.manager()),
            caf::actor_cast<caf::actor>(ctx->directory.registry()), ctx->directory.machines()}) {
        if (!a) continue;
        self->monitor(a);
        watched.push_back(a.address());
      }
      self->send_exit(orch, caf::exit_reason::user_shutdown);
      for (size_t i = 0; i < watched.size(); ++i) self->receive([](const caf::down_msg&) {});
    }
    orch = nullptr;
    ctx->directory.clear();
    for (auto name : {orchestrator_name, log_hub_name, build_manager_name, template_registry_name,
                      machine_manager_name})
      sys->registry().erase(name);
    sys.reset();  // waits for every remaining actor (builds, followers)
  }
};

}  // namespace nullspace
