// pool_manager: creation and routing of warm pools (a child of the
// orchestrator, next to the machine manager).
//
// - Create: names are unique per tenant (the manager is the only writer of
//   the name rows, so two creates cannot both take a name).
// - Routing: a request names a pool by id or name; another tenant's pool is
//   not_found, exactly like a missing one.
// - Start-up: every stored pool gets its actor again (it adopts its ready
//   machines from the store). A crashed pool actor is restarted the same way.
// - Notices: tchanged (from the template registry) goes to every pool, each
//   looks whether it names its template; mended (from a machine actor) goes
//   to the pool named; pbudget (a pool freed a global start slot another
//   pool wanted) makes every pool settle again.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"
#include "actors/pool/pool_messages.hpp"

namespace nullspace::actors {

pool_manager_actor spawn_pool_manager(caf::local_actor* parent,
                                      std::shared_ptr<engine_context> ctx);

}  // namespace nullspace::actors
