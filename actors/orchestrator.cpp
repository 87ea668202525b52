#include "actors/orchestrator.hpp"

#include <algorithm>
#include <chrono>

#include "actors/build/build_manager.hpp"
#include "actors/hub/log_hub.hpp"
#include "actors/machine/machine_manager.hpp"
#include "actors/pool/pool_manager.hpp"
#include "actors/registry/template_registry.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::actors {
namespace {

struct orchestrator_state {
  std::shared_ptr<engine_context> ctx;
  log_hub_actor hub;
  build_manager_actor manager;
  template_registry_actor registry;
  machine_manager_actor machines;
  pool_manager_actor pools;
  uint64_t restarts = 0;
  int hub_failures = 0, manager_failures = 0, registry_failures = 0, machines_failures = 0,
      pools_failures = 0;
  std::vector<std::pair<uint64_t, caf::typed_response_promise<uint64_t>>> health_waiters;
  std::vector<std::pair<caf::actor_addr, caf::typed_response_promise<log_hub_actor>>> hub_waiters;
  static inline const char* name = "orchestrator";
};

using orch_ptr = orchestrator_actor::stateful_pointer<orchestrator_state>;

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(std::min(50 << std::min(failures, 7), 5000));
}

void publish(orch_ptr self, caf::atom_value name, const caf::strong_actor_ptr& who) {
  auto& reg = self->system().registry();
  reg.erase(name);  // put() keeps an existing entry: replace it explicitly
  reg.put(name, who);
}

// Answers (and forgets) every waiter {key, promise} whose key satisfies `ready`.
template <class Waiters, class Ready, class Value>
void answer_waiters(Waiters& ws, Ready ready, const Value& value) {
  for (auto it = ws.begin(); it != ws.end();) {
    if (ready(it->first)) {
      it->second.deliver(value);
      it = ws.erase(it);
    } else {
      ++it;
    }
  }
}

void answer_health_waiters(orch_ptr self) {
  auto& st = self->state;
  if (!st.hub || !st.manager || !st.registry || !st.machines || !st.pools) return;
  answer_waiters(
      st.health_waiters, [&](uint64_t min) { return st.restarts >= min; }, st.restarts);
}

void answer_hub_waiters(orch_ptr self) {
  auto& st = self->state;
  if (!st.hub) return;
  answer_waiters(
      st.hub_waiters, [&](const caf::actor_addr& dead) { return st.hub.address() != dead; },
      st.hub);
}

void start_hub(orch_ptr self) {
  auto& st = self->state;
  st.hub = spawn_log_hub(self, st.ctx->db);
  st.ctx->directory.set_hub(st.hub);
  publish(self, log_hub_name, caf::actor_cast<caf::strong_actor_ptr>(st.hub));
  answer_health_waiters(self);
  answer_hub_waiters(self);
}

void start_registry(orch_ptr self) {
  auto& st = self->state;
  st.registry = spawn_template_registry(self, st.ctx);
  st.ctx->directory.set_registry(st.registry);
  publish(self, template_registry_name, caf::actor_cast<caf::strong_actor_ptr>(st.registry));
  answer_health_waiters(self);
}

void start_manager(orch_ptr self) {
  auto& st = self->state;
  st.manager = spawn_build_manager(self, st.ctx, st.manager_failures > 0);
  st.ctx->directory.set_manager(st.manager);
  publish(self, build_manager_name, caf::actor_cast<caf::strong_actor_ptr>(st.manager));
  answer_health_waiters(self);
}

void start_machines(orch_ptr self) {
  auto& st = self->state;
  st.machines = spawn_machine_manager(self, st.ctx);
  st.ctx->directory.set_machines(caf::actor_cast<caf::actor>(st.machines));
  publish(self, machine_manager_name, caf::actor_cast<caf::strong_actor_ptr>(st.machines));
  answer_health_waiters(self);
}

void start_pools(orch_ptr self) {
  auto& st = self->state;
  st.pools = spawn_pool_manager(self, st.ctx);
  st.ctx->directory.set_pools(caf::actor_cast<caf::actor>(st.pools));
  answer_health_waiters(self);
}

orchestrator_actor::behavior_type orchestrator(orch_ptr self, std::shared_ptr<engine_context> ctx) {
  self->state.ctx = std::move(ctx);
  publish(self, orchestrator_name, caf::actor_cast<caf::strong_actor_ptr>(self));
  start_hub(self);
  start_registry(self);
  start_manager(self);
  start_machines(self);
  start_pools(self);
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    auto restart = [&](const char* which, int& failures) {
      ++failures;
      ++st.restarts;
      auto delay = backoff(failures);
      logging::engine.error("orchestrator: child exited; restarting",
                            {{"child", which},
                             {"reason", caf::to_string(em.reason)},
                             {"restart_in_ms", delay.count()}});
      self->delayed_send(self, delay, restart_atom::value, std::string(which));
    };
    if (em.source == st.hub.address()) {
      st.hub = nullptr;
      restart("log_hub", st.hub_failures);
    } else if (em.source == st.manager.address()) {
      st.manager = nullptr;
      restart("build_manager", st.manager_failures);
    } else if (em.source == st.registry.address()) {
      st.registry = nullptr;
      restart("template_registry", st.registry_failures);
    } else if (em.source == st.machines.address()) {
      st.machines = nullptr;
      restart("machine_manager", st.machines_failures);
    } else if (em.source == st.pools.address()) {
      st.pools = nullptr;
      restart("pool_manager", st.pools_failures);
    } else {
      self->quit(em.reason);  // shutdown request: linked children follow
    }
  });
  return {
      [=](restart_atom, const std::string& which) {
        if (which == "log_hub")
          start_hub(self);
        else if (which == "template_registry")
          start_registry(self);
        else if (which == "machine_manager")
          start_machines(self);
        else if (which == "pool_manager")
          start_pools(self);
        else
          start_manager(self);
      },
      [=](stats_atom) { return self->state.restarts; },
      [=](hub_after_atom, const caf::actor_addr& dead) -> caf::result<log_hub_actor> {
        auto rp = self->make_response_promise<log_hub_actor>();
        self->state.hub_waiters.emplace_back(dead, rp);
        answer_hub_waiters(self);
        return rp;
      },
      [=](healthy_atom, uint64_t min_restarts) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        self->state.health_waiters.emplace_back(min_restarts, rp);
        answer_health_waiters(self);
        return rp;
      },
  };
}

}  // namespace

orchestrator_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<engine_context> ctx) {
  return sys.spawn(orchestrator, std::move(ctx));
}

}  // namespace nullspace::actors
