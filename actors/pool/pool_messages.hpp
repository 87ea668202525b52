// Typed interfaces of the warm-pool half of the actor tree:
//
//   orchestrator ── pool_manager ── warm_pool (one per pool, linked)
//
// The manager creates pools (unique names per tenant), routes every request
// by id or name (checking the tenant) and shares one global start budget
// between its pools. A warm_pool keeps its ready machines (ordinary machine
// actors under the machine manager, whose records carry its pool_id) and
// hands them out one message at a time, so no machine is given twice.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "nullspace/error.hpp"
#include "nullspace/pool.hpp"

namespace nullspace::actors {

using ptick_atom = caf::atom_constant<caf::atom("ptick")>;
using pwait_atom = caf::atom_constant<caf::atom("pwait")>;
using pcreate_atom = caf::atom_constant<caf::atom("pcreate")>;

struct pool_reply {
  std::optional<error> err;
  pool_record record;
};

// `pool` is an id (wp_…) or a name of the tenant's.
struct pool_op {
  enum kind { get, enable, disable, drain, remove, wait_ready } what = get;
  std::string tenant, pool;
  uint32_t min_ready = 0;  // wait_ready
  int64_t timeout_ms = 0;  // wait_ready
};

// A create request asking a pool for one of its ready machines.
struct checkout_request {
  std::string tenant, pool;
  bool wait = false;  // require: wait up to wait_ms for one
  uint64_t wait_ms = 0;
  bool bypass = false;  // only resolve the pool (its id and template)
};

struct checkout_reply {
  std::optional<error> err;  // the pool does not exist (for this tenant)
  std::string pool_id, template_ref;
  std::string machine_id;  // empty: none handed out
  std::string reason;      // why none: empty, disabled, draining, degraded
  uint64_t waited_ms = 0;
  pool_counts counts;
};

using warm_pool_actor =
    caf::typed_actor<caf::replies_to<pool_op>::with<pool_reply>,
                     caf::replies_to<checkout_request>::with<checkout_reply>,
                     caf::reacts_to<ptick_atom>,             // refill, backoff, poll machines
                     caf::reacts_to<pwait_atom, uint64_t>>;  // waiter N's deadline

using pool_manager_actor =
    caf::typed_actor<caf::replies_to<pcreate_atom, pool_record>::with<pool_reply>,
                     caf::replies_to<pool_op>::with<pool_reply>,
                     caf::replies_to<checkout_request>::with<checkout_reply>>;

}  // namespace nullspace::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::pool_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::pool_op)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::checkout_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::checkout_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::pool_record)
