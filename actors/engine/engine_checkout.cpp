// Creates served through warm pools (engine.hpp, create_machine): a request
// naming a pool, or naming only a template that one of the tenant's pools
// serves, is answered hit, fallback or bypass (API.md), and counted for
// /metrics.
#include <chrono>

#include "actors/engine/engine_impl.hpp"
#include "actors/machine/machine_resolve.hpp"

namespace nullspace {
namespace {

std::string counts_text(const pool_counts& c) {
  return "ready " + std::to_string(c.ready) + ", starting " + std::to_string(c.starting) +
         ", in_use " + std::to_string(c.in_use) + ", failed " + std::to_string(c.failed);
}

// require found no ready machine: 503 warm_pool_empty with the counts.
error pool_empty(const std::string& what, const pool_counts& c) {
  auto e = make_error(errc::unavailable, "warm pool " + what, "warm_pool");
  e.reason = "warm_pool_empty";
  e.counts = {
      {"ready", c.ready}, {"starting", c.starting}, {"in_use", c.in_use}, {"failed", c.failed}};
  return e;
}

// A ready machine of a pool cannot take new envs or resources: such a
// request is served cold (prefer) or refused (require).
bool needs_cold(const machine_request& r) {
  return !r.envs.empty() || r.cpu_count || r.memory_mb ||
         (r.internet_access && !*r.internet_access);
}

using steady = std::chrono::steady_clock;

void count(engine::impl& p, checkout_counters::outcome o) {
  p.ctx->checkouts.count(o);
}

// The pool's answer to a create naming it (API.md: hit, fallback, bypass).
void serve_from_pool(engine::impl& p, machine_request request, const tenant_id& tenant,
                     const std::string& mode, steady::time_point asked, checkout_reply r,
                     engine::callback<machine_view> done, idempotency_row_opt key) {
  using outcome = checkout_counters::outcome;
  if (request.template_ref.empty()) request.template_ref = r.template_ref;
  pool_checkout served{"", r.pool_id, r.waited_ms, r.reason};
  if (mode == "bypass") {
    count(p, outcome::bypass);
    served.result = "bypass";
    served.reason.clear();
    return cold_create(p, request, tenant, std::move(served), std::move(done), std::move(key));
  }
  if (r.machine_id.empty()) {
    if (mode == "require") {
      count(p, outcome::empty);
      return done(pool_empty(request.warm_pool + " has no ready machine (" + r.reason + "; " +
                                 counts_text(r.counts) + ")",
                             r.counts));
    }
    count(p, outcome::fallback);
    served.result = "fallback";
    return cold_create(p, request, tenant, std::move(served), std::move(done), std::move(key));
  }
  // A hit: the machine actor recorded the checkout and answered with it.
  auto took = std::chrono::duration<double, std::milli>(steady::now() - asked);
  if (r.handed && !r.handed->err) {
    p.ctx->checkouts.observe_hit(took.count());
    auto v = machine_view_of(p, std::move(r.handed->record), r.handed->log_next_offset);
    return done(std::move(v));
  }
  // The machine ended between its pool's last news of it and the checkout.
  if (mode == "require") {
    count(p, outcome::empty);
    return done(pool_empty(request.warm_pool + "'s ready machine ended before its checkout", {}));
  }
  count(p, outcome::fallback);
  served.result = "fallback";
  served.reason = "checkout_failed";
  served.waited_ms = static_cast<uint64_t>(took.count());
  cold_create(p, request, tenant, std::move(served), std::move(done), std::move(key));
}

// The build a request's template names, for the pool to compare with its own.
result<std::string> requested_build(engine::impl& p, const machine_request& r,
                                    const tenant_id& tenant) {
  auto b = resolve_build(*p.db, r.template_ref, tenant.str());
  if (!b) {
    auto e = b.error();
    if (e.field.empty() || e.field == "ref") e.field = "template";
    return e;
  }
  return b->id;
}

}  // namespace

void create_through_pool(engine::impl& impl, machine_request request, const tenant_id& tenant,
                         engine::callback<machine_view> done, idempotency_row_opt key) {
  auto asked = steady::now();
  auto* p = &impl;
  std::string build;
  if (request.warm_pool.empty()) {
    // A template alone: an enabled pool of the tenant's serving that same
    // build takes it (prefer), unless the request bypasses pools.
    auto b = requested_build(*p, request, tenant);
    if (!b) return done(b.error());
    auto pool = p->ctx->pools.serving(tenant.str(), *b);
    if (!pool) return cold_create(*p, request, tenant, {}, std::move(done), std::move(key));
    if (request.warm_pool_mode == "bypass") {
      count(*p, checkout_counters::outcome::bypass);
      return cold_create(*p, request, tenant, pool_checkout{"bypass", *pool, 0, ""},
                         std::move(done), std::move(key));
    }
    request.warm_pool = *pool;
    build = *b;
  } else if (!request.template_ref.empty()) {
    auto b = requested_build(*p, request, tenant);
    if (!b) return done(b.error());
    build = *b;
  }
  auto mode = request.warm_pool_mode.empty() ? std::string("prefer") : request.warm_pool_mode;
  if (mode == "require" && needs_cold(request))
    return done(make_error(errc::invalid_argument,
                           "a ready machine of a warm pool cannot take envs, cpu_count, memory_mb "
                           "or internet_access: use warm_pool_mode prefer or bypass",
                           "warm_pool_mode"));
  bool overrides = mode == "prefer" && needs_cold(request);
  checkout_request q;
  q.tenant = tenant.str();
  q.pool = request.warm_pool;
  q.bypass = mode == "bypass" || overrides;
  q.overrides = overrides;
  q.wait = mode == "require";
  q.wait_ms = request.warm_pool_wait_ms.value_or(0);
  q.build_id = build;
  q.handover.tenant = tenant.str();
  q.handover.timeout_ms = request.timeout_ms
                              ? static_cast<int64_t>(*request.timeout_ms)
                              : static_cast<int64_t>(p->opts.machines.default_timeout.count());
  q.handover.labels = request.labels;
  q.handover.idempotency = key;
  ask_pool_checkout(
      *p, std::move(q),
      [p, request = std::move(request), tenant, mode, asked, overrides, key = std::move(key),
       done = std::move(done)](result<checkout_reply> r) mutable {
        if (!r) return done(r.error());
        if (r->err) return done(*r->err);
        if (overrides) r->reason = "request_overrides";
        serve_from_pool(*p, std::move(request), tenant, overrides ? std::string("prefer") : mode,
                        asked, std::move(*r), std::move(done), std::move(key));
      });
}

}  // namespace nullspace
