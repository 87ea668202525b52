// warm_pool: one pool's actor (a child of the pool manager).
//
// - Target: min_ready ready machines of the serving build, never more than
//   max_ready ready + starting. Starts: at most `per_pool_starts` (2) at once
//   per pool and within the manager's global start budget (4).
// - Failures: a failed start is counted (counts.failed is cumulative, since
//   the pool was created) and logged with its output; the next start waits
//   (exponential backoff) and after 3 failures in a row the pool is degraded
//   (start_failed) and starts nothing until enabled again.
// - Stale machines: ready ones of another build than the serving one (a
//   roll) or idle past max_idle_ms (recycling) are replaced first and stopped
//   once their replacement is ready, so the pool keeps min_ready ready while
//   max_ready leaves room for the replacement; when it leaves none
//   (ready + starting = max_ready) one stale machine is stopped first to make
//   room. Surplus above max_ready (after a scale-down) is stopped at once,
//   stale ones first; ready machines between min_ready and max_ready stay.
//   In-use machines are never touched.
// - Rolls (track_tag): the template registry pushes tag moves and renames
//   (tchanged); the pool resolves its ref again and, on a new build, serves
//   it from then on. pinned_build pools only follow renames.
// - Checkout: hands out a ready machine of the serving build first (oldest
//   first), one message at a time (never the same machine twice); `require`
//   requests wait in order. A request whose template resolves to another
//   build than the serving one gets none (version_mismatch). A checked-out
//   machine counts as in_use until its actor reports it ended (mended).
// - Drain / remove: stops its ready (and still starting) machines, then ends
//   disabled (drain) or deletes its record and log and exits (remove).
// Every change is written to the pool's record and summarised in the engine's
// pool index; events go to the pool's durable log (through the log hub).
#pragma once

#include <atomic>
#include <memory>

#include "actors/engine_context.hpp"
#include "actors/pool/pool_messages.hpp"

namespace nullspace::actors {

// Machines being started by all pools at once, and its cap. A pool that
// found it full sets `wanted`; the pool that frees a slot then tells the
// manager (pbudget), which lets every pool settle again.
struct start_budget {
  std::atomic<uint32_t> in_flight{0};
  std::atomic<bool> wanted{false};
  uint32_t limit = 4;
};

// `created`: a new pool (its log starts), else one adopted at start-up or
// after a crash (it takes back its ready and in-use machines from the store).
warm_pool_actor spawn_warm_pool(caf::local_actor* parent, std::shared_ptr<engine_context> ctx,
                                std::shared_ptr<start_budget> budget, pool_record rec,
                                bool created);

}  // namespace nullspace::actors
