// warm_pool (warm_pool.hpp): the behavior, the operations on a pool, its
// adoption at start-up, its record and its log.
#include "actors/pool/warm_pool.hpp"

#include <algorithm>
#include <chrono>

#include "actors/machine/machine_messages.hpp"
#include "actors/pool/pool_internal.hpp"
#include "actors/pool/pool_spec_check.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace pool_detail {
namespace {

machine_manager_actor machines(pool_ptr self) {
  return caf::actor_cast<machine_manager_actor>(self->state.ctx->directory.machines());
}

storage::log_entry entry(std::string kind, std::string level, std::string message) {
  storage::log_entry e;
  e.ts_ms = storage::now_ms();
  e.kind = std::move(kind);
  e.level = std::move(level);
  e.message = std::move(message);
  return e;
}

std::unique_ptr<log_appender> appender_for(pool_ptr self) {
  return std::make_unique<log_appender>(self->state.rec.id, [self](append_request req,
                                                                   std::function<void(bool)> done) {
    auto hub = self->state.ctx->directory.hub();
    if (!hub) return done(false);
    self->request(hub, caf::infinite, append_atom::value, std::move(req))  // (as a machine's)
        .then([done](uint64_t) { done(true); },
              [self, done](caf::error& e) {
                logging::pool.error("pool log append failed", {{"pool", self->state.rec.id},
                                                               {"tenant", self->state.rec.tenant},
                                                               {"error", caf::to_string(e)}});
                done(false);
              });
  });
}

// Deletes the record and the log. Through the hub, so the log's followers
// get their end with the last entry; directly if the hub cannot take it.
void remove_record(pool_ptr self) {
  auto& st = self->state;
  auto finish = [self](bool ok) {
    auto& s = self->state;
    if (!ok) {
      storage::write_batch wb;
      s.ctx->db->delete_pool(wb, s.rec);
      (void)s.ctx->db->write(wb);
    }
    s.ctx->pools.erase(s.rec.id);
    // The manager hears of it before the delete is answered, so a request
    // sent after that answer finds no pool (404) rather than this ending actor.
    if (auto mgr = caf::actor_cast<pool_manager_actor>(s.ctx->directory.pools()))
      self->send(mgr, pgone_atom::value, s.rec.id);
    for (auto& rp : s.drain_waiters) rp.deliver(pool_reply{std::nullopt, s.rec});
    s.drain_waiters.clear();
    self->quit();
  };
  auto e = entry("status", "info", "deleted");
  e.status = "deleted";
  st.log->change(
      {std::move(e)},
      [rec = st.rec](storage::store& db, storage::write_batch& wb) { db.delete_pool(wb, rec); },
      std::move(finish), std::nullopt, st.rec);
}

// Start-up: ready machines the store says are still the pool's count again;
// ones still starting are stopped (nobody waits for them); checked-out ones
// count as in use.
void adopt(pool_ptr self) {
  auto& st = self->state;
  std::vector<std::string> stale_starts;
  st.ctx->db->for_each_live_machine([&](machine_record&& m) {
    if (m.pool_id == st.rec.id) {
      if (m.state == machine_state::ready)
        st.ready.push_back(ready_machine{m.id, m.build_id, m.ready_ms});
      else
        stale_starts.push_back(m.id);
    } else if (m.checkout.pool_id == st.rec.id && m.checkout.result == "hit") {
      st.in_use.insert(m.id);
    }
  });
  std::sort(st.ready.begin(), st.ready.end(),
            [](const ready_machine& a, const ready_machine& b) { return a.since_ms < b.since_ms; });
  for (auto& id : stale_starts) stop_machine(self, id, "warm pool restarted");
  note(self, "info",
       "taken back after a restart: " + std::to_string(st.ready.size()) + " ready, " +
           std::to_string(st.in_use.size()) + " in use, " + std::to_string(stale_starts.size()) +
           " unfinished starts stopped");
  if (st.rec.state == pool_state::draining) {
    for (auto& m : st.ready) stop_machine(self, m.id, "warm pool drained");
    st.ready.clear();
  }
  persist(self);
}

void begin_drain(pool_ptr self, const std::string& reason) {
  auto& st = self->state;
  st.rec.state = pool_state::draining;
  st.rec.reason = "draining";
  st.rec.reason_message = reason;
  note_state(self, "draining (" + reason + "): stopping " + std::to_string(st.ready.size()) +
                       " ready machines");
  auto ready = std::move(st.ready);
  st.ready.clear();
  for (auto& w : st.checkout_waiters) w.rp.deliver(empty_reply(st, "draining"));
  st.checkout_waiters.clear();
  for (auto& m : ready) stop_machine(self, m.id, "warm pool drained");
  persist(self);
}

std::string opt_text(const std::optional<uint32_t>& v) {
  return v ? std::to_string(*v) : std::string("template's");
}

// "min_ready 1 → 3, memory_mb template's → 512": what an update changes.
std::string describe_update(const pool_spec& a, const pool_spec& b) {
  std::string out;
  auto add = [&](const char* field, const std::string& from, const std::string& to) {
    if (from == to) return;
    if (!out.empty()) out += ", ";
    out += std::string(field) + " " + from + " → " + to;
  };
  add("min_ready", std::to_string(a.min_ready), std::to_string(b.min_ready));
  add("max_ready", std::to_string(a.max_ready), std::to_string(b.max_ready));
  add("cpu_count", opt_text(a.cpu_count), opt_text(b.cpu_count));
  add("memory_mb", opt_text(a.memory_mb), opt_text(b.memory_mb));
  add("version_policy", to_string(a.policy), to_string(b.policy));
  auto idle = [](const std::optional<uint64_t>& v) {
    return v ? std::to_string(*v) : std::string("off");
  };
  add("max_idle_ms", idle(a.max_idle_ms), idle(b.max_idle_ms));
  return out.empty() ? "nothing changed" : out;
}

caf::result<pool_reply> update(pool_ptr self, const pool_update& change) {
  auto& st = self->state;
  if (st.rec.state == pool_state::draining)
    return pool_reply{make_error(errc::conflict, "warm pool " + st.rec.spec.name + " is draining"),
                      st.rec};
  auto next = apply_update(st.rec.spec, change);
  if (auto e = check_pool_spec(next, st.ctx->config.limits, st.ctx->config.machines))
    return pool_reply{*e, st.rec};
  bool now_tracking =
      st.rec.spec.policy != version_policy::track_tag && next.policy == version_policy::track_tag;
  note(self, "info", "updated: " + describe_update(st.rec.spec, next));
  st.rec.spec = std::move(next);
  persist(self);
  if (now_tracking)
    refresh(self);  // settles too
  else
    settle(self);
  answer_ready_waiters(self);
  st.rec.counts = counts_of(st);
  return pool_reply{std::nullopt, st.rec};
}

caf::result<pool_reply> operate(pool_ptr self, pool_op& op) {
  auto& st = self->state;
  auto draining = [&] {
    return pool_reply{make_error(errc::conflict, "warm pool " + st.rec.spec.name + " is draining"),
                      st.rec};
  };
  switch (op.what) {
    case pool_op::get:
      break;
    case pool_op::enable:
      if (st.rec.state == pool_state::draining) return draining();
      if (st.rec.state != pool_state::enabled) note_state(self, "enabled");
      st.rec.state = pool_state::enabled;
      st.rec.reason.clear();
      st.rec.reason_message.clear();
      st.rec.consecutive_failures = 0;
      st.next_start_ms = 0;
      persist(self);
      settle(self);
      break;
    case pool_op::disable:
      if (st.rec.state == pool_state::draining) return draining();
      st.rec.state = pool_state::disabled;
      st.rec.reason = "disabled";
      st.rec.reason_message = "disabled on request";
      note_state(self, "disabled on request");
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
      self->delayed_send(self, std::chrono::milliseconds(op.timeout_ms), pwait_atom::value, seq);
      return rp;
    }
    case pool_op::update:
      return update(self, op.change);
  }
  st.rec.counts = counts_of(st);
  return pool_reply{std::nullopt, st.rec};
}

