// pool_manager (pool_manager.hpp): creates, routes and restarts warm pools.
#include "actors/pool/pool_manager.hpp"

#include <map>

#include "actors/pool/warm_pool.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::actors {
namespace {

constexpr int max_crashes = 3;  // a pool actor that keeps crashing stays down until restart

struct live_pool {
  warm_pool_actor handle;
  std::string tenant;
};

struct manager_state {
  std::shared_ptr<engine_context> ctx;
  std::shared_ptr<start_budget> budget = std::make_shared<start_budget>();
  std::map<std::string, live_pool> live;
  std::map<caf::actor_addr, std::string> by_addr;
  std::map<std::string, int> crashes;
  static inline const char* name = "pool_manager";
};

using manager_ptr = pool_manager_actor::stateful_pointer<manager_state>;

void track(manager_ptr self, pool_record rec, bool created) {
  auto& st = self->state;
  auto id = rec.id;
  auto tenant = rec.tenant;
  auto h = spawn_warm_pool(self, st.ctx, st.budget, std::move(rec), created);
  st.by_addr[h.address()] = id;
  st.live[id] = live_pool{std::move(h), std::move(tenant)};
}

// The live pool `ref` (an id or a name) of `tenant`, or null.
const live_pool* find(manager_state& st, const std::string& tenant, const std::string& ref) {
  auto id = ref;
  if (ref.rfind("wp_", 0) != 0) {
    auto named = st.ctx->db->find_pool_name(tenant, ref);
    if (!named) return nullptr;
    id = *named;
  }
  auto it = st.live.find(id);
  if (it == st.live.end() || it->second.tenant != tenant) return nullptr;
  return &it->second;
}

error no_pool(const std::string& ref) {
  return make_error(errc::not_found, "no warm pool " + ref, "warm_pool");
}

pool_manager_actor::behavior_type manager(manager_ptr self, std::shared_ptr<engine_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    auto it = st.by_addr.find(em.source);
    if (it == st.by_addr.end()) return self->quit(em.reason);  // from our parent
    auto id = it->second;
    st.by_addr.erase(it);
    st.live.erase(id);
    st.ctx->pools.erase(id);
    if (em.reason == caf::exit_reason::normal) return;  // removed
    auto rec = st.ctx->db->get_pool(id);
    if (!rec) return;
    if (++st.crashes[id] > max_crashes) {
      logging::pool.error("warm pool keeps crashing; leaving it to the next start", {{"pool", id}});
      return;
    }
    logging::pool.error("warm pool actor crashed; restarting it",
                        {{"pool", id}, {"reason", caf::to_string(em.reason)}});
    track(self, std::move(*rec), false);
  });
  // A restarted manager starts from the store: its pools' old summaries go.
  self->state.ctx->pools.clear();
  if (self->state.ctx->machines) {
    std::vector<pool_record> stored;
    self->state.ctx->db->for_each_pool([&](pool_record&& r) { stored.push_back(std::move(r)); });
    for (auto& r : stored) track(self, std::move(r), false);
  }
  return {
      [=](pcreate_atom, pool_record& rec) -> pool_reply {
        auto& st = self->state;
        if (!st.ctx->machines)
          return {make_error(errc::failed_precondition, st.ctx->machines_unavailable), rec};
        if (st.ctx->db->find_pool_name(rec.tenant, rec.spec.name))
          return {
              make_error(errc::conflict, "a warm pool named " + rec.spec.name + " exists", "name"),
              rec};
        storage::write_batch wb;
        st.ctx->db->put_pool(wb, rec);
        if (auto w = st.ctx->db->write(wb); !w) return {w.error(), rec};
        track(self, rec, true);
        return {std::nullopt, std::move(rec)};
      },
      [=](pool_op& op) -> caf::result<pool_reply> {
        auto* p = find(self->state, op.tenant, op.pool);
        if (!p) return pool_reply{no_pool(op.pool), {}};
        return self->delegate(p->handle, std::move(op));
      },
      [=](checkout_request& req) -> caf::result<checkout_reply> {
        auto* p = find(self->state, req.tenant, req.pool);
        if (!p) {
          checkout_reply r;
          r.err = no_pool(req.pool);
          return r;
        }
        return self->delegate(p->handle, std::move(req));
      },
      [=](pbudget_atom) {
        for (auto& [id, p] : self->state.live) self->send(p.handle, ptick_atom::value);
      },
      [=](tchanged_atom, const template_names& names) {
        for (auto& [id, p] : self->state.live) self->send(p.handle, tchanged_atom::value, names);
      },
      [=](pgone_atom, const std::string& pool) {
        // Its exit (handled above) follows; until then nothing reaches it.
        self->state.live.erase(pool);
        self->state.ctx->pools.erase(pool);
      },
      [=](mended_atom, const std::string& pool, const std::string& machine) {
        auto it = self->state.live.find(pool);
        if (it != self->state.live.end())
          self->send(it->second.handle, mended_atom::value, machine);
      },
  };
}

}  // namespace

pool_manager_actor spawn_pool_manager(caf::local_actor* parent,
                                      std::shared_ptr<engine_context> ctx) {
  return parent->spawn<caf::linked>(manager, std::move(ctx));
}

}  // namespace nullspace::actors
