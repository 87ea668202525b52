// Resolving a machine request: the template's ready build, its artifact and
// config, and the machine's record (id, resources, deadline). Used by the
// engine facade for a cold create and by warm pools to start their machines.
#pragma once

#include <string>

#include "actors/engine_context.hpp"
#include "actors/machine/machine_messages.hpp"

namespace nullspace::actors {

// Conflict when the build is not ready or its artifact is gone; not_found
// when the ref names nothing of `tenant`'s.
result<machine_create> resolve_machine(const engine_context& ctx, const machine_request& r,
                                       const std::string& tenant);

// The build a template ref resolves to for `tenant` (its tag, its @build, or
// latest for a bare name), without looking at its artifact.
result<storage::build_record> resolve_build(const storage::store& db, const std::string& ref,
                                            const std::string& tenant);

// Whether machines can start from the build: ready, with an available artifact.
bool startable(const storage::build_record& b);

}  // namespace nullspace::actors
