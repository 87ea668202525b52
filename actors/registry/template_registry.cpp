#include "actors/registry/template_registry.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "actors/pool/pool_messages.hpp"
#include "actors/registry/retention_sweep.hpp"
#include "actors/registry/template_reads.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::actors {
namespace {

struct registry_state {
  std::shared_ptr<engine_context> ctx;
  static inline const char* name = "template_registry";
};

using registry_ptr = template_registry_actor::stateful_pointer<registry_state>;
using storage::build_record;
using storage::build_status;
using storage::template_record;

registry_reply fail(error e) {
  return registry_reply{std::move(e), {}, std::nullopt};
}

registry_reply fail(errc code, std::string message, std::string field = {}) {
  return fail(make_error(code, std::move(message), std::move(field)));
}

std::string display(const template_record& t) {
  return t.namespace_name + "/" + t.name;
}

// Why a build cannot carry a tag, or "" if it can (API: promotability).
std::string not_taggable(const build_record& r) {
  std::string p = storage::promotability(r);
  if (p == "promotable") return {};
  if (p == "expired")
    return "build " + r.id + "'s artifact is " + r.artifact_availability +
           " (the retention of untagged builds ended): build it again";
  if (r.status != build_status::ready)
    return "build " + r.id + " is " + storage::to_string(r.status) +
           ", not ready: only a ready build with an available artifact can be promoted";
  return "build " + r.id + "'s artifact is " + r.artifact_availability +
         ": only a ready build with an available artifact can be promoted";
}

// The namespace a tenant writes to, or why it may not.
std::optional<error> may_write_namespace(const storage::store& db, const std::string& tenant,
                                         const std::string& ns) {
  // A tenant whose name is not a valid name has no usable default namespace.
  if (!valid_name(ns))
    return make_error(errc::invalid_argument,
                      "namespace \"" + ns +
                          "\" is not a valid name (a tenant's default namespace is its name); "
                          "give a namespace matching [a-z0-9][a-z0-9._-]{0,62}",
                      "namespace");
  auto owner = db.namespace_owner(ns);
  if (owner && *owner != tenant)
    return make_error(errc::permission_denied,
                      "namespace " + ns +
                          " belongs to another tenant; use your own namespace (omit it) or one "
                          "you reserved",
                      "namespace");
  return std::nullopt;
}

// A name free in `ns`: neither a template nor an alias.
std::optional<error> name_free(const storage::store& db, const std::string& ns,
                               const std::string& name, const char* field) {
  if (db.get_template(ns, name))
    return make_error(errc::conflict, "template " + ns + "/" + name + " already exists", field);
  if (auto of = db.get_alias(ns, name))
    return make_error(errc::conflict, ns + "/" + name + " is already an alias of " + *of, field);
  return std::nullopt;
}

// A template's builds, newest first.
std::vector<build_record> history_of(const storage::store& db, const template_record& t) {
  std::vector<build_record> out;
  db.for_each_history(t.namespace_name, t.name, std::nullopt, [&](int64_t, std::string&& id) {
    if (auto rec = db.get_build(id)) out.push_back(std::move(*rec));
    return true;
  });
  return out;
}

// The 409 for a rename or delete while a build of the template is unfinished.
std::optional<error> busy(const template_record& t, const std::vector<build_record>& history,
                          const char* what) {
  for (auto& rec : history)
    if (!storage::is_terminal(rec.status))
      return make_error(errc::conflict, "template " + display(t) + " has a build in progress (" +
                                            rec.id + "); " + what +
                                            " it once the build ends or is cancelled");
  return std::nullopt;
}

void put_template(registry_txn& txn, template_record t) {
  txn.then(
      [t = std::move(t)](storage::store& db, storage::write_batch& wb) { db.put_template(wb, t); });
}

template_record make_template(const std::string& tenant, const std::string& ns,
                              const std::string& name, int64_t created) {
  template_record t;
  t.namespace_name = ns;
  t.name = name;
  t.tenant = tenant;
  t.created_ms = created;
  return t;
}

void claim_namespace(registry_txn& txn, const std::string& ns, const std::string& tenant) {
  txn.then([ns, tenant](storage::store& d, storage::write_batch& wb) {
    d.put_namespace_owner(wb, ns, tenant);
  });
}

// A new template, written by `txn` with the tenant's claim on its namespace.
template_record create_template(registry_txn& txn, const std::string& tenant, const std::string& ns,
                                const std::string& name, int64_t created) {
  auto t = make_template(tenant, ns, name, created);
  put_template(txn, t);
  claim_namespace(txn, ns, tenant);
  return t;
}

// Warm pools of these templates look again at what their refs resolve to
// (a push: pools never poll the registry). Sent once the change is durable.
void notify_pools(registry_ptr self, template_names names) {
  if (names.empty()) return;
  if (auto pools = caf::actor_cast<pool_manager_actor>(self->state.ctx->directory.pools()))
    self->send(pools, tchanged_atom::value, std::move(names));
}

registry_reply committed(registry_txn& txn, template_record t,
                         std::optional<build_record> b = std::nullopt) {
  if (auto w = txn.commit(); !w) return fail(w.error());
  return registry_reply{std::nullopt, std::move(t), std::move(b)};
}

// ---- claim -----------------------------------------------------------------

registry_reply claim(registry_ptr self, const std::string& tenant, std::string ns,
                     const std::string& name) {
  auto& db = *self->state.ctx->db;
  if (ns.empty()) ns = default_namespace(tenant);
  if (auto e = may_write_namespace(db, tenant, ns)) return fail(*e);
  if (auto t = db.get_template(ns, name)) return registry_reply{std::nullopt, *t, std::nullopt};
  if (auto of = db.get_alias(ns, name))
    return fail(errc::conflict,
                ns + "/" + name + " is an alias of " + ns + "/" + *of + "; build under " + *of,
                "name");
  registry_txn txn(db, self->state.ctx->config.now_ms(), self->state.ctx->config.retention);
  auto t = create_template(txn, tenant, ns, name, txn.now());
  return committed(txn, std::move(t));
}

// ---- terminal transitions ----------------------------------------------------

caf::result<uint64_t> terminal(registry_ptr self, append_request& req) {
  auto& ctx = *self->state.ctx;
  auto& db = *ctx.db;
  auto txn = std::make_shared<registry_txn>(db, ctx.config.now_ms(), ctx.config.retention);
  auto& rec = txn->adopt(*req.record);
  if (rec.status == build_status::ready) {
    auto t = db.get_template(rec.namespace_name, rec.name);
    if (!t && !may_write_namespace(db, rec.tenant, rec.namespace_name)) {
      // Deleted while the build ran: a ready build brings its template back.
      t = make_template(rec.tenant, rec.namespace_name, rec.name, txn->now());
      claim_namespace(*txn, rec.namespace_name, rec.tenant);
    }
    if (t && t->tenant == rec.tenant) {
      for (auto& tag : rec.tags) txn->move_tag(*t, tag, rec.id);
      t->latest_ready = rec.id;
      t->latest_ready_ms = rec.finished_ms;
      put_template(*txn, *t);
    }
    if (rec.artifact && rec.artifact_availability == "available")
      txn->then([a = rec.artifact->id, id = rec.id](storage::store& d, storage::write_batch& wb) {
        d.put_artifact_holder(wb, a, id);
      });
  }
  txn->retain(rec);
  req.record = rec;
  req.also = [txn, id = rec.id](storage::store&, storage::write_batch& wb) { txn->apply(wb, id); };
  template_names moved;
  if (rec.status == build_status::ready) moved.push_back(rec.namespace_name + "/" + rec.name);
  auto rp = self->make_response_promise<uint64_t>();
  // await: nothing else runs here until the batch is durable. The bound only
  // guards against a hub that vanished without answering; a commit never
  // takes that long.
  self->request(ctx.directory.hub(), std::chrono::minutes(2), append_atom::value, std::move(req))
      .await(
          [=, id = rec.id](uint64_t next) mutable {
            // The manager frees the build's slot now, before anything this
            // registry handles next (a retention sweep asks the manager
            // whether builds run: a build whose end is durable does not).
            if (auto mgr = self->state.ctx->directory.manager())
              self->send(mgr, finished_atom::value, id);
            notify_pools(self, moved);
            rp.deliver(next);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// ---- operations ------------------------------------------------------------

// The caller's own template a registry_op names.
result<found_template> owned_template(storage::store& db, const registry_op& op) {
  auto ref = parse_ref(op.ref);
  if (!ref) return ref.error();
  return find_owned_template(db, op.tenant, *ref);
}

registry_reply tag_build(registry_txn& txn, const template_record& t, build_record& b,
                         const std::vector<std::string>& tags) {
  if (auto why = not_taggable(b); !why.empty()) return fail(errc::failed_precondition, why);
  for (auto& tag : tags) txn.move_tag(t, tag, b.id);
  auto id = b.id;
  auto out = *txn.build(id);
  return committed(txn, t, std::move(out));
}

registry_reply assign_tags(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto ref = parse_ref(op.ref);
  if (!ref) return fail(ref.error());
  auto f = find_owned_template(db, op.tenant, *ref);
  if (!f) return fail(f.error());
  auto b = find_build(db, *f, *ref);
  if (!b) return fail(b.error());
  auto* rec = txn.build(b->id);
  if (!rec) return fail(errc::not_found, "no build " + b->id);
  return tag_build(txn, f->t, *rec, op.values);
}

registry_reply promote(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto* rec = txn.build(op.ref);
  if (!rec || rec->tenant != op.tenant) return fail(errc::not_found, "no build " + op.ref);
  auto t = db.get_template(rec->namespace_name, rec->name);
  if (!t || t->tenant != op.tenant)
    return fail(errc::failed_precondition, "build " + op.ref + "'s template " +
                                               rec->namespace_name + "/" + rec->name +
                                               " was deleted; it cannot be promoted");
  return tag_build(txn, *t, *rec, op.values);
}

registry_reply remove_tag(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  if (!txn.drop_tag(f->t, op.values.at(0)))
    return fail(errc::not_found,
                "template " + display(f->t) + " has no tag '" + op.values[0] + "'");
  return committed(txn, f->t);
}

registry_reply add_alias(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  auto& alias = op.values.at(0);
  auto& t = f->t;
  if (auto e = name_free(db, t.namespace_name, alias, "alias")) return fail(*e);
  t.aliases.push_back(alias);
  std::sort(t.aliases.begin(), t.aliases.end());
  put_template(txn, t);
  txn.then([ns = t.namespace_name, alias, name = t.name](
               storage::store& d, storage::write_batch& wb) { d.put_alias(wb, ns, alias, name); });
  return committed(txn, t);
}

registry_reply remove_alias(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  auto& alias = op.values.at(0);
  auto& t = f->t;
  if (std::find(t.aliases.begin(), t.aliases.end(), alias) == t.aliases.end())
    return fail(errc::not_found, "template " + display(t) + " has no alias '" + alias + "'");
  std::erase(t.aliases, alias);
  put_template(txn, t);
  txn.then([ns = t.namespace_name, alias](storage::store& d, storage::write_batch& wb) {
    d.delete_alias(wb, ns, alias);
  });
  return committed(txn, t);
}

registry_reply reserve(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto ns = op.namespace_name.empty() ? default_namespace(op.tenant) : op.namespace_name;
  if (auto e = may_write_namespace(db, op.tenant, ns)) return fail(*e);
  if (auto e = name_free(db, ns, op.ref, "name")) return fail(*e);
  auto t = create_template(txn, op.tenant, ns, op.ref, txn.now());
  return committed(txn, std::move(t));
}

registry_reply rename(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  auto old = f->t;
  auto t = old;
  t.name = op.values.at(0);
  if (!op.namespace_name.empty()) t.namespace_name = op.namespace_name;
  if (t.name == old.name && t.namespace_name == old.namespace_name) return committed(txn, t);
  if (auto e = may_write_namespace(db, op.tenant, t.namespace_name)) return fail(*e);
  // The new name may be one of its own aliases: that alias goes, the others move along.
  bool own_alias = t.namespace_name == old.namespace_name &&
                   std::find(old.aliases.begin(), old.aliases.end(), t.name) != old.aliases.end();
  if (!own_alias)
    if (auto e = name_free(db, t.namespace_name, t.name, "name")) return fail(*e);
  std::erase(t.aliases, t.name);
  if (t.namespace_name != old.namespace_name)
    for (auto& a : t.aliases)
      if (auto e = name_free(db, t.namespace_name, a, "namespace")) return fail(*e);
  auto history = history_of(db, old);
  if (auto e = busy(old, history, "rename")) return fail(*e);
  // History and records follow the template.
  for (auto& before : history) {
    txn.then(
        [before](storage::store& d, storage::write_batch& wb) { d.delete_history(wb, before); });
    auto expiry = before.retention_expires_ms;
    auto& rec = txn.adopt(std::move(before), expiry);
    rec.namespace_name = t.namespace_name;
    rec.name = t.name;
    txn.then(
        [after = rec](storage::store& d, storage::write_batch& wb) { d.put_history(wb, after); });
  }
  auto tags = db.tags_of(old.namespace_name, old.name);
  txn.then([old, t, tags](storage::store& d, storage::write_batch& wb) {
    d.delete_template(wb, old);
    d.put_template(wb, t);
    for (auto& [tag, id] : tags) {
      d.delete_tag(wb, old.namespace_name, old.name, tag);
      d.put_tag(wb, t.namespace_name, t.name, tag, id);
    }
    for (auto& a : old.aliases) d.delete_alias(wb, old.namespace_name, a);
    for (auto& a : t.aliases) d.put_alias(wb, t.namespace_name, a, t.name);
    d.put_namespace_owner(wb, t.namespace_name, t.tenant);
  });
  logging::registry.info("template renamed",
                         {{"template", display(old)}, {"to", display(t)}, {"tenant", t.tenant}});
  return committed(txn, t);
}

registry_reply set_visibility(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  f->t.visibility = op.values.at(0);
  put_template(txn, f->t);
  return committed(txn, f->t);
}

// The 409 for deleting a template a warm pool uses (its ref resolves to the
// template, by name or alias). Another tenant's pool (on a public template)
// is not named.
std::optional<error> used_by_pool(const storage::store& db, const template_record& t,
                                  const std::string& tenant) {
  std::optional<error> found;
  db.for_each_pool([&](pool_record&& p) {
    if (found) return;
    auto ref = runtime::split_template_ref(p.spec.template_ref);
    if (!ref) return;
    auto used = find_template(db, p.tenant, *ref);
    if (!used || used->t.namespace_name != t.namespace_name || used->t.name != t.name) return;
    auto who = p.tenant == tenant ? "warm pool " + p.spec.name + " (" + p.id + ")"
                                  : std::string("a warm pool of another tenant");
    found = make_error(errc::conflict,
                       "template " + display(t) + " is used by " + who +
                           "; delete the pool (or point it elsewhere) first",
                       "template");
  });
  return found;
}

registry_reply remove(registry_txn& txn, storage::store& db, const registry_op& op) {
  auto f = owned_template(db, op);
  if (!f) return fail(f.error());
  auto& t = f->t;
  if (auto e = used_by_pool(db, t, op.tenant)) return fail(*e);
  auto history = history_of(db, t);
  if (auto e = busy(t, history, "delete")) return fail(*e);
  // Tags go (their builds' retention starts), then aliases and history.
  for (auto& [tag, id] : db.tags_of(t.namespace_name, t.name)) txn.drop_tag(t, tag);
  txn.then([t, history](storage::store& d, storage::write_batch& wb) {
    for (auto& a : t.aliases) d.delete_alias(wb, t.namespace_name, a);
    for (auto& rec : history) d.delete_history(wb, rec);
    d.delete_template(wb, t);
  });
  logging::registry.info("template deleted", {{"template", display(t)}, {"tenant", t.tenant}});
  return committed(txn, t);
}

// Runs `op`; `moved` gets the templates whose refs may resolve elsewhere now
// (tags moved, a rename: old and new name) once the change is committed.
registry_reply apply_op(registry_ptr self, const registry_op& op, template_names& moved) {
  auto& ctx = *self->state.ctx;
  auto& db = *ctx.db;
  registry_txn txn(db, ctx.config.now_ms(), ctx.config.retention);
  auto tagged = [&](registry_reply r) {
    if (!r.err) moved.push_back(display(r.t));
    return r;
  };
  switch (op.kind) {
    case registry_op_kind::assign_tags:
      return tagged(assign_tags(txn, db, op));
    case registry_op_kind::remove_tag:
      return tagged(remove_tag(txn, db, op));
    case registry_op_kind::promote:
      return tagged(promote(txn, db, op));
    case registry_op_kind::add_alias:
      return add_alias(txn, db, op);
    case registry_op_kind::remove_alias:
      return remove_alias(txn, db, op);
    case registry_op_kind::reserve:
      return reserve(txn, db, op);
    case registry_op_kind::rename: {
      auto before = owned_template(db, op);
      auto r = tagged(rename(txn, db, op));
      if (!r.err && before) moved.push_back(display(before->t));
      return r;
    }
    case registry_op_kind::set_visibility:
      return set_visibility(txn, db, op);
    case registry_op_kind::remove:
      return remove(txn, db, op);
  }
  return fail(errc::internal, "unknown registry operation");
}

// ---- retention -------------------------------------------------------------

// Layers are deleted only while no build runs (one could be about to use one).
template <class Done>
void sweep(registry_ptr self, int64_t now, Done done) {
  auto ctx = self->state.ctx;
  auto run = [=](bool may_delete_layers) mutable {
    auto report = sweep_retention(*ctx->db, ctx->config.data_dir, now, may_delete_layers);
    if (ctx->cache_mounts) {  // dirs in use are never deleted, so no need to wait for builds
      auto c = ctx->cache_mounts->expire(now - ctx->config.retention.cache_mount_unused_ms);
      report.cache_mounts_deleted = c.removed;
      report.bytes_freed += c.bytes;
    }
    if (report.expired || report.layers_deleted || report.cache_mounts_deleted)
      logging::registry.info(
          "retention: builds expired, artifacts, layers and cache mounts deleted",
          {{"expired", report.expired},
           {"artifacts_deleted", report.artifacts_deleted},
           {"layers_deleted", report.layers_deleted},
           {"cache_mounts_deleted", report.cache_mounts_deleted},
           {"bytes_freed", report.bytes_freed}});
    done(report);
  };
  auto manager = ctx->directory.manager();
  if (!manager) return run(false);
  self->request(manager, std::chrono::seconds(30), stats_atom::value)
      .await([=](const manager_stats& s) mutable { run(s.running == 0); },
             [=](caf::error&) mutable { run(false); });
}

// Stores written before the registry existed have builds but no templates:
// each (namespace, name) of the history gets its template, owned by its
// builds' tenant, and the tags its ready builds asked for (newest wins); the
// builds no tag points at get their retention. Once.
void adopt_history(storage::store& db, const engine_config& config) {
  if (db.get_meta("registry_adopted")) return;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> families;
  db.for_each_history_row(
      [&](std::string_view ns, std::string_view name, int64_t, std::string_view id) {
        families[{std::string(ns), std::string(name)}].emplace_back(id);  // oldest first
      });
  size_t adopted = 0;
  for (auto& [key, ids] : families) {
    if (db.get_template(key.first, key.second)) continue;
    registry_txn txn(db, config.now_ms(), config.retention);
    std::optional<template_record> t;
    for (auto& id : ids) {
      auto* rec = txn.build(id);
      if (!rec) continue;
      if (!t) t = make_template(rec->tenant, key.first, key.second, rec->created_ms);
      // Its artifact is held (retention must not delete layers it is made of).
      if (rec->status == build_status::ready && rec->artifact &&
          rec->artifact_availability == "available")
        txn.then([a = rec->artifact->id, id](storage::store& d, storage::write_batch& wb) {
          d.put_artifact_holder(wb, a, id);
        });
      if (rec->tenant != t->tenant || rec->status != build_status::ready) continue;
      for (auto& tag : rec->tags) txn.move_tag(*t, tag, id);
      t->latest_ready = id;
      t->latest_ready_ms = rec->finished_ms;
    }
    if (!t) continue;
    // Untagged and failed builds start their retention now, as if they had
    // just ended: an upgrade never deletes anything at once.
    for (auto& id : ids)
      if (auto* rec = txn.build(id); rec && storage::is_terminal(rec->status)) txn.retain(*rec);
    if (!db.namespace_owner(t->namespace_name)) claim_namespace(txn, t->namespace_name, t->tenant);
    put_template(txn, *t);
    if (txn.commit()) ++adopted;
  }
  if (adopted)
    logging::registry.info("templates made from the build history", {{"count", adopted}});
  (void)db.put_meta("registry_adopted", "1");
}

// Each known tenant's default namespace is claimed for it before any request
// could claim it for another tenant. A namespace another tenant already owns
// stays theirs (stores from before this rule): that tenant is warned about.
void claim_tenant_namespaces(storage::store& db, const engine_config& config) {
  registry_txn txn(db, config.now_ms(), config.retention);
  for (auto& tenant : config.tenants) {
    const auto& ns = default_namespace(tenant);
    if (!valid_name(ns)) continue;
    auto owner = db.namespace_owner(ns);
    if (!owner)
      claim_namespace(txn, ns, tenant);
    else if (*owner != tenant)
      logging::registry.warn("namespace belongs to another tenant, not to the tenant of that name",
                             {{"namespace", ns}, {"owner", *owner}, {"tenant", tenant}});
  }
  if (auto w = txn.commit(); !w)
    logging::registry.error("cannot claim the tenants' namespaces", {{"error", w.error().message}});
}

template_registry_actor::behavior_type registry(registry_ptr self,
                                                std::shared_ptr<engine_context> ctx) {
  self->state.ctx = std::move(ctx);
  adopt_history(*self->state.ctx->db, self->state.ctx->config);
  claim_tenant_namespaces(*self->state.ctx->db, self->state.ctx->config);
  auto interval = std::chrono::milliseconds(self->state.ctx->config.retention.sweep_interval_ms);
  self->delayed_send(self, interval, tick_atom::value);
  return {
      [=](claim_atom, const std::string& tenant, const std::string& ns, const std::string& name) {
        return claim(self, tenant, ns, name);
      },
      [=](terminal_atom, append_request& req) { return terminal(self, req); },
      [=](const registry_op& op) {
        template_names moved;
        auto r = apply_op(self, op, moved);
        notify_pools(self, std::move(moved));
        return r;
      },
      [=](sweep_atom, int64_t now) -> caf::result<sweep_summary> {
        auto rp = self->make_response_promise<sweep_summary>();
        sweep(self, now, [=](const sweep_summary& r) mutable { rp.deliver(r); });
        return rp;
      },
      [](stats_atom) { return true; },
      [=](tick_atom) {
        sweep(self, self->state.ctx->config.now_ms(),
              [=](const sweep_summary&) { self->delayed_send(self, interval, tick_atom::value); });
      },
  };
}

}  // namespace

template_registry_actor spawn_template_registry(caf::local_actor* parent,
                                                std::shared_ptr<engine_context> ctx) {
  return parent->spawn<caf::detached + caf::linked>(registry, std::move(ctx));
}

}  // namespace nullspace::actors
