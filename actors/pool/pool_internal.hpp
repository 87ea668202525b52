// Internals of the warm_pool actor shared by its source files: the state its
// handlers work on and the helpers that move a pool along. Not an interface:
// only actors/pool/*.cpp include it.
//
//   warm_pool.cpp      behavior, operations (enable … update), adoption, record, log
//   pool_refill.cpp    settle: starts, surplus, retirement (rolls, idle recycling), timers
//   pool_checkout.cpp  checkouts, waiters, machines that ended
//   pool_roll.cpp      following the template: tag moves (rolls) and renames
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/engine_context.hpp"
#include "actors/hub/log_appender.hpp"
#include "actors/pool/warm_pool.hpp"

namespace nullspace::actors::pool_detail {

constexpr uint32_t per_pool_starts = 2;  // machines one pool starts at once
constexpr uint32_t max_failures = 3;     // consecutive failed starts → degraded
constexpr int64_t max_backoff_ms = 30000;
// The safety poll: ended machines are pushed (mended); this only catches a
// notice lost while the pool manager restarted.
constexpr auto sweep_interval = std::chrono::seconds(30);

// A ready machine the pool holds.
struct ready_machine {
  std::string id;
  std::string build;     // the build it runs
  int64_t since_ms = 0;  // ready for the pool since (its idle clock)
};

struct checkout_waiter {
  uint64_t seq;
  int64_t since_ms;
  caf::typed_response_promise<checkout_reply> rp;
  machine_op handover;  // the waiting request's (checkout_request::handover)
};

struct ready_waiter {
  uint64_t seq;
  uint32_t min_ready;
  caf::typed_response_promise<pool_reply> rp;
};

struct pool_actor_state {
  std::shared_ptr<engine_context> ctx;
  std::shared_ptr<start_budget> budget;
  pool_record rec;
  std::unique_ptr<log_appender> log;
  // The template of the serving build (where a rename took it): tchanged
  // notices naming it concern this pool.
  std::string tmpl_ns, tmpl_name;
  std::deque<ready_machine> ready;  // oldest first
  uint32_t starting = 0;
  std::set<std::string> in_use;  // checked out, not ended yet
  uint32_t stopping = 0;         // stops asked for and not answered yet
  int64_t next_start_ms = 0;     // backoff: no start before this
  int64_t tick_at_ms = 0;        // the earliest ptick scheduled (0: none)
  bool rolling = false;          // ready machines of an older build remain
  std::string roll_from;         // the build the roll started from
  uint64_t seq = 0;
  std::deque<checkout_waiter> checkout_waiters;
  std::vector<ready_waiter> ready_waiters;
  std::vector<caf::typed_response_promise<pool_reply>> drain_waiters;
  bool removing = false;
  static inline const char* name = "warm_pool";
};

using pool_ptr = warm_pool_actor::stateful_pointer<pool_actor_state>;

// ---- warm_pool.cpp -------------------------------------------------------------

pool_counts counts_of(const pool_actor_state& st);
// Writes the record (counts included) and its summary in the engine's pool index.
void persist(pool_ptr self);
// An entry of the pool's log: kind "event" (or "error" at level error).
void note(pool_ptr self, const std::string& level, std::string message);
// A state change's entry (kind "status", status = the new state).
void note_state(pool_ptr self, std::string message);
void answer_ready_waiters(pool_ptr self);
// Stops one of its machines (answers nothing; counted in `stopping`).
void stop_machine(pool_ptr self, const std::string& id, const std::string& reason);
// A draining pool with nothing left ends disabled (or, removing, deleted).
void finish_drain(pool_ptr self);

// ---- pool_refill.cpp -----------------------------------------------------------

// Brings the pool to its target after any change: surplus ready machines
// stopped (stale ones first), stale ones retired once replaced, starts within
// the budgets, the roll's end noted, the next timer armed.
void settle(pool_ptr self);
// A ready machine whose build is not the serving one, or idle past max_idle_ms.
bool stale(const pool_actor_state& st, const ready_machine& m, int64_t now_ms);

// ---- pool_checkout.cpp ---------------------------------------------------------

caf::result<checkout_reply> checkout(pool_ptr self, const checkout_request& req);
checkout_reply empty_reply(const pool_actor_state& st, std::string reason);
// A machine that became ready: to the first waiting checkout, else held.
void add_ready(pool_ptr self, ready_machine m);
// A require's wait ran out (pwait with its seq); false if it was not one.
bool checkout_wait_over(pool_ptr self, uint64_t seq);
// A machine of the pool is stopping or ended: it leaves the counts.
void machine_ended(pool_ptr self, const std::string& id);
// The safety poll: the store says which held machines ended.
void sweep(pool_ptr self);

// ---- pool_roll.cpp -------------------------------------------------------------

// Looks at the template again: follows a rename (the serving build's record
// says where its template went) and, for track_tag, rolls to the build the
// ref resolves to now.
void refresh(pool_ptr self);
// The ref machines are started from: the serving build, canonically.
std::string start_ref(const pool_actor_state& st);

}  // namespace nullspace::actors::pool_detail
