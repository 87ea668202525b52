// build_manager: admission and scheduling.
// - A fixed number of executor slots; queued builds start in FIFO order per
//   tenant, tenants served round-robin (one tenant's burst cannot starve another).
// - A queue depth limit: a submit beyond it is resource_exhausted (HTTP 429).
// - Start-up recovery: every non-terminal build in the store gets an actor again.
//   `queued` builds stay queued; `building` ones go back to `queued` with a
//   durable entry saying so; builds that needed secrets fail clearly, because
//   secret values are never persisted.
// - Builds are linked children: a crashed build is recovered from the store
//   (up to a few times), and a crash of the manager takes its builds (and their
//   processes) down so that the restarted manager recovers them all.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"

namespace nullspace::actors {

// `restarted`: this manager replaces one that crashed (recovery says so in the logs).
build_manager_actor spawn_build_manager(caf::local_actor* parent,
                                        std::shared_ptr<engine_context> ctx, bool restarted);

// New opaque build id: "tb_" + 24 lowercase hex digits (time-ordered prefix).
std::string new_build_id();

}  // namespace nullspace::actors
