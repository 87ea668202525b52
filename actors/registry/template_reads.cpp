#include "actors/registry/template_reads.hpp"

#include <algorithm>
#include <charconv>

#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace {

std::string display(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

bool readable(const storage::template_record& t, const std::string& tenant) {
  return t.tenant == tenant || t.visibility == "public";
}

// The template `name` (or the one `name` is an alias of) in `ns`.
std::optional<storage::template_record> lookup(const storage::store& db, const std::string& ns,
                                               const std::string& name) {
  if (auto t = db.get_template(ns, name)) return t;
  if (auto real = db.get_alias(ns, name)) return db.get_template(ns, *real);
  return std::nullopt;
}

// "<created_ms>:<id>" of the last build of a page.
std::optional<std::pair<int64_t, std::string>> parse_build_cursor(const std::string& c) {
  auto colon = c.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  int64_t ms = 0;
  auto [p, ec] = std::from_chars(c.data(), c.data() + colon, ms);
  if (ec != std::errc{} || p != c.data() + colon || ms < 0) return std::nullopt;
  auto id = c.substr(colon + 1);
  if (!runtime::split_template_ref("x@" + id)) return std::nullopt;
  return std::pair{ms, id};
}

// Closes a page's array and names where the next one starts (null: the end).
std::string end_page(json::writer& w, bool more, const std::string& last) {
  w.end_array();
  if (more)
    w.field("next_cursor", last);
  else
    w.field_null("next_cursor");
  w.end_object();
  return std::move(w).str();
}

}  // namespace

result<runtime::template_ref_parts> parse_ref(const std::string& ref) {
  auto r = runtime::split_template_ref(ref);
  if (!r)
    return make_error(errc::invalid_argument,
                      "'" + ref +
                          "' is not a template ref (name, namespace/name, name:tag, "
                          "namespace/name:tag or namespace/name@tb_…)",
                      "ref");
  return *r;
}

result<found_template> find_template(const storage::store& db, const std::string& tenant,
                                     const runtime::template_ref_parts& ref) {
  auto ns = ref.namespace_name.empty() ? default_namespace(tenant) : ref.namespace_name;
  auto t = lookup(db, ns, ref.name);
  if (!t || !readable(*t, tenant))
    return make_error(errc::not_found, "no template " + display(ns, ref.name));
  bool owned = t->tenant == tenant;
  return found_template{std::move(*t), owned};
}

result<found_template> find_owned_template(const storage::store& db, const std::string& tenant,
                                           const runtime::template_ref_parts& ref) {
  auto found = find_template(db, tenant, ref);
  if (found && !found->owned)
    return make_error(errc::permission_denied,
                      "template " + display(found->t.namespace_name, found->t.name) +
                          " is another tenant's public template: you may use it, not change it");
  return found;
}

result<storage::build_record> find_build(const storage::store& db, const found_template& f,
                                         const runtime::template_ref_parts& ref) {
  const auto& t = f.t;
  std::string id;
  if (!ref.build_id.empty()) {
    id = ref.build_id;
  } else {
    auto tagged = db.get_tag(t.namespace_name, t.name, ref.tag_or_latest());
    if (!tagged)
      return make_error(errc::not_found,
                        "template " + display(t.namespace_name, t.name) + " has no tag '" +
                            ref.tag_or_latest() + "'" +
                            (ref.tag.empty() ? " (a bare name means its `latest` tag: tag a build "
                                               "`latest`, or name a tag or ns/name@tb_…)"
                                             : ""));
    id = *tagged;
  }
  auto rec = db.get_build(id);
  // A build of a deleted template keeps its name: a new template of that name
  // does not inherit it.
  if (!rec || rec->namespace_name != t.namespace_name || rec->name != t.name ||
      !db.in_history(*rec))
    return make_error(errc::not_found,
                      "template " + display(t.namespace_name, t.name) + " has no build " + id);
  return std::move(*rec);
}

