// warm_pool (warm_pool.hpp): one pool's refill, checkout and drain.
#include "actors/pool/warm_pool.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include "actors/machine/machine_messages.hpp"
#include "actors/machine/machine_resolve.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace {

constexpr uint32_t per_pool_starts = 2;  // machines one pool starts at once
constexpr uint32_t max_failures = 3;     // consecutive failed starts → degraded
constexpr auto poll_interval = std::chrono::milliseconds(500);
constexpr int64_t max_backoff_ms = 30000;

struct checkout_waiter {
  uint64_t seq;
  int64_t since_ms;
  caf::typed_response_promise<checkout_reply> rp;
};

struct ready_waiter {
  uint64_t seq;
  uint32_t min_ready;
  caf::typed_response_promise<pool_reply> rp;
};

struct pool_state_data {
  std::shared_ptr<engine_context> ctx;
  std::shared_ptr<start_budget> budget;
  pool_record rec;
  std::deque<std::string> ready;  // oldest first: handed out first
  uint32_t starting = 0;
  std::set<std::string> in_use;  // checked out, not ended yet
  uint32_t stopping = 0;         // drain: stops not answered yet
  int64_t next_start_ms = 0;     // backoff: no start before this
  uint64_t seq = 0;
  std::deque<checkout_waiter> checkout_waiters;
  std::vector<ready_waiter> ready_waiters;
  std::vector<caf::typed_response_promise<pool_reply>> drain_waiters;
  bool removing = false;
  static inline const char* name = "warm_pool";
};

using pool_ptr = warm_pool_actor::stateful_pointer<pool_state_data>;

machine_manager_actor machines(pool_ptr self) {
  return caf::actor_cast<machine_manager_actor>(self->state.ctx->directory.machines());
}

pool_counts counts_of(const pool_state_data& st) {
  auto c = st.rec.counts;
  c.ready = static_cast<uint32_t>(st.ready.size());
  c.starting = st.starting;
  c.in_use = static_cast<uint32_t>(st.in_use.size());
  return c;
}

void persist(pool_ptr self) {
  auto& st = self->state;
  st.rec.counts = counts_of(st);
  st.rec.updated_ms = storage::now_ms();
  if (st.removing) return;  // its record goes once drained
  storage::write_batch wb;
  st.ctx->db->put_pool(wb, st.rec);
  if (auto r = st.ctx->db->write(wb); !r)
    logging::machine.error("warm pool: cannot store its record",
                           {{"pool", st.rec.id}, {"error", r.error().message}});
}

checkout_reply empty_reply(const pool_state_data& st, std::string reason) {
  checkout_reply r;
  r.pool_id = st.rec.id;
  r.template_ref = st.rec.spec.template_ref;
  r.reason = std::move(reason);
  r.counts = counts_of(st);
  return r;
}

void answer_ready_waiters(pool_ptr self) {
  auto& st = self->state;
  auto& ws = st.ready_waiters;
  for (auto it = ws.begin(); it != ws.end();) {
    if (st.rec.state == pool_state::degraded) {
      it->rp.deliver(
          pool_reply{make_error(errc::conflict, "warm pool " + st.rec.spec.name + " is degraded (" +
                                                    st.rec.reason + "): " + st.rec.reason_message),
                     st.rec});
      it = ws.erase(it);
    } else if (st.ready.size() >= it->min_ready) {
      it->rp.deliver(pool_reply{std::nullopt, st.rec});
      it = ws.erase(it);
    } else {
      ++it;
    }
  }
}

void finish_drain(pool_ptr self) {
  auto& st = self->state;
  if (st.rec.state != pool_state::draining || !st.ready.empty() || st.starting || st.stopping)
    return;
  st.rec.state = pool_state::disabled;
  st.rec.reason.clear();
  st.rec.reason_message.clear();
  persist(self);
  if (st.removing) {
    storage::write_batch wb;
    st.ctx->db->delete_pool(wb, st.rec);
    (void)st.ctx->db->write(wb);
  }
  for (auto& rp : st.drain_waiters) rp.deliver(pool_reply{std::nullopt, st.rec});
  st.drain_waiters.clear();
  if (st.removing) self->quit();
}

