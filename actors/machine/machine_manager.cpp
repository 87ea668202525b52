#include "actors/machine/machine_manager.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "actors/machine/machine_actor.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace {

constexpr int max_crashes = 3;  // a machine actor that keeps crashing: failed as internal
constexpr auto retention_interval = std::chrono::minutes(10);

struct live_machine {
  machine_actor handle;
  std::string tenant;
  machine_state state = machine_state::starting;
};

struct manager_state {
  std::shared_ptr<engine_context> ctx;
  std::map<std::string, live_machine> live;
  std::map<caf::actor_addr, std::string> by_addr;
  std::map<std::string, size_t> per_tenant;
  std::map<std::string, int> crashes;
  std::array<uint64_t, 6> ended_by_state{};
  static inline const char* name = "machine_manager";
};

using manager_ptr = machine_manager_actor::stateful_pointer<manager_state>;

void track(manager_ptr self, const std::string& id, const std::string& tenant,
           machine_actor handle) {
  auto& st = self->state;
  st.by_addr[handle.address()] = id;
  st.live[id] = live_machine{std::move(handle), tenant};
  ++st.per_tenant[tenant];
}

void forget(manager_state& st, const std::string& id) {
  auto it = st.live.find(id);
  if (it == st.live.end()) return;
  st.by_addr.erase(it->second.handle.address());
  if (--st.per_tenant[it->second.tenant] == 0) st.per_tenant.erase(it->second.tenant);
  st.live.erase(it);
}

// The live machine `id` of `tenant`, or null.
// The actor of a machine that is still running. One that reached a terminal
// state is answered from the store from then on: its actor is about to end,
// and a request delegated to it could find it gone (request_receiver_down).
// Its terminal state reaches us before its requesters get their answer, so a
// request sent after a stop returned never lands on the ending actor.
const live_machine* find(manager_state& st, const std::string& tenant, const std::string& id) {
  auto it = st.live.find(id);
  if (it == st.live.end() || it->second.tenant != tenant) return nullptr;
  if (is_terminal(it->second.state)) return nullptr;
  return &it->second;
}

error no_machine(const std::string& id) {
  return make_error(errc::not_found, "no machine " + id);
}

// The answer for a machine that has no actor (ended, or unknown).
machine_reply ended_reply(manager_state& st, const machine_op& op) {
  auto rec = st.ctx->db->get_machine(op.id);
  if (!rec || rec->tenant != op.tenant) return {no_machine(op.id), {}};
  if (op.what == machine_op::get || op.what == machine_op::stop ||
      op.what == machine_op::wait_ready)
    return {std::nullopt, std::move(*rec)};
  return {make_error(errc::conflict, "machine " + op.id + " is " + to_string(rec->state)),
          std::move(*rec)};
}

error not_live(manager_state& st, const std::string& tenant, const std::string& id) {
  auto rec = st.ctx->db->get_machine(id);
  if (!rec || rec->tenant != tenant) return no_machine(id);
  return make_error(errc::conflict, "machine " + id + " is " + to_string(rec->state));
}

std::optional<error> over_cap(const manager_state& st, const std::string& tenant) {
  auto& o = st.ctx->config.machines;
  if (st.live.size() >= o.max_machines)
    return make_error(errc::resource_exhausted, "the server runs its maximum of " +
                                                    std::to_string(o.max_machines) +
                                                    " machines; stop one or retry later");
  auto it = st.per_tenant.find(tenant);
  if (it != st.per_tenant.end() && it->second >= o.max_machines_per_tenant)
    return make_error(errc::resource_exhausted, "tenant " + tenant + " runs its maximum of " +
                                                    std::to_string(o.max_machines_per_tenant) +
                                                    " machines; stop one first");
  return std::nullopt;
}

// Start-up: adopt what the store says runs; remove what the host has and the
// store does not know (a crash between the driver's start and the record).
void recover(manager_ptr self) {
  auto& st = self->state;
  std::vector<machine_record> open;
  st.ctx->db->for_each_live_machine([&](machine_record&& r) { open.push_back(std::move(r)); });
  std::set<std::string> known;
  for (auto& r : open) {
    known.insert(r.id);
    auto tenant = r.tenant;
    auto id = r.id;
    track(self, id, tenant, adopt_machine(self, st.ctx, std::move(r)));
  }
  if (!open.empty()) logging::machine.info("adopting machines", {{"count", open.size()}});
  auto* driver = st.ctx->machines;
  st.ctx->blocking->post([driver, known] {
    for (auto& id : driver->host_machines())
      if (!known.count(id)) {
        logging::machine.warn("removing a machine on the host but not in the store",
                              {{"machine", id}});
        driver->destroy(id);
      }
  });
}

