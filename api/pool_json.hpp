// The JSON of the warm-pool routes (API.md, "Warm pools and machines"): request
// bodies read into the engine's types, and the answers that wrap WarmPool
// objects (pool_view::json()).
#pragma once

#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/pool.hpp"

namespace nullspace::api {

// POST /v1/warm-pools: {"template", "name", "min_ready", "max_ready",
// "version_policy", "cpu_count", "memory_mb", "max_idle_ms"}. template and
// name are required; min_ready defaults to 1 and max_ready to min_ready.
// Unknown members are refused.
result<pool_spec> parse_pool_spec(const std::string& body);

// PATCH /v1/warm-pools/{id}: the same members but template and name, each
// optional; at least one.
result<pool_update> parse_pool_update(const std::string& body);

// {"warm_pool": P}.
std::string pool_body_json(const pool_view& p);
// {"warm_pools": [P…], "next_cursor": null}.
std::string pool_list_json(const std::vector<pool_view>& pools);

// A pool's counts as an error's `counts` (a 408 or 409 of the ready route).
std::vector<std::pair<std::string, uint64_t>> counts_of(const pool_counts& c);

}  // namespace nullspace::api