void stop_machine(pool_ptr self, const std::string& id, const std::string& reason) {
  auto& st = self->state;
  auto mgr = machines(self);
  if (!mgr) return;
  ++st.stopping;
  machine_op op;
  op.what = machine_op::stop;
  op.tenant = st.rec.tenant;
  op.id = id;
  op.reason = reason;
  self->request(mgr, caf::infinite, std::move(op))
      .then(
          [self](machine_reply&) {
            --self->state.stopping;
            finish_drain(self);
          },
          [self](caf::error&) {
            --self->state.stopping;
            finish_drain(self);
          });
}

void refill(pool_ptr self);

// A ready machine goes to the first waiting checkout, else to the ready list.
void add_ready(pool_ptr self, std::string id) {
  auto& st = self->state;
  if (!st.checkout_waiters.empty()) {
    auto w = std::move(st.checkout_waiters.front());
    st.checkout_waiters.pop_front();
    auto r = empty_reply(st, "");
    r.machine_id = id;
    r.waited_ms = static_cast<uint64_t>(std::max<int64_t>(0, storage::now_ms() - w.since_ms));
    st.in_use.insert(id);
    r.counts = counts_of(st);
    w.rp.deliver(std::move(r));
    return;
  }
  st.ready.push_back(std::move(id));
}

void start_failed(pool_ptr self, const std::string& message, std::vector<std::string> lines) {
  auto& st = self->state;
  ++st.rec.counts.failed;
  ++st.rec.consecutive_failures;
  st.rec.reason_message = message;
  st.rec.last_lines = std::move(lines);
  auto delay = std::min<int64_t>(max_backoff_ms,
                                 250LL << std::min<uint32_t>(st.rec.consecutive_failures, 7));
  st.next_start_ms = storage::now_ms() + delay;
  logging::machine.warn("warm pool: a machine failed to start",
                        {{"pool", st.rec.id},
                         {"failures_in_a_row", st.rec.consecutive_failures},
                         {"retry_in_ms", delay},
                         {"error", message}});
  if (st.rec.consecutive_failures >= max_failures && st.rec.state == pool_state::enabled) {
    st.rec.state = pool_state::degraded;
    st.rec.reason = "start_failed";
  }
}

void start_one(pool_ptr self) {
  auto& st = self->state;
  machine_request req;
  req.template_ref =
      st.rec.spec.policy == version_policy::pinned_build && !st.rec.serving_build.empty()
          ? st.rec.spec.template_ref.substr(0, st.rec.spec.template_ref.find_first_of(":@")) + "@" +
                st.rec.serving_build
          : st.rec.spec.template_ref;
  req.cpu_count = st.rec.spec.cpu_count;
  req.memory_mb = st.rec.spec.memory_mb;
  // A ready machine waits for its checkout; the checkout sets its real deadline.
  req.timeout_ms = static_cast<uint64_t>(st.ctx->config.machines.max_timeout.count());
  auto c = resolve_machine(*st.ctx, req, st.rec.tenant);
  if (!c) {
    start_failed(self, c.error().message, {});
    persist(self);
    answer_ready_waiters(self);
    return;
  }
  c->record.template_ref = st.rec.spec.template_ref;
  c->record.pool_id = st.rec.id;
  c->wait = true;
  if (st.rec.serving_build != c->record.build_id) st.rec.serving_build = c->record.build_id;
  auto mgr = machines(self);
  if (!mgr) return;
  ++st.starting;
  ++st.budget->in_flight;
  self->request(mgr, caf::infinite, create_atom::value, std::move(*c))
      .then(
          [self](machine_reply& r) {
            auto& st = self->state;
            --st.starting;
            --st.budget->in_flight;
            if (r.err || r.record.state != machine_state::ready) {
              auto lines =
                  r.record.failure ? r.record.failure->last_lines : std::vector<std::string>{};
              auto msg = r.err ? r.err->message
                               : (r.record.failure ? r.record.failure->message
                                                   : "machine " + r.record.id + " is " +
                                                         to_string(r.record.state));
              start_failed(self, msg, std::move(lines));
            } else if (st.rec.state == pool_state::draining) {
              stop_machine(self, r.record.id, "warm pool drained");
            } else {
              st.rec.consecutive_failures = 0;
              if (st.rec.reason == "start_failed") st.rec.reason.clear();
              add_ready(self, r.record.id);
            }
            persist(self);
            answer_ready_waiters(self);
            finish_drain(self);
            refill(self);
          },
          [self](caf::error& e) {
            auto& st = self->state;
            --st.starting;
            --st.budget->in_flight;
            start_failed(self, caf::to_string(e), {});
            persist(self);
            answer_ready_waiters(self);
            finish_drain(self);
          });
}

