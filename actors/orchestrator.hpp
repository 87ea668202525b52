// orchestrator: the root supervisor. It spawns log_hub and build_manager as
// linked children, publishes their handles in the engine's actor directory, and
// restarts a crashed child with exponential backoff (logged). An exit request
// from outside (engine shutdown) takes the whole tree down: the manager first
// takes its builds (and their processes) with it.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"

namespace nullspace::actors {

using orchestrator_actor = caf::typed_actor<caf::reacts_to<restart_atom, std::string>,
                                            caf::replies_to<stats_atom>::with<uint64_t>>;

// Returns once both children are spawned and published in ctx->directory.
orchestrator_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<engine_context> ctx);

}  // namespace nullspace::actors
