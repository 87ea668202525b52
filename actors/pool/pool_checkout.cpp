// Checkouts (pool_internal.hpp): handing a ready machine to a create, the
// require requests waiting for one, and machines that leave the pool's
// counts because they ended.
#include <algorithm>

#include "actors/pool/pool_internal.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors::pool_detail {
namespace {

uint64_t since(int64_t ms) {
  return static_cast<uint64_t>(std::max<int64_t>(0, storage::now_ms() - ms));
}

// Takes the machine to hand out: the serving build's first (oldest first),
// else the oldest of another build (a roll still under way).
ready_machine take_ready(pool_actor_state& st) {
  auto it = std::find_if(st.ready.begin(), st.ready.end(),
                         [&](const ready_machine& m) { return m.build == st.rec.serving_build; });
  if (it == st.ready.end()) it = st.ready.begin();
  auto m = std::move(*it);
  st.ready.erase(it);
  return m;
}

// Hands `m` to a create: the pool counts it in use and the machine actor
// records the checkout and answers the create (machine_handover). A machine
// manager that is gone answers with an error in `handed`.
machine_handover hand_out(pool_ptr self, const ready_machine& m, uint64_t waited_ms,
                          machine_op op) {
  auto& st = self->state;
  auto r = empty_reply(st, "");
  r.machine_id = m.id;
  r.waited_ms = waited_ms;
  st.in_use.insert(m.id);
  r.counts = counts_of(st);
  note(self, "info",
       "checkout: hit " + m.id + " (build " + m.build + ")" +
           (waited_ms ? ", waited " + std::to_string(waited_ms) + " ms" : std::string()));
  op.what = machine_op::checkout;
  op.tenant = st.rec.tenant;
  op.id = m.id;
  op.served = pool_checkout{"hit", st.rec.id, waited_ms, ""};
  return machine_handover{std::move(op), std::move(r)};
}

// Delivers through `rp` (delegating to the machine, which answers).
void deliver_handover(pool_ptr self, caf::typed_response_promise<checkout_reply>& rp,
                      machine_handover h) {
  auto mgr = caf::actor_cast<machine_manager_actor>(self->state.ctx->directory.machines());
  if (!mgr) {
    h.reply.handed =
        machine_reply{make_error(errc::unavailable, "the engine is restarting or stopping"), {}};
    rp.deliver(std::move(h.reply));
    return;
  }
  rp.delegate(mgr, std::move(h));
}

checkout_reply none(pool_ptr self, const checkout_request& req, std::string reason) {
  auto& st = self->state;
  std::string result = req.overrides ? "fallback (request_overrides)"
                       : req.bypass  ? "bypass"
                       : req.wait    ? "empty (require)"
                                     : "fallback (" + reason + ")";
  note(self, "info", "checkout: " + result);
  return empty_reply(st, std::move(reason));
}

}  // namespace

checkout_reply empty_reply(const pool_actor_state& st, std::string reason) {
  checkout_reply r;
  r.pool_id = st.rec.id;
  r.template_ref = st.rec.spec.template_ref;
  r.reason = std::move(reason);
  r.counts = counts_of(st);
  return r;
}

caf::result<checkout_reply> checkout(pool_ptr self, const checkout_request& req) {
  auto& st = self->state;
  if (req.bypass) return none(self, req, "bypass");
  if (st.rec.state != pool_state::enabled) return none(self, req, to_string(st.rec.state));
  if (!req.build_id.empty() && req.build_id != st.rec.serving_build)
    return none(self, req, "version_mismatch");
  if (!st.ready.empty()) {
    // Handed over before the refill starts its replacement (resolving a
    // start reads the store and the artifact's config): the checkout never
    // waits for it.
    auto rp = self->make_response_promise<checkout_reply>();
    deliver_handover(self, rp, hand_out(self, take_ready(st), 0, req.handover));
    persist(self);
    settle(self);
    return rp;
  }
  if (!req.wait || req.wait_ms == 0) return none(self, req, "empty");
  auto rp = self->make_response_promise<checkout_reply>();
  auto seq = ++st.seq;
  st.checkout_waiters.push_back(checkout_waiter{seq, storage::now_ms(), rp, req.handover});
  self->delayed_send(self, std::chrono::milliseconds(req.wait_ms), pwait_atom::value, seq);
  settle(self);
  return rp;
}

void add_ready(pool_ptr self, ready_machine m) {
  auto& st = self->state;
  if (!st.checkout_waiters.empty()) {
    auto w = std::move(st.checkout_waiters.front());
    st.checkout_waiters.pop_front();
    deliver_handover(self, w.rp, hand_out(self, m, since(w.since_ms), std::move(w.handover)));
    return;
  }
  st.ready.push_back(std::move(m));
}

bool checkout_wait_over(pool_ptr self, uint64_t seq) {
  auto& st = self->state;
  auto& cw = st.checkout_waiters;
  for (auto it = cw.begin(); it != cw.end(); ++it)
    if (it->seq == seq) {
      auto r = empty_reply(st, "empty");
      r.waited_ms = since(it->since_ms);
      note(self, "info",
           "checkout: empty (require): none ready in " + std::to_string(r.waited_ms) + " ms");
      it->rp.deliver(std::move(r));
      cw.erase(it);
      return true;
    }
  return false;
}

void machine_ended(pool_ptr self, const std::string& id) {
  auto& st = self->state;
  auto it = std::find_if(st.ready.begin(), st.ready.end(),
                         [&](const ready_machine& m) { return m.id == id; });
  if (it != st.ready.end()) {
    st.ready.erase(it);
    note(self, "warn", "ready machine " + id + " ended while waiting for a checkout");
  } else if (!st.in_use.erase(id)) {
    return;  // one the pool stopped itself, or not its own
  }
  persist(self);
  settle(self);
}

void sweep(pool_ptr self) {
  auto& st = self->state;
  auto ended = [&](const std::string& id) {
    auto r = st.ctx->db->get_machine(id);
    return !r || is_terminal(r->state) || r->state == machine_state::stopping;
  };
  std::vector<std::string> gone;
  for (auto& m : st.ready)
    if (ended(m.id)) gone.push_back(m.id);
  for (auto& id : st.in_use)
    if (ended(id)) gone.push_back(id);
  for (auto& id : gone) machine_ended(self, id);
}

}  // namespace nullspace::actors::pool_detail