void ready_wait_over(pool_ptr self, uint64_t seq) {
  auto& st = self->state;
  auto& rw = st.ready_waiters;
  for (auto it = rw.begin(); it != rw.end(); ++it)
    if (it->seq == seq) {
      auto c = counts_of(st);
      it->rp.deliver(pool_reply{
          make_error(errc::request_timeout, "warm pool " + st.rec.spec.name + " has " +
                                                std::to_string(c.ready) + " ready machines (" +
                                                std::to_string(c.starting) + " starting), not " +
                                                std::to_string(it->min_ready) + ", in time"),
          st.rec});
      rw.erase(it);
      return;
    }
}

warm_pool_actor::behavior_type warm_pool(pool_ptr self, std::shared_ptr<engine_context> ctx,
                                         std::shared_ptr<start_budget> budget, pool_record rec,
                                         bool created) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.budget = std::move(budget);
  st.rec = std::move(rec);
  st.log = appender_for(self);
  if (created) {
    note_state(self,
               "created: template " + st.rec.spec.template_ref + " (build " + st.rec.serving_build +
                   "), min_ready " + std::to_string(st.rec.spec.min_ready) + ", max_ready " +
                   std::to_string(st.rec.spec.max_ready) + ", " + to_string(st.rec.spec.policy));
    persist(self);
  } else {
    adopt(self);
  }
  finish_drain(self);
  if (st.rec.state != pool_state::draining) refresh(self);  // settles too
  self->delayed_send(self, sweep_interval, psweep_atom::value);
  return {
      [=](pool_op& op) { return operate(self, op); },
      [=](const checkout_request& req) { return checkout(self, req); },
      [=](ptick_atom) {
        // Whichever tick this is, settle arms the next one it needs (a tick
        // superseded by an earlier one only costs a settle).
        self->state.tick_at_ms = 0;
        settle(self);
      },
      [=](psweep_atom) {
        sweep(self);
        settle(self);
        self->delayed_send(self, sweep_interval, psweep_atom::value);
      },
      [=](pwait_atom, uint64_t seq) {
        if (!checkout_wait_over(self, seq)) ready_wait_over(self, seq);
      },
      [=](tchanged_atom, const template_names& names) {
        auto& s = self->state;
        if (s.tmpl_ns.empty() ||
            std::find(names.begin(), names.end(), s.tmpl_ns + "/" + s.tmpl_name) != names.end())
          refresh(self);
      },
      [=](mended_atom, const std::string& machine) { machine_ended(self, machine); },
  };
}

}  // namespace

