// settle (pool_internal.hpp): the pool's target after every change — starts,
// surplus, retirement of stale machines (rolls and idle recycling) — and the
// timers that bring it back (backoff, idle deadlines).
//
// The rule, with fresh = ready machines of the serving build not idle past
// max_idle_ms and stale = the other ready ones:
//   1. retirement: while a stale machine is held and fresh >= min_ready, stop
//      it (its replacement is ready: a roll's or an idle recycle's end).
//      Surplus: while ready > max_ready, stop one (stale first, then the
//      oldest fresh): a scale-down. Ready machines between min_ready and
//      max_ready stay (the pool keeps min_ready <= ready + starting <=
//      max_ready), so lowering only min_ready stops refilling, not machines.
//   2. starts (enabled, backoff over): while fresh + starting < min_ready and
//      ready + starting < max_ready, within 2 starts per pool and the global
//      budget. A roll therefore keeps its old ready machines and may exceed
//      min_ready by the starts in flight, never max_ready.
//   3. no room (ready + starting = max_ready, nothing starting, a start
//      wanted): one stale machine is stopped first, so a pool with
//      max_ready = min_ready rolls one machine at a time.
// A require request waiting for a machine adds one to min_ready in 2 (still
// within max_ready): the machine started for it goes straight to it.
#include <algorithm>
#include <chrono>

