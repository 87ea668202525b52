// Warm pools: ready machines kept per template so a create can be served at
// once (shared API.md, "Warm pools and machines"). The engine calls are in
// engine.hpp; the pool actors keep the counts of the record up to date.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/ids.hpp"

namespace nullspace {

//   enabled ⇄ disabled;  enabled → degraded (start failures) → enabled (enable);
//   any → draining → disabled (0 machines), or removed (delete)
enum class pool_state { enabled, disabled, draining, degraded };

const char* to_string(pool_state s);
std::optional<pool_state> parse_pool_state(std::string_view s);

// Which build a pool's machines run.
enum class version_policy {
  track_tag,     // whatever the template ref resolves to now (its tag, or latest)
  pinned_build,  // the build the ref resolved to when the pool was created
};

const char* to_string(version_policy p);
std::optional<version_policy> parse_version_policy(std::string_view s);

// What a pool is asked to be (POST /v1/warm-pools).
struct pool_spec {
  std::string template_ref;  // any ref the registry resolves
  std::string name;          // valid_name(); unique per tenant
  uint32_t min_ready = 1, max_ready = 1;
  std::optional<uint32_t> cpu_count, memory_mb;  // override the template's
  version_policy policy = version_policy::track_tag;
  std::optional<uint64_t> max_idle_ms;  // ready machines idle longer are recycled
};

// A change to a pool (PATCH /v1/warm-pools/{id}): only the fields set change.
// Ready machines above a lowered max_ready are stopped (stale ones first); a
// lowered min_ready only stops refilling. In-use ones are never touched.
struct pool_update {
  std::optional<uint32_t> min_ready, max_ready;
  std::optional<uint32_t> cpu_count, memory_mb;  // for machines started from now on
  std::optional<version_policy> policy;
  std::optional<uint64_t> max_idle_ms;  // 0 turns recycling off
};

struct pool_counts {
  uint32_t ready = 0;     // started, waiting for a checkout
  uint32_t starting = 0;  // asked for, not ready yet
  uint32_t in_use = 0;    // checked out and not ended yet
  uint32_t failed = 0;    // starts that failed since the pool was created
};

// The durable record of one pool.
struct pool_record {
  std::string id;      // wp_…
  std::string tenant;  // owner; never shown to other tenants
  pool_spec spec;
  pool_state state = pool_state::enabled;
  std::string reason;          // a code when not healthy: start_failed, disabled, draining, …
  std::string reason_message;  // a human sentence for it
  std::vector<std::string> last_lines;  // the last failed start's output
  std::string serving_build;            // the build its new machines run
  pool_counts counts;
  uint32_t consecutive_failures = 0;
  int64_t created_ms = 0, updated_ms = 0;
};

// A pool as the API shows it.
struct pool_view {
  pool_record record;
  pool_id id() const;
  std::string json() const;  // the API's `WarmPool` object
};

}  // namespace nullspace
