// warm_pool: one pool's actor (a child of the pool manager).
//
// - Refill: keeps ready + starting >= min_ready and <= max_ready, asking the
//   machine manager for machines whose record carries the pool id; at most
//   `per_pool_starts` at once and within the manager's global start budget.
// - Failures: a failed start is counted with its output; the next refill
//   waits (exponential backoff) and after `max_failures` in a row the pool is
//   degraded (start_failed) and stops starting machines until enabled again.
// - Checkout: hands its oldest ready machine to a create, one message at a
//   time (never the same machine twice); `require` requests wait in order.
//   A checked-out machine counts as in_use until it ends.
// - Drain / remove: stops its ready (and still starting) machines, then ends
//   disabled (drain) or deletes its record and exits (remove).
// Counts are written to the pool's record on every change.
#pragma once

#include <atomic>
#include <memory>

#include "actors/engine_context.hpp"
#include "actors/pool/pool_messages.hpp"

namespace nullspace::actors {

// Machines being started by all pools at once, and its cap.
struct start_budget {
  std::atomic<uint32_t> in_flight{0};
  uint32_t limit = 4;
};

warm_pool_actor spawn_warm_pool(caf::local_actor* parent, std::shared_ptr<engine_context> ctx,
                                std::shared_ptr<start_budget> budget, pool_record rec);

}  // namespace nullspace::actors
