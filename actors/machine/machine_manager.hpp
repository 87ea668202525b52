// machine_manager: admission and routing of machines (a child of the
// orchestrator; DESIGN.md, "Actors and messages").
//
// - Admission: a create beyond machine_options::max_machines (all tenants) or
//   max_machines_per_tenant (live machines, starting ones included) is
//   resource_exhausted, naming the cap.
// - Routing: every request names a machine by id; another tenant's machine is
//   not_found, exactly like a missing one. Requests for an ended machine are
//   answered from its stored record.
// - Recovery at start-up: every machine the store says is not ended gets an
//   actor that adopts it (or fails it as lost); machines the driver finds on
//   the host that the store does not know are removed.
// - Retention: ended machines' records and logs are deleted once
//   machine_options::retention has passed.
// Machine actors are linked: one that crashes is adopted again from the store.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"
#include "actors/machine/machine_messages.hpp"

namespace nullspace::actors {

machine_manager_actor spawn_machine_manager(caf::local_actor* parent,
                                            std::shared_ptr<engine_context> ctx);

}  // namespace nullspace::actors
