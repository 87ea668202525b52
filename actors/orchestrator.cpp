#include "actors/orchestrator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "actors/build_manager.hpp"
#include "actors/log_hub.hpp"

namespace nullspace::actors {
namespace {

struct orchestrator_state {
  std::shared_ptr<engine_context> ctx;
  log_hub_actor hub;
  build_manager_actor manager;
  uint64_t restarts = 0;
  int hub_failures = 0, manager_failures = 0;
  static inline const char* name = "orchestrator";
};

using orch_ptr = orchestrator_actor::stateful_pointer<orchestrator_state>;

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(std::min(50 << std::min(failures, 7), 5000));
}

void start_hub(orch_ptr self) {
  auto& st = self->state;
  st.hub = spawn_log_hub(self, st.ctx->db);
  st.ctx->directory.set_hub(st.hub);
}

void start_manager(orch_ptr self) {
  auto& st = self->state;
  st.manager = spawn_build_manager(self, st.ctx);
  st.ctx->directory.set_manager(st.manager);
}

orchestrator_actor::behavior_type orchestrator(orch_ptr self, std::shared_ptr<engine_context> ctx) {
  self->state.ctx = std::move(ctx);
  start_hub(self);
  start_manager(self);
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    auto restart = [&](const char* which, int& failures) {
      ++failures;
      ++st.restarts;
      auto delay = backoff(failures);
      spdlog::error("orchestrator: {} exited ({}); restarting in {} ms", which,
                    caf::to_string(em.reason), delay.count());
      self->delayed_send(self, delay, restart_atom::value, std::string(which));
    };
    if (em.source == st.hub.address()) {
      st.hub = nullptr;
      restart("log_hub", st.hub_failures);
    } else if (em.source == st.manager.address()) {
      st.manager = nullptr;
      restart("build_manager", st.manager_failures);
    } else {
      self->quit(em.reason);  // shutdown request: linked children follow
    }
  });
  return {
      [=](restart_atom, const std::string& which) {
        if (which == "log_hub")
          start_hub(self);
        else
          start_manager(self);
      },
      [=](stats_atom) { return self->state.restarts; },
  };
}

}  // namespace

orchestrator_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<engine_context> ctx) {
  return sys.spawn(orchestrator, std::move(ctx));
}

}  // namespace nullspace::actors