#include "actors/machine/machine_messages.hpp"
#include "actors/machine/machine_resolve.hpp"
#include "actors/pool/pool_internal.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors::pool_detail {
namespace {

bool idle_expired(const pool_actor_state& st, const ready_machine& m, int64_t now) {
  auto idle = st.rec.spec.max_idle_ms;
  return idle && now - m.since_ms >= static_cast<int64_t>(*idle);
}

// Schedules a ptick at `at_ms` unless one comes at or before it.
void tick_at(pool_ptr self, int64_t at_ms) {
  auto& st = self->state;
  if (st.tick_at_ms != 0 && st.tick_at_ms <= at_ms) return;
  st.tick_at_ms = at_ms;
  auto in = std::max<int64_t>(1, at_ms - storage::now_ms());
  self->delayed_send(self, std::chrono::milliseconds(in), ptick_atom::value);
}

void release_budget(pool_ptr self) {
  auto& st = self->state;
  --st.budget->in_flight;
  if (st.budget->wanted.exchange(false))
    if (auto mgr = caf::actor_cast<pool_manager_actor>(st.ctx->directory.pools()))
      self->send(mgr, pbudget_atom::value);
}

void start_failed(pool_ptr self, const std::string& machine, const std::string& message,
                  std::vector<std::string> lines) {
  auto& st = self->state;
  ++st.rec.counts.failed;
  ++st.rec.consecutive_failures;
  st.rec.reason_message = message;
  st.rec.last_lines = lines;
  auto delay = std::min<int64_t>(max_backoff_ms,
                                 250LL << std::min<uint32_t>(st.rec.consecutive_failures, 7));
  st.next_start_ms = storage::now_ms() + delay;
  logging::pool.warn("warm pool: a machine failed to start",
                     {{"pool", st.rec.id},
                      {"tenant", st.rec.tenant},
                      {"failures_in_a_row", st.rec.consecutive_failures},
                      {"retry_in_ms", delay},
                      {"error", message}});
  auto what = "start failed" + (machine.empty() ? std::string() : " (" + machine + ")") + ": " +
              message + " (" + std::to_string(st.rec.consecutive_failures) + " in a row)";
  if (!lines.empty()) {
    what += "; last output:";
    for (auto& l : lines) what += "\n  " + l;
  }
  note(self, "error", std::move(what));
  if (st.rec.consecutive_failures >= max_failures && st.rec.state == pool_state::enabled) {
    st.rec.state = pool_state::degraded;
    st.rec.reason = "start_failed";
    note_state(self, "degraded: " + std::to_string(st.rec.consecutive_failures) +
                         " starts failed in a row; enable the pool to try again");
  }
}

void started(pool_ptr self, const std::string& id, machine_reply& r) {
  auto& st = self->state;
  if (r.err || r.record.state != machine_state::ready) {
    auto lines = r.record.failure ? r.record.failure->last_lines : std::vector<std::string>{};
    auto msg = r.err              ? r.err->message
               : r.record.failure ? r.record.failure->code + ": " + r.record.failure->message
                                  : "machine " + r.record.id + " is " + to_string(r.record.state);
    start_failed(self, id, msg, std::move(lines));
  } else if (st.rec.state == pool_state::draining) {
    stop_machine(self, id, "warm pool drained");
  } else {
    st.rec.consecutive_failures = 0;
    if (st.rec.reason == "start_failed") st.rec.reason.clear();
    auto took = r.record.ready_ms - r.record.created_ms;
    note(self, "info",
         "refill: " + id + " ready in " + std::to_string(took) + " ms (build " + r.record.build_id +
             ")");
    add_ready(self, ready_machine{id, r.record.build_id, storage::now_ms()});
  }
}

// False when no start could be made (the failure is counted).
bool start_one(pool_ptr self) {
  auto& st = self->state;
  machine_request req;
  req.template_ref = start_ref(st);
  req.cpu_count = st.rec.spec.cpu_count;
  req.memory_mb = st.rec.spec.memory_mb;
  // A ready machine waits for its checkout; the checkout sets its real deadline.
  req.timeout_ms = static_cast<uint64_t>(st.ctx->config.machines.max_timeout.count());
  auto c = resolve_machine(*st.ctx, req, st.rec.tenant);
  if (!c) {
    start_failed(self, "", c.error().message, {});
    return false;
  }
  c->record.template_ref = st.rec.spec.template_ref;
  c->record.pool_id = st.rec.id;
  c->wait = true;
  if (st.rec.serving_build.empty()) st.rec.serving_build = c->record.build_id;
  auto mgr = caf::actor_cast<machine_manager_actor>(st.ctx->directory.machines());
  if (!mgr) return false;
  auto id = c->record.id;
  note(self, "info",
       "refill: starting " + id + " (build " + c->record.build_id + "; ready " +
           std::to_string(st.ready.size()) + ", starting " + std::to_string(st.starting) +
           ", min_ready " + std::to_string(st.rec.spec.min_ready) + ")");
  ++st.starting;
  ++st.budget->in_flight;
  auto after = [self] {
    persist(self);
    answer_ready_waiters(self);
    finish_drain(self);
    settle(self);
  };
  self->request(mgr, caf::infinite, create_atom::value, std::move(*c))
      .then(
          [self, id, after](machine_reply& r) {
            --self->state.starting;
            release_budget(self);
            started(self, id, r);
            after();
          },
          [self, id, after](caf::error& e) {
            --self->state.starting;
            release_budget(self);
            start_failed(self, id, caf::to_string(e), {});
            after();
          });
  return true;
}

// The stale machine to let go first: another build's before an idle one,
// oldest first. ready.end() when none is stale.
std::deque<ready_machine>::iterator first_stale(pool_actor_state& st, int64_t now) {
  auto it = std::find_if(st.ready.begin(), st.ready.end(),
                         [&](const ready_machine& m) { return m.build != st.rec.serving_build; });
  if (it != st.ready.end()) return it;
  return std::find_if(st.ready.begin(), st.ready.end(),
                      [&](const ready_machine& m) { return idle_expired(st, m, now); });
}

// Stops a ready machine the pool lets go, logging why.
void let_go(pool_ptr self, std::deque<ready_machine>::iterator it, int64_t now) {
  auto& st = self->state;
  auto m = std::move(*it);
  st.ready.erase(it);
  std::string why;
  if (m.build != st.rec.serving_build) {
    why = "warm pool rolled to build " + st.rec.serving_build;
    note(self, "info", "retire: " + m.id + " (build " + m.build + "): " + why);
  } else if (idle_expired(st, m, now)) {
    why = "warm pool recycled an idle machine";
    note(self, "info",
         "recycle: " + m.id + " idle for " + std::to_string(now - m.since_ms) +
             " ms (max_idle_ms " + std::to_string(*st.rec.spec.max_idle_ms) + ")");
  } else {
    why = "warm pool scaled down";
    note(self, "info",
         "scale down: " + m.id + " stopped (ready above min_ready " +
             std::to_string(st.rec.spec.min_ready) + ")");
  }
  stop_machine(self, m.id, why);
}

bool may_start(pool_ptr self, int64_t now) {
  auto& st = self->state;
  if (st.rec.state != pool_state::enabled || st.starting >= per_pool_starts) return false;
  if (now < st.next_start_ms) {
    tick_at(self, st.next_start_ms);
    return false;
  }
  if (st.budget->in_flight.load() >= st.budget->limit) {
    st.budget->wanted = true;
    return false;
  }
  return true;
}

// The end of a roll: no ready machine of another build is left.
void roll_done(pool_ptr self) {
  auto& st = self->state;
  if (!st.rolling) return;
  for (auto& m : st.ready)
    if (m.build != st.rec.serving_build) return;
  st.rolling = false;
  note(self, "info", "roll finished: build " + st.roll_from + " → " + st.rec.serving_build);
  st.roll_from.clear();
}

void arm_idle_timer(pool_ptr self, int64_t now) {
  auto& st = self->state;
  if (!st.rec.spec.max_idle_ms || st.rec.state != pool_state::enabled) return;
  int64_t next = 0;
  for (auto& m : st.ready)
    if (!idle_expired(st, m, now)) {
      auto at = m.since_ms + static_cast<int64_t>(*st.rec.spec.max_idle_ms);
      if (next == 0 || at < next) next = at;
    }
  if (next != 0) tick_at(self, next);
}

}  // namespace

