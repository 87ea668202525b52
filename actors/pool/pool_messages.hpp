// Typed interfaces of the warm-pool half of the actor tree:
//
//   orchestrator ── pool_manager ── warm_pool (one per pool, linked)
//
// The manager creates pools (unique names per tenant), routes every request
// by id or name (checking the tenant) and shares one global start budget
// between its pools. A warm_pool keeps its ready machines (ordinary machine
// actors under the machine manager, whose records carry its pool_id) and
// hands them out one message at a time, so no machine is given twice.
//
// Pushed to the manager from elsewhere (no polling):
//   - tchanged (template_registry): the builds these templates' refs resolve
//     to may have changed (a new ready build, tags, promote) or a template was
//     renamed; pools of those templates look again (roll, follow a rename).
//   - mended (machine actor): a machine a pool holds or handed out is
//     stopping or ended; the pool drops it from its counts.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/machine/machine_messages.hpp"
#include "actors/messages.hpp"
#include "nullspace/error.hpp"
#include "nullspace/pool.hpp"

namespace nullspace::actors {

using ptick_atom = caf::atom_constant<caf::atom("ptick")>;
using psweep_atom = caf::atom_constant<caf::atom("psweep")>;
using pwait_atom = caf::atom_constant<caf::atom("pwait")>;
using pcreate_atom = caf::atom_constant<caf::atom("pcreate")>;
using pbudget_atom = caf::atom_constant<caf::atom("pbudget")>;
using tchanged_atom = caf::atom_constant<caf::atom("tchanged")>;
using mended_atom = caf::atom_constant<caf::atom("mended")>;
using pgone_atom = caf::atom_constant<caf::atom("pgone")>;

struct pool_reply {
  std::optional<error> err;
  pool_record record;
};

// `pool` is an id (wp_…) or a name of the tenant's.
struct pool_op {
  enum kind { get, enable, disable, drain, remove, wait_ready, update } what = get;
  std::string tenant, pool;
  uint32_t min_ready = 0;  // wait_ready
  int64_t timeout_ms = 0;  // wait_ready
  pool_update change;      // update
};

// A create request asking a pool for one of its ready machines.
struct checkout_request {
  std::string tenant, pool;
  bool wait = false;  // require: wait up to wait_ms for one
  uint64_t wait_ms = 0;
  bool bypass = false;     // only resolve the pool (its id and template); no machine
  bool overrides = false;  // with bypass: a prefer whose envs/resources need a cold start
  // The build the request's own template ref resolves to ("" when it named
  // none): another build than the pool's serving one is a version_mismatch.
  std::string build_id;
  // What a hit's checkout records on the machine (tenant, timeout_ms, labels,
  // Idempotency-Key); the pool fills in the machine and how it was served.
  machine_op handover;
};

// Templates as "namespace/name" (a rename names the old and the new).
using template_names = std::vector<std::string>;

using warm_pool_actor =
    caf::typed_actor<caf::replies_to<pool_op>::with<pool_reply>,
                     caf::replies_to<checkout_request>::with<checkout_reply>,
                     caf::reacts_to<ptick_atom>,            // settle: idle, backoff, budget
                     caf::reacts_to<psweep_atom>,           // the slow safety poll
                     caf::reacts_to<pwait_atom, uint64_t>,  // waiter N's deadline
                     caf::reacts_to<tchanged_atom, template_names>,
                     caf::reacts_to<mended_atom, std::string>>;  // machine id

using pool_manager_actor =
    caf::typed_actor<caf::replies_to<pcreate_atom, pool_record>::with<pool_reply>,
                     caf::replies_to<pool_op>::with<pool_reply>,
                     caf::replies_to<checkout_request>::with<checkout_reply>,
                     caf::reacts_to<pbudget_atom>,  // global start budget freed: all pools settle
                     caf::reacts_to<tchanged_atom, template_names>,
                     caf::reacts_to<mended_atom, std::string, std::string>,  // pool, machine
                     // a pool deleted its record: requests naming it are 404
                     // from now on, not sent to its ending actor
                     caf::reacts_to<pgone_atom, std::string>>;

}  // namespace nullspace::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::pool_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::pool_op)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::checkout_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::pool_record)