void refill(pool_ptr self) {
  auto& st = self->state;
  if (st.rec.state != pool_state::enabled || storage::now_ms() < st.next_start_ms) return;
  auto want = [&] {
    auto have = st.ready.size() + st.starting;
    return have < st.rec.spec.min_ready && have < st.rec.spec.max_ready;
  };
  bool started = false;
  while (want() && st.starting < per_pool_starts &&
         st.budget->in_flight.load() < st.budget->limit && storage::now_ms() >= st.next_start_ms) {
    start_one(self);
    started = true;
    if (st.rec.state != pool_state::enabled) break;
  }
  if (started) persist(self);
}

// Drops machines that ended under the pool (ready ones that failed or timed
// out, checked-out ones that stopped): the store says.
void poll(pool_ptr self) {
  auto& st = self->state;
  bool changed = false;
  auto ended = [&](const std::string& id) {
    auto r = st.ctx->db->get_machine(id);
    return !r || is_terminal(r->state) || r->state == machine_state::stopping;
  };
  for (auto it = st.ready.begin(); it != st.ready.end();)
    if (ended(*it)) {
      it = st.ready.erase(it);
      changed = true;
    } else {
      ++it;
    }
  for (auto it = st.in_use.begin(); it != st.in_use.end();)
    if (ended(*it)) {
      it = st.in_use.erase(it);
      changed = true;
    } else {
      ++it;
    }
  if (changed) persist(self);
}

// Start-up: ready machines the store says are still the pool's count again;
// ones still starting are stopped (nobody waits for them); checked-out ones
// count as in use.
void adopt(pool_ptr self) {
  auto& st = self->state;
  std::vector<std::string> stale;
  st.ctx->db->for_each_live_machine([&](machine_record&& m) {
    if (m.pool_id == st.rec.id) {
      if (m.state == machine_state::ready)
        st.ready.push_back(m.id);
      else
        stale.push_back(m.id);
    } else if (m.checkout.pool_id == st.rec.id && m.checkout.result == "hit") {
      st.in_use.insert(m.id);
    }
  });
  for (auto& id : stale) stop_machine(self, id, "warm pool restarted");
  if (st.rec.state == pool_state::draining)
    for (auto& id : st.ready) stop_machine(self, id, "warm pool drained");
  if (st.rec.state == pool_state::draining) st.ready.clear();
  persist(self);
}

void begin_drain(pool_ptr self, const std::string& reason) {
  auto& st = self->state;
  st.rec.state = pool_state::draining;
  st.rec.reason = "draining";
  st.rec.reason_message = reason;
  auto ready = std::move(st.ready);
  st.ready.clear();
  for (auto& w : st.checkout_waiters) w.rp.deliver(empty_reply(st, "draining"));
  st.checkout_waiters.clear();
  for (auto& id : ready) stop_machine(self, id, "warm pool drained");
  persist(self);
}