// Deletes ended machines whose retention passed (on the blocking pool).
void sweep(manager_ptr self) {
  auto ctx = self->state.ctx;
  ctx->blocking->post([ctx] {
    auto now = storage::now_ms();
    for (;;) {
      auto due = ctx->db->machines_expired(now, 256);
      if (due.empty()) return;
      storage::write_batch wb;
      for (auto& id : due)
        if (auto r = ctx->db->get_machine(id))
          ctx->db->delete_machine(wb, *r, r->finished_ms + ctx->config.machines.retention.count());
      if (!ctx->db->write(wb)) return;  // logged by the store's caller next time
    }
  });
  self->delayed_send(self, retention_interval, tick_atom::value);
}

machine_manager_actor::behavior_type manager(manager_ptr self,
                                             std::shared_ptr<engine_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    auto it = st.by_addr.find(em.source);
    if (it == st.by_addr.end()) return self->quit(em.reason);  // from our parent
    auto id = it->second;
    auto tenant = st.live[id].tenant;
    forget(st, id);
    if (em.reason == caf::exit_reason::normal) return;
    auto rec = st.ctx->db->get_machine(id);
    if (!rec || is_terminal(rec->state)) return;
    if (++st.crashes[id] > max_crashes) {
      logging::machine.error("machine keeps crashing; leaving it to the next start",
                             {{"machine", id}, {"tenant", tenant}});
      return;
    }
    logging::machine.error(
        "machine actor crashed; adopting it again",
        {{"machine", id}, {"tenant", tenant}, {"reason", caf::to_string(em.reason)}});
    track(self, id, tenant, adopt_machine(self, st.ctx, std::move(*rec)));
  });
  if (self->state.ctx->machines) {
    recover(self);
    sweep(self);
  }
  return {
      [=](create_atom, machine_create& c) -> caf::result<machine_reply> {
        auto& st = self->state;
        if (!st.ctx->machines)
          return machine_reply{make_error(errc::failed_precondition, st.ctx->machines_unavailable),
                               c.record};
        if (auto e = over_cap(st, c.record.tenant)) return machine_reply{*e, c.record};
        auto rp = self->make_response_promise<machine_reply>();
        auto id = c.record.id;
        auto tenant = c.record.tenant;
        track(self, id, tenant, spawn_machine(self, st.ctx, std::move(c), rp));
        return rp;
      },
      [=](machine_op& op) -> caf::result<machine_reply> {
        auto& st = self->state;
        auto* m = find(st, op.tenant, op.id);
        if (!m) return ended_reply(st, op);
        return self->delegate(m->handle, std::move(op));
      },
      [=](machine_handover& h) -> caf::result<checkout_reply> {
        auto& st = self->state;
        auto* m = find(st, h.op.tenant, h.op.id);
        if (!m) {
          h.reply.handed = ended_reply(st, h.op);
          return std::move(h.reply);
        }
        return self->delegate(m->handle, std::move(h));
      },
      [=](command_job& job) -> caf::result<command_reply> {
        auto& st = self->state;
        auto* m = find(st, job.tenant, job.id);
        if (!m) return command_reply{not_live(st, job.tenant, job.id), {}};
        return self->delegate(m->handle, std::move(job));
      },
      [=](command_query& q) -> caf::result<command_reply> {
        auto& st = self->state;
        auto* m = find(st, q.tenant, q.id);
        if (!m) return command_reply{not_live(st, q.tenant, q.id), {}};
        return self->delegate(m->handle, std::move(q));
      },
      [=](file_job& job) -> caf::result<file_reply> {
        auto& st = self->state;
        auto* m = find(st, job.tenant, job.id);
        if (!m) return file_reply::failed(not_live(st, job.tenant, job.id));
        return self->delegate(m->handle, std::move(job));
      },
      [=](mstate_atom, const std::string& id, machine_state s) {
        auto& st = self->state;
        auto it = st.live.find(id);
        if (it == st.live.end()) return;
        it->second.state = s;
        if (is_terminal(s)) {
          ++st.ended_by_state[static_cast<size_t>(s)];
          st.crashes.erase(id);
        }
        // forget() happens when its actor exits (normally): the exit handler.
      },
      [=](stats_atom) {
        auto& st = self->state;
        machine_stats out;
        out.by_state = st.ended_by_state;
        for (auto& [id, m] : st.live)
          if (!is_terminal(m.state)) ++out.by_state[static_cast<size_t>(m.state)];
        return out;
      },
      [=](tick_atom) { sweep(self); },
  };
}

}  // namespace

machine_manager_actor spawn_machine_manager(caf::local_actor* parent,
                                            std::shared_ptr<engine_context> ctx) {
  return parent->spawn<caf::linked>(manager, std::move(ctx));
}

}  // namespace nullspace::actors
