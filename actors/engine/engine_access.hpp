// Inside an engine, for the project's own tests and benchmarks (never part of
// the public API): its store and its actor system.
#pragma once

#include <caf/all.hpp>

#include "actors/engine/engine_impl.hpp"
#include "nullspace/engine.hpp"
#include "storage/store.hpp"

namespace nullspace::detail {

struct engine_access {
  static storage::store& store(engine& e) { return *e.impl_->db; }
  static caf::actor_system& actor_system(engine& e) { return *e.impl_->sys; }
};

}  // namespace nullspace::detail
