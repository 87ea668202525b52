// The template registry part of the engine facade (include/nullspace/engine.hpp):
// reads straight from the store, changes through the template_registry actor.
#include <caf/all.hpp>

#include <future>

#include "actors/engine/engine_impl.hpp"
#include "actors/registry/template_reads.hpp"

namespace nullspace {
namespace {

std::optional<error> check_name(const std::string& v, const char* what, const char* field) {
  if (valid_name(v)) return std::nullopt;
  return make_error(errc::invalid_argument,
                    std::string(what) + " '" + v + "' must match [a-z0-9][a-z0-9._-]{0,62}", field);
}

// The message for a change, or the 400 for bad input (checked before any actor).
result<registry_op> to_op(const registry_change& c, const std::string& tenant) {
  using k = registry_change;
  registry_op op;
  op.tenant = tenant;
  op.ref = c.ref;
  op.values = c.values;
  op.namespace_name = c.namespace_name;
  auto need_one = [&](const char* what) -> std::optional<error> {
    if (c.values.size() != 1)
      return make_error(errc::invalid_argument, std::string(what) + " is missing");
    return std::nullopt;
  };
  std::optional<error> bad;
  switch (c.what) {
    case k::assign_tags:
      op.kind = registry_op_kind::assign_tags;
      if (c.values.empty()) bad = make_error(errc::invalid_argument, "tags is empty", "tags");
      for (auto& t : c.values)
        if (!bad) bad = check_name(t, "tag", "tags");
      break;
    case k::remove_tag:
      op.kind = registry_op_kind::remove_tag;
      if (!(bad = need_one("the tag"))) bad = check_name(c.values[0], "tag", "tag");
      break;
    case k::add_alias:
      op.kind = registry_op_kind::add_alias;
      if (!(bad = need_one("alias"))) bad = check_name(c.values[0], "alias", "alias");
      break;
    case k::remove_alias:
      op.kind = registry_op_kind::remove_alias;
      if (!(bad = need_one("alias"))) bad = check_name(c.values[0], "alias", "alias");
      break;
    case k::reserve:
      op.kind = registry_op_kind::reserve;
      bad = check_name(c.ref, "name", "name");
      break;
    case k::rename:
      op.kind = registry_op_kind::rename;
      if (!(bad = need_one("name"))) bad = check_name(c.values[0], "name", "name");
      break;
    case k::set_visibility:
      op.kind = registry_op_kind::set_visibility;
      if (!(bad = need_one("visibility")) && c.values[0] != "private" && c.values[0] != "public")
        bad = make_error(errc::invalid_argument, "visibility must be private or public",
                         "visibility");
      break;
    case k::remove:
      op.kind = registry_op_kind::remove;
      break;
  }
  if (!bad && !c.namespace_name.empty())
    bad = check_name(c.namespace_name, "namespace", "namespace");
  if (!bad && c.what != k::reserve) {
    if (auto r = actors::parse_ref(c.ref); !r) bad = r.error();
  }
  if (bad) return *bad;
  return op;
}

template_view to_view(const storage::store& db, const storage::template_record& t) {
  return template_view{t.namespace_name, t.name, t.visibility,
                       "{\"template\":" + actors::template_json(db, t, nullptr) + "}"};
}

}  // namespace

result<std::string> engine::get_template_json(const template_ref& ref,
                                              const tenant_id& tenant) const {
  auto r = actors::parse_ref(ref.str());
  if (!r) return r.error();
  auto& db = *impl_->db;
  auto f = actors::find_template(db, tenant.str(), *r);
  if (!f) return f.error();
  std::optional<storage::build_record> resolved;
  if (auto b = actors::find_build(db, *f, *r))
    resolved = std::move(b.value());
  else if (r->names_build())
    return b.error();  // the tag or build the ref names does not exist
  return "{\"template\":" + actors::template_json(db, f->t, resolved ? &*resolved : nullptr) + "}";
}

result<std::string> engine::list_templates_json(const template_list_options& o,
                                                const tenant_id& tenant) const {
  if (!o.namespace_name.empty())
    if (auto e = check_name(o.namespace_name, "namespace", "namespace")) return *e;
  if (!o.visibility.empty() && o.visibility != "private" && o.visibility != "public")
    return make_error(errc::invalid_argument, "visibility must be private or public", "visibility");
  return actors::list_templates_json(*impl_->db, tenant.str(), o);
}

result<std::string> engine::list_builds_json(const template_ref& ref, const build_list_options& o,
                                             const tenant_id& tenant) const {
  auto r = actors::parse_ref(ref.str());
  if (!r) return r.error();
  return actors::list_builds_json(*impl_->db, tenant.str(), *r, o);
}

result<std::string> engine::list_aliases_json(const template_ref& ref,
                                              const tenant_id& tenant) const {
  auto r = actors::parse_ref(ref.str());
  if (!r) return r.error();
  auto f = actors::find_template(*impl_->db, tenant.str(), *r);
  if (!f) return f.error();
  std::string out = "{\"aliases\":[";
  for (size_t i = 0; i < f->t.aliases.size(); ++i)
    out += (i ? ",\"" : "\"") + f->t.aliases[i] + "\"";  // aliases are [a-z0-9._-]
  return out + "]}";
}

namespace {

// One registry_op from a short-lived actor; `done` gets `convert(reply)` or the error.
template <class T, class Convert>
void ask_registry(engine::impl& p, registry_op op, Convert convert, engine::callback<T> done) {
  auto reg = p.ctx->directory.registry();
  if (!reg || !p.ctx->accepting_calls())
    return done(make_error(errc::unavailable, "the engine is restarting or stopping; retry"));
  caller_thread_guard caller;
  p.sys->spawn([reg, op = std::move(op), convert,
                done = std::move(done)](caf::event_based_actor* self) mutable {
    self->request(reg, caf::infinite, std::move(op))
        .then(
            [convert, done](registry_reply& r) {
              if (r.err)
                done(std::move(*r.err));
              else
                done(convert(r));
            },
            [done](caf::error& e) { done(from_caf(e, "the template registry did not answer")); });
  });
}

}  // namespace

void engine::change_template_async(registry_change change, const tenant_id& tenant,
                                   callback<template_view> done) {
  auto op = to_op(change, tenant.str());
  if (!op) return done(op.error());
  auto* db = impl_->db.get();
  ask_registry<template_view>(
      *impl_, std::move(op.value()), [db](registry_reply& r) { return to_view(*db, r.t); },
      std::move(done));
}

void engine::promote_async(const build_id& id, const std::string& tag, const tenant_id& tenant,
                           callback<build_view> done) {
  if (auto e = check_name(tag, "tag", "tag")) return done(*e);
  auto* p = impl_.get();
  ask_registry<build_view>(
      *impl_, registry_op{registry_op_kind::promote, tenant.str(), id.str(), {tag}, {}},
      [p](registry_reply& r) { return p->view(std::move(*r.build)); }, std::move(done));
}

result<template_view> engine::change_template(registry_change change, const tenant_id& tenant) {
  return wait_for<template_view>(
      [&](auto cb) { change_template_async(std::move(change), tenant, cb); });
}

result<template_view> engine::assign_tags(const template_ref& ref,
                                          const std::vector<std::string>& tags,
                                          const tenant_id& tenant) {
  return change_template({registry_change::assign_tags, ref.str(), tags, {}}, tenant);
}

result<template_view> engine::remove_tag(const template_ref& ref, const std::string& tag,
                                         const tenant_id& tenant) {
  return change_template({registry_change::remove_tag, ref.str(), {tag}, {}}, tenant);
}

result<build_view> engine::promote(const build_id& id, const std::string& tag,
                                   const tenant_id& tenant) {
  return wait_for<build_view>([&](auto cb) { promote_async(id, tag, tenant, cb); });
}

result<template_view> engine::add_alias(const template_ref& ref, const std::string& alias,
                                        const tenant_id& tenant) {
  return change_template({registry_change::add_alias, ref.str(), {alias}, {}}, tenant);
}

result<template_view> engine::remove_alias(const template_ref& ref, const std::string& alias,
                                           const tenant_id& tenant) {
  return change_template({registry_change::remove_alias, ref.str(), {alias}, {}}, tenant);
}

result<template_view> engine::reserve_name(const std::string& namespace_name,
                                           const std::string& name, const tenant_id& tenant) {
  return change_template({registry_change::reserve, name, {}, namespace_name}, tenant);
}

result<template_view> engine::rename(const template_ref& ref, const std::string& new_name,
                                     const std::string& new_namespace, const tenant_id& tenant) {
  return change_template({registry_change::rename, ref.str(), {new_name}, new_namespace}, tenant);
}

result<template_view> engine::set_visibility(const template_ref& ref, const std::string& visibility,
                                             const tenant_id& tenant) {
  return change_template({registry_change::set_visibility, ref.str(), {visibility}, {}}, tenant);
}

result<template_view> engine::delete_template(const template_ref& ref, const tenant_id& tenant) {
  return change_template({registry_change::remove, ref.str(), {}, {}}, tenant);
}

result<sweep_summary> engine::sweep_retention() {
  auto reg = impl_->ctx->directory.registry();
  if (!reg) return make_error(errc::unavailable, "the template registry is restarting; retry");
  caller_thread_guard caller;
  caf::scoped_actor self{*impl_->sys};
  std::optional<result<sweep_summary>> out;
  self->request(reg, caf::infinite, sweep_atom::value, impl_->ctx->config.now_ms())
      .receive(
          [&](const sweep_summary& r) { out.emplace(r); },
          [&](caf::error& e) { out.emplace(from_caf(e, "the template registry did not answer")); });
  return std::move(*out);
}

}  // namespace nullspace