std::string template_json(const storage::store& db, const storage::template_record& t,
                          const storage::build_record* resolved) {
  json::writer w;
  w.begin_object();
  w.field("name", t.name).field("namespace", t.namespace_name);
  w.field("visibility", t.visibility);
  w.key("tags").begin_object();
  for (auto& [tag, id] : db.tags_of(t.namespace_name, t.name)) w.field(tag, id);
  w.end_object();
  w.key("aliases").begin_array();
  for (auto& a : t.aliases) w.value(a);
  w.end_array();
  storage::write_time(w, "created_at", t.created_ms);
  if (t.latest_ready.empty()) {
    w.field_null("latest_ready_build");
  } else {
    w.key("latest_ready_build").begin_object();
    w.field("id", t.latest_ready);
    w.field("canonical_ref", runtime::canonical_ref(t.namespace_name, t.name, t.latest_ready));
    storage::write_time(w, "finished_at", t.latest_ready_ms);
    w.end_object();
  }
  if (resolved) {
    w.key("resolved").begin_object();
    w.field("build_id", resolved->id);
    w.field("canonical_ref", runtime::canonical_ref(t.namespace_name, t.name, resolved->id));
    w.field("status", storage::to_string(resolved->status));
    w.end_object();
  } else {
    w.field_null("resolved");
  }
  w.end_object();
  return std::move(w).str();
}

result<std::string> list_templates_json(const storage::store& db, const std::string& tenant,
                                        const template_list_options& f) {
  std::optional<std::pair<std::string, std::string>> after;
  if (!f.cursor.empty()) {
    auto slash = f.cursor.find('/');
    auto parsed = runtime::split_template_ref(f.cursor);
    if (slash == std::string::npos || !parsed || parsed->names_build())
      return make_error(errc::invalid_argument, "cursor is not one this server returned", "cursor");
    after = std::pair{parsed->namespace_name, parsed->name};
  }
  bool others = !f.namespace_name.empty() || f.visibility == "public";
  // Walk only what can match: a namespace, the public index, or the caller's own.
  using scope = storage::store::template_scope;
  scope where = !f.namespace_name.empty()  ? scope{scope::kind::in_namespace, f.namespace_name}
                : f.visibility == "public" ? scope{scope::kind::public_ones, {}}
                                           : scope{scope::kind::owned_by, tenant};
  json::writer w;
  w.begin_object();
  w.key("templates").begin_array();
  size_t n = 0;
  std::string last;
  bool more = false;
  db.for_each_template(where, after, [&](storage::template_record&& t) {
    bool mine = t.tenant == tenant;
    if (!(mine || (others && t.visibility == "public"))) return true;
    if (!f.visibility.empty() && t.visibility != f.visibility) return true;
    if (n == f.limit) {
      more = true;
      return false;
    }
    w.raw(template_json(db, t, nullptr));
    last = display(t.namespace_name, t.name);
    ++n;
    return true;
  });
  return end_page(w, more, last);
}

result<std::string> list_builds_json(const storage::store& db, const std::string& tenant,
                                     const runtime::template_ref_parts& ref,
                                     const build_list_options& f) {
  auto found = find_template(db, tenant, ref);
  if (!found) return found.error();
  std::optional<std::pair<int64_t, std::string>> before;
  if (!f.cursor.empty()) {
    before = parse_build_cursor(f.cursor);
    if (!before)
      return make_error(errc::invalid_argument, "cursor is not one this server returned", "cursor");
  }
  const auto& t = found->t;
  json::writer w;
  w.begin_object();
  w.key("builds").begin_array();
  size_t n = 0;
  std::string last;
  bool more = false;
  db.for_each_history(t.namespace_name, t.name, before, [&](int64_t created, std::string&& id) {
    auto rec = db.get_build(id);
    if (!rec) return true;
    if (f.status && rec->status != *f.status) return true;
    if (f.tagged && rec->current_tags.empty() == *f.tagged) return true;
    if (!f.backend.empty() && rec->backend != f.backend) return true;
    if (n == f.limit) {
      more = true;
      return false;
    }
    w.raw(storage::build_api_json(*rec, db.next_offset(id)));
    last = std::to_string(created) + ":" + id;
    ++n;
    return true;
  });
  return end_page(w, more, last);
}

}  // namespace nullspace::actors