warm_pool_actor::behavior_type warm_pool(pool_ptr self, std::shared_ptr<engine_context> ctx,
                                         std::shared_ptr<start_budget> budget, pool_record rec) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.budget = std::move(budget);
  st.rec = std::move(rec);
  adopt(self);
  finish_drain(self);
  self->send(self, ptick_atom::value);
  return {
      [=](pool_op& op) -> caf::result<pool_reply> {
        auto& st = self->state;
        switch (op.what) {
          case pool_op::get:
            break;
          case pool_op::enable:
            if (st.rec.state == pool_state::draining)
              return pool_reply{
                  make_error(errc::conflict, "warm pool " + st.rec.spec.name + " is draining"),
                  st.rec};
            st.rec.state = pool_state::enabled;
            st.rec.reason.clear();
            st.rec.reason_message.clear();
            st.rec.consecutive_failures = 0;
            st.next_start_ms = 0;
            persist(self);
            refill(self);
            break;
          case pool_op::disable:
            if (st.rec.state == pool_state::draining)
              return pool_reply{
                  make_error(errc::conflict, "warm pool " + st.rec.spec.name + " is draining"),
                  st.rec};
            st.rec.state = pool_state::disabled;
            st.rec.reason = "disabled";
            st.rec.reason_message = "disabled on request";
            persist(self);
            break;
          case pool_op::drain:
          case pool_op::remove: {
            if (op.what == pool_op::remove) st.removing = true;
            if (st.rec.state != pool_state::draining)
              begin_drain(self, op.what == pool_op::remove ? "deleted" : "drained on request");
            auto rp = self->make_response_promise<pool_reply>();
            st.drain_waiters.push_back(rp);
            finish_drain(self);
            return rp;
          }
          case pool_op::wait_ready: {
            auto rp = self->make_response_promise<pool_reply>();
            auto seq = ++st.seq;
            st.ready_waiters.push_back(ready_waiter{seq, op.min_ready, rp});
            answer_ready_waiters(self);
            self->delayed_send(self, std::chrono::milliseconds(op.timeout_ms), pwait_atom::value,
                               seq);
            return rp;
          }
        }
        st.rec.counts = counts_of(st);
        return pool_reply{std::nullopt, st.rec};
      },
      [=](checkout_request& req) -> caf::result<checkout_reply> {
        auto& st = self->state;
        if (req.bypass) return empty_reply(st, "bypass");
        if (st.rec.state != pool_state::enabled) return empty_reply(st, to_string(st.rec.state));
        if (!st.ready.empty()) {
          auto r = empty_reply(st, "");
          r.machine_id = st.ready.front();
          st.ready.pop_front();
          st.in_use.insert(r.machine_id);
          r.counts = counts_of(st);
          persist(self);
          refill(self);
          return r;
        }
        if (!req.wait || req.wait_ms == 0) return empty_reply(st, "empty");
        auto rp = self->make_response_promise<checkout_reply>();
        auto seq = ++st.seq;
        st.checkout_waiters.push_back(checkout_waiter{seq, storage::now_ms(), rp});
        self->delayed_send(self, std::chrono::milliseconds(req.wait_ms), pwait_atom::value, seq);
        refill(self);
        return rp;
      },
      [=](ptick_atom) {
        poll(self);
        refill(self);
        self->delayed_send(self, poll_interval, ptick_atom::value);
      },
      [=](pwait_atom, uint64_t seq) {
        auto& st = self->state;
        auto& cw = st.checkout_waiters;
        for (auto it = cw.begin(); it != cw.end(); ++it)
          if (it->seq == seq) {
            auto r = empty_reply(st, "empty");
            r.waited_ms =
                static_cast<uint64_t>(std::max<int64_t>(0, storage::now_ms() - it->since_ms));
            it->rp.deliver(std::move(r));
            cw.erase(it);
            return;
          }
        auto& rw = st.ready_waiters;
        for (auto it = rw.begin(); it != rw.end(); ++it)
          if (it->seq == seq) {
            auto c = counts_of(st);
            it->rp.deliver(pool_reply{
                make_error(errc::request_timeout,
                           "warm pool " + st.rec.spec.name + " has " + std::to_string(c.ready) +
                               " ready machines (" + std::to_string(c.starting) +
                               " starting), not " + std::to_string(it->min_ready) + ", in time"),
                st.rec});
            rw.erase(it);
            return;
          }
      },
  };
}

}  // namespace

warm_pool_actor spawn_warm_pool(caf::local_actor* parent, std::shared_ptr<engine_context> ctx,
                                std::shared_ptr<start_budget> budget, pool_record rec) {
  return parent->spawn<caf::linked>(warm_pool, std::move(ctx), std::move(budget), std::move(rec));
}

}  // namespace nullspace::actors
