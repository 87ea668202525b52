// check_pool_spec and apply_update (pool_spec_check.hpp).
#include "actors/pool/pool_spec_check.hpp"

#include <string>

#include "nullspace/ids.hpp"

namespace nullspace::actors {

std::optional<error> check_pool_spec(const pool_spec& s, const platform_limits& l,
                                     const machine_options& machines) {
  if (s.template_ref.empty())
    return make_error(errc::invalid_argument, "template is required", "template");
  if (!valid_name(s.name))
    return make_error(errc::invalid_argument, "name must match [a-z0-9][a-z0-9._-]{0,62}", "name");
  if (s.max_ready == 0 || s.max_ready > machines.max_machines_per_tenant)
    return make_error(
        errc::invalid_argument,
        "max_ready must be from 1 to " + std::to_string(machines.max_machines_per_tenant),
        "max_ready");
  if (s.min_ready > s.max_ready)
    return make_error(errc::invalid_argument,
                      "min_ready (" + std::to_string(s.min_ready) +
                          ") must be at most max_ready (" + std::to_string(s.max_ready) + ")",
                      "min_ready");
  if (s.cpu_count && (*s.cpu_count < l.min_cpu_count || *s.cpu_count > l.max_cpu_count))
    return make_error(errc::invalid_argument,
                      "cpu_count must be from " + std::to_string(l.min_cpu_count) + " to " +
                          std::to_string(l.max_cpu_count),
                      "cpu_count");
  if (s.memory_mb && (*s.memory_mb < l.min_memory_mb || *s.memory_mb > l.max_memory_mb))
    return make_error(errc::invalid_argument,
                      "memory_mb must be from " + std::to_string(l.min_memory_mb) + " to " +
                          std::to_string(l.max_memory_mb),
                      "memory_mb");
  return std::nullopt;
}

pool_spec apply_update(pool_spec s, const pool_update& u) {
  if (u.min_ready) s.min_ready = *u.min_ready;
  if (u.max_ready) s.max_ready = *u.max_ready;
  if (u.cpu_count) s.cpu_count = *u.cpu_count;
  if (u.memory_mb) s.memory_mb = *u.memory_mb;
  if (u.policy) s.policy = *u.policy;
  if (u.max_idle_ms) {
    if (*u.max_idle_ms == 0)
      s.max_idle_ms.reset();
    else
      s.max_idle_ms = *u.max_idle_ms;
  }
  return s;
}

}  // namespace nullspace::actors
