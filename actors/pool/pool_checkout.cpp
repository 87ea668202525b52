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

checkout_reply hand_out(pool_ptr self, const ready_machine& m, uint64_t waited_ms) {
  auto& st = self->state;
  auto r = empty_reply(st, "");
  r.machine_id = m.id;
  r.waited_ms = waited_ms;
  st.in_use.insert(m.id);
  r.counts = counts_of(st);
  note(self, "info",
       "checkout: hit " + m.id + " (build " + m.build + ")" +
           (waited_ms ? ", waited " + std::to_string(waited_ms) + " ms" : std::string()));
  return r;
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
    // Answered before the refill starts its replacement (resolving a start
    // reads the store and the artifact's config): the checkout never waits
    // for it.
    auto rp = self->make_response_promise<checkout_reply>();
    rp.deliver(hand_out(self, take_ready(st), 0));
    persist(self);
    settle(self);
    return rp;
  }
  if (!req.wait || req.wait_ms == 0) return none(self, req, "empty");
  auto rp = self->make_response_promise<checkout_reply>();
  auto seq = ++st.seq;
  st.checkout_waiters.push_back(checkout_waiter{seq, storage::now_ms(), rp});
  self->delayed_send(self, std::chrono::milliseconds(req.wait_ms), pwait_atom::value, seq);
  settle(self);
  return rp;
}

void add_ready(pool_ptr self, ready_machine m) {
  auto& st = self->state;
  if (!st.checkout_waiters.empty()) {
    auto w = std::move(st.checkout_waiters.front());
    st.checkout_waiters.pop_front();
    w.rp.deliver(hand_out(self, m, since(w.since_ms)));
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
