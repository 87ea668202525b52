// Inside an engine, for the project's own tests and benchmarks (never part of
// the public API): its store, its actor system and its cache mount store.
#pragma once

#include <caf/all.hpp>

#include "actors/engine/engine_impl.hpp"
#include "nullspace/engine.hpp"
#include "storage/store.hpp"

namespace nullspace::detail {

struct engine_access {
  static storage::store& store(engine& e) { return *e.impl_->db; }
  static caf::actor_system& actor_system(engine& e) { return *e.impl_->sys; }
  static runtime::cache_mount_store& cache_mounts(engine& e) { return *e.impl_->cache_mounts; }
};

}  // namespace nullspace::detail
