// The rules a pool's spec follows, checked on create and again on every
// update (an update is applied to the current spec, then checked whole).
#pragma once

#include <optional>

#include "nullspace/error.hpp"
#include "nullspace/options.hpp"
#include "nullspace/pool.hpp"

namespace nullspace::actors {

// The first rule `s` breaks: template given, a valid name, 1 ≤ max_ready ≤
// the per-tenant machine cap, min_ready ≤ max_ready, cpu and memory within
// the platform's limits. The error names the field.
std::optional<error> check_pool_spec(const pool_spec& s, const platform_limits& limits,
                                     const machine_options& machines);

// `s` with the fields `u` sets (max_idle_ms 0: recycling off).
pool_spec apply_update(pool_spec s, const pool_update& u);

}  // namespace nullspace::actors
