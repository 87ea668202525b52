// Warm pools in the engine facade: specs are checked and their template
// resolved here, then the pool manager (and the pool's actor) does the rest.
#include <caf/all.hpp>

#include "actors/engine/engine_impl.hpp"
#include "actors/machine/machine_resolve.hpp"
#include "actors/pool/pool_messages.hpp"
#include "actors/pool/pool_spec_check.hpp"
#include "storage/common/new_id.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace {
namespace {

using namespace actors;

// One request to the pool manager from a short-lived actor.
template <class Reply, class... Ts>
void ask_pools(engine::impl& p, std::function<void(result<Reply>)> done, Ts... msg) {
  auto mgr = caf::actor_cast<pool_manager_actor>(p.ctx->directory.pools());
  if (!mgr || !p.ctx->accepting_calls())
    return done(make_error(errc::unavailable, "the engine is restarting or stopping; retry"));
  caller_thread_guard caller;
  p.sys->spawn([mgr, done = std::move(done),
                ... msg = std::move(msg)](caf::event_based_actor* self) mutable {
    self->request(mgr, caf::infinite, std::move(msg)...)
        .then([done](Reply& r) { done(std::move(r)); },
              [done](caf::error& e) { done(from_caf(e, "the pool manager did not answer")); });
  });
}

// A pool_op's reply as the caller's view.
engine::callback<pool_reply> to_pool_view(engine::callback<pool_view> done) {
  return [done = std::move(done)](result<pool_reply> r) {
    if (!r) return done(r.error());
    if (r->err) return done(*r->err);
    done(pool_view{std::move(r->record)});
  };
}

void ask_pool_async(engine::impl& p, pool_op op, engine::callback<pool_view> done) {
  if (!p.ctx->machines)
    return done(make_error(errc::failed_precondition, p.ctx->machines_unavailable));
  ask_pools<pool_reply>(p, to_pool_view(std::move(done)), std::move(op));
}

pool_op op_for(pool_op::kind what, const std::string& pool, const tenant_id& tenant) {
  pool_op op;
  op.what = what;
  op.tenant = tenant.str();
  op.pool = pool;
  return op;
}

pool_op::kind kind_of(engine::pool_change c) {
  switch (c) {
    case engine::pool_change::get:
      return pool_op::get;
    case engine::pool_change::enable:
      return pool_op::enable;
    case engine::pool_change::disable:
      return pool_op::disable;
    case engine::pool_change::drain:
      return pool_op::drain;
    case engine::pool_change::remove:
      return pool_op::remove;
  }
  return pool_op::get;
}

}  // namespace

// The stored record of `tenant`'s pool `pool` (an id or a name).
std::optional<pool_record> find_pool_record(const storage::store& db, const std::string& pool,
                                            const tenant_id& tenant) {
  auto id = pool;
  if (pool.rfind("wp_", 0) != 0) {
    auto named = db.find_pool_name(tenant.str(), pool);
    if (!named) return std::nullopt;
    id = *named;
  }
  auto rec = db.get_pool(id);
  if (!rec || rec->tenant != tenant.str()) return std::nullopt;
  return rec;
}

// Asks the tenant's pool for a ready machine (checkout_request), for create_machine.
void ask_pool_checkout(engine::impl& p, checkout_request req,
                       std::function<void(result<checkout_reply>)> done) {
  ask_pools<checkout_reply>(p, std::move(done), std::move(req));
}

void engine::create_pool_async(pool_spec spec, const tenant_id& tenant, callback<pool_view> done) {
  if (!impl_->ctx->machines)
    return done(make_error(errc::failed_precondition, impl_->ctx->machines_unavailable));
  if (auto e = check_pool_spec(spec, impl_->opts.limits, impl_->opts.machines)) return done(*e);
  machine_request probe;
  probe.template_ref = spec.template_ref;
  auto c = resolve_machine(*impl_->ctx, probe, tenant.str());
  if (!c) return done(c.error());
  pool_record rec;
  rec.id = new_id("wp_");
  rec.tenant = tenant.str();
  rec.spec = std::move(spec);
  rec.serving_build = c->record.build_id;
  rec.created_ms = rec.updated_ms = storage::now_ms();
  ask_pools<pool_reply>(*impl_, to_pool_view(std::move(done)), pcreate_atom::value, std::move(rec));
}