pool_counts counts_of(const pool_actor_state& st) {
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
  if (st.removing && st.rec.state == pool_state::disabled) return;  // its record goes now
  st.ctx->pools.put({st.rec.id, st.rec.tenant, st.rec.spec.name, st.rec.state, st.rec.counts,
                     st.rec.serving_build});
  storage::write_batch wb;
  st.ctx->db->put_pool(wb, st.rec);
  if (auto r = st.ctx->db->write(wb); !r)
    logging::pool.error("warm pool: cannot store its record",
                        {{"pool", st.rec.id}, {"error", r.error().message}});
}

void note(pool_ptr self, const std::string& level, std::string message) {
  self->state.log->add(entry(level == "error" ? "error" : "event", level, std::move(message)));
}

void note_state(pool_ptr self, std::string message) {
  auto e = entry("status", "info", std::move(message));
  e.status = to_string(self->state.rec.state);
  if (self->state.rec.state == pool_state::degraded) e.level = "warn";
  self->state.log->add(std::move(e));
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
      st.rec.counts = counts_of(st);
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
  if (st.removing) return remove_record(self);
  note_state(self, "drained: no ready machine left");
  persist(self);
  for (auto& rp : st.drain_waiters) rp.deliver(pool_reply{std::nullopt, st.rec});
  st.drain_waiters.clear();
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
  auto done = [self] {
    --self->state.stopping;
    finish_drain(self);
  };
  self->request(mgr, caf::infinite, std::move(op))
      .then([done](machine_reply&) { done(); }, [done](caf::error&) { done(); });
}

}  // namespace pool_detail

warm_pool_actor spawn_warm_pool(caf::local_actor* parent, std::shared_ptr<engine_context> ctx,
                                std::shared_ptr<start_budget> budget, pool_record rec,
                                bool created) {
  return parent->spawn<caf::linked>(pool_detail::warm_pool, std::move(ctx), std::move(budget),
                                    std::move(rec), created);
}

}  // namespace nullspace::actors