bool stale(const pool_actor_state& st, const ready_machine& m, int64_t now_ms) {
  return m.build != st.rec.serving_build || idle_expired(st, m, now_ms);
}

void settle(pool_ptr self) {
  auto& st = self->state;
  if (st.rec.state == pool_state::draining) return;
  auto now = storage::now_ms();
  bool changed = false;
  auto fresh = [&] {
    return static_cast<uint32_t>(std::count_if(st.ready.begin(), st.ready.end(),
                                               [&](auto& m) { return !stale(st, m, now); }));
  };
  // 1. retirement of replaced stale machines, then surplus (stale first).
  for (auto it = first_stale(st, now); it != st.ready.end() && fresh() >= st.rec.spec.min_ready;
       it = first_stale(st, now)) {
    let_go(self, it, now);
    changed = true;
  }
  while (st.ready.size() > st.rec.spec.max_ready) {
    auto it = first_stale(st, now);
    let_go(self, it != st.ready.end() ? it : st.ready.begin(), now);
    changed = true;
  }
  // 2. and 3. starts.
  auto wanted = [&] {
    // Waiting require requests want a machine each, on top of min_ready.
    auto target = st.rec.spec.min_ready + static_cast<uint32_t>(st.checkout_waiters.size());
    return fresh() + st.starting < target;
  };
  auto room = [&] { return st.ready.size() + st.starting < st.rec.spec.max_ready; };
  while (wanted() && may_start(self, now)) {
    if (!room()) {
      auto it = first_stale(st, now);
      if (st.starting > 0 || it == st.ready.end()) break;
      let_go(self, it, now);
    }
    changed = true;
    if (!start_one(self)) break;
  }
  roll_done(self);
  arm_idle_timer(self, now);
  if (changed) {
    persist(self);
    answer_ready_waiters(self);
  }
}

}  // namespace nullspace::actors::pool_detail