result<pool_view> engine::create_pool(const pool_spec& spec, const tenant_id& tenant) {
  return wait_for<pool_view>([&](auto cb) { create_pool_async(spec, tenant, cb); });
}

void engine::change_pool_async(const std::string& pool, pool_change change, const tenant_id& tenant,
                               callback<pool_view> done) {
  ask_pool_async(*impl_, op_for(kind_of(change), pool, tenant), std::move(done));
}

result<pool_view> engine::get_pool(const std::string& pool, const tenant_id& tenant) const {
  return wait_for<pool_view>(
      [&](auto cb) { ask_pool_async(*impl_, op_for(pool_op::get, pool, tenant), cb); });
}

result<std::vector<pool_view>> engine::list_pools(const tenant_id& tenant) const {
  std::vector<pool_view> out;
  impl_->db->for_each_pool_of(tenant.str(), [&](pool_record&& r) {
    out.push_back(pool_view{std::move(r)});
    return true;
  });
  return out;
}

result<pool_view> engine::disable_pool(const std::string& pool, const tenant_id& tenant) {
  return wait_for<pool_view>(
      [&](auto cb) { change_pool_async(pool, pool_change::disable, tenant, cb); });
}

result<pool_view> engine::enable_pool(const std::string& pool, const tenant_id& tenant) {
  return wait_for<pool_view>(
      [&](auto cb) { change_pool_async(pool, pool_change::enable, tenant, cb); });
}

result<pool_view> engine::drain_pool(const std::string& pool, const tenant_id& tenant) {
  return wait_for<pool_view>(
      [&](auto cb) { change_pool_async(pool, pool_change::drain, tenant, cb); });
}

result<pool_view> engine::delete_pool(const std::string& pool, const tenant_id& tenant) {
  return wait_for<pool_view>(
      [&](auto cb) { change_pool_async(pool, pool_change::remove, tenant, cb); });
}

void engine::wait_until_pool_ready_async(const std::string& pool, uint32_t min_ready,
                                         std::chrono::milliseconds timeout, const tenant_id& tenant,
                                         callback<pool_view> done) {
  auto op = op_for(pool_op::wait_ready, pool, tenant);
  op.min_ready = min_ready;
  op.timeout_ms = timeout.count();
  ask_pool_async(*impl_, std::move(op), std::move(done));
}

result<pool_view> engine::wait_until_pool_ready(const std::string& pool, uint32_t min_ready,
                                                std::chrono::milliseconds timeout,
                                                const tenant_id& tenant) {
  return wait_for<pool_view>(
      [&](auto cb) { wait_until_pool_ready_async(pool, min_ready, timeout, tenant, cb); });
}

void engine::update_pool_async(const std::string& pool, pool_update update, const tenant_id& tenant,
                               callback<pool_view> done) {
  // The pool applies it to its current spec and checks the whole (min ≤ max).
  auto op = op_for(pool_op::update, pool, tenant);
  op.change = std::move(update);
  ask_pool_async(*impl_, std::move(op), std::move(done));
}

result<pool_view> engine::update_pool(const std::string& pool, const pool_update& update,
                                      const tenant_id& tenant) {
  return wait_for<pool_view>([&](auto cb) { update_pool_async(pool, update, tenant, cb); });
}

result<std::vector<raw_entry>> engine::read_pool_log(const std::string& pool, log_offset offset,
                                                     size_t limit, const tenant_id& tenant) const {
  auto rec = find_pool_record(*impl_->db, pool, tenant);
  if (!rec) return make_error(errc::not_found, "no warm pool " + pool, "warm_pool");
  return impl_->db->read_log(rec->id, offset.value(), limit);
}

}  // namespace nullspace
