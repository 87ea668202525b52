// orchestrator: the root supervisor. It spawns log_hub, template_registry,
// build_manager and machine_manager as linked children, publishes their handles in the engine's
// actor directory, and restarts a crashed child with exponential backoff (logged). An exit request
// from outside (engine shutdown) takes the whole tree down: the manager first
// takes its builds (and their processes) with it.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"

namespace nullspace::actors {

using healthy_atom = caf::atom_constant<caf::atom("healthy")>;
using hub_after_atom = caf::atom_constant<caf::atom("hubafter")>;

// Registry names (actor_system::registry()) of the tree, for operations and tests.
inline const caf::atom_value orchestrator_name = caf::atom("orchestr");
inline const caf::atom_value log_hub_name = caf::atom("log_hub");
inline const caf::atom_value build_manager_name = caf::atom("build_mgr");
inline const caf::atom_value template_registry_name = caf::atom("registry");
inline const caf::atom_value machine_manager_name = caf::atom("machines");

using orchestrator_actor =
    caf::typed_actor<caf::reacts_to<restart_atom, std::string>,
                     caf::replies_to<stats_atom>::with<uint64_t>,  // restarts so far
                     // Answers (with the restart count) once at least `min_restarts` restarts
                     // happened and both children are running.
                     caf::replies_to<healthy_atom, uint64_t>::with<uint64_t>,
                     // Answers with the running log_hub once it is not `dead` (a follower whose
                     // hub crashed asks this, then re-subscribes from its cursor).
                     caf::replies_to<hub_after_atom, caf::actor_addr>::with<log_hub_actor>>;

// Returns once both children are spawned and published in ctx->directory.
orchestrator_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<engine_context> ctx);

}  // namespace nullspace::actors
