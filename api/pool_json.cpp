#include "api/pool_json.hpp"

#include <simdjson.h>

#include "api/json_body.hpp"

namespace nullspace::api {
namespace {

error bad(std::string_view field, std::string message) {
  return make_error(errc::invalid_argument, std::move(message), std::string(field));
}

// The members a create and a change share.
struct pool_fields {
  std::optional<uint32_t> min_ready, max_ready, cpu_count, memory_mb;
  std::optional<version_policy> policy;
  std::optional<uint64_t> max_idle_ms;
};

result<pool_fields> read_fields(simdjson::dom::object o) {
  pool_fields f;
  for (auto [key, out] :
       {std::pair{"min_ready", &f.min_ready}, std::pair{"max_ready", &f.max_ready},
        std::pair{"cpu_count", &f.cpu_count}, std::pair{"memory_mb", &f.memory_mb}}) {
    auto v = optional_u32(o, key);
    if (!v) return v.error();
    *out = *v;
  }
  auto policy = optional_string(o, "version_policy");
  if (!policy) return policy.error();
  if (*policy) {
    f.policy = parse_version_policy(**policy);
    if (!f.policy) return bad("version_policy", "version_policy must be track_tag or pinned_build");
  }
  auto idle = optional_u64(o, "max_idle_ms");
  if (!idle) return idle.error();
  f.max_idle_ms = *idle;
  return f;
}

const std::set<std::string_view> change_members = {"min_ready", "max_ready", "version_policy",
                                                   "cpu_count", "memory_mb", "max_idle_ms"};

}  // namespace

result<pool_spec> parse_pool_spec(const std::string& body) {
  simdjson::dom::parser parser;
  auto o = parse_object_body(parser, body, false);
  if (!o) return o.error();
  auto known = change_members;
  known.insert({"template", "name"});
  if (auto k = only_known(*o, known, "a warm pool request"); !k) return k.error();
  pool_spec s;
  auto tmpl = optional_string(*o, "template");
  if (!tmpl) return tmpl.error();
  if (!*tmpl || (*tmpl)->empty())
    return bad("template",
               "template is required: a template ref such as \"web\" or \"web:stable\"");
  s.template_ref = std::move(**tmpl);
  auto name = optional_string(*o, "name");
  if (!name) return name.error();
  if (!*name || (*name)->empty())
    return bad("name", "name is required: the pool's name, unique among your pools");
  s.name = std::move(**name);
  auto f = read_fields(*o);
  if (!f) return f.error();
  s.min_ready = f->min_ready.value_or(1);
  s.max_ready = f->max_ready.value_or(std::max<uint32_t>(s.min_ready, 1));
  s.cpu_count = f->cpu_count;
  s.memory_mb = f->memory_mb;
  if (f->policy) s.policy = *f->policy;
  if (f->max_idle_ms == 0u) f->max_idle_ms.reset();  // 0: no recycling, as when absent
  s.max_idle_ms = f->max_idle_ms;
  return s;
}

result<pool_update> parse_pool_update(const std::string& body) {
  simdjson::dom::parser parser;
  auto o = parse_object_body(parser, body, false);
  if (!o) return o.error();
  if (auto k = only_known(*o, change_members, "a warm pool change"); !k) return k.error();
  auto f = read_fields(*o);
  if (!f) return f.error();
  pool_update u;
  u.min_ready = f->min_ready;
  u.max_ready = f->max_ready;
  u.cpu_count = f->cpu_count;
  u.memory_mb = f->memory_mb;
  u.policy = f->policy;
  u.max_idle_ms = f->max_idle_ms;
  if (!u.min_ready && !u.max_ready && !u.cpu_count && !u.memory_mb && !u.policy && !u.max_idle_ms)
    return bad("body",
               "nothing to change: give min_ready, max_ready, version_policy, cpu_count, "
               "memory_mb or max_idle_ms");
  if (u.min_ready && u.max_ready && *u.min_ready > *u.max_ready)
    return bad("min_ready", "min_ready must be at most max_ready");
  return u;
}

std::string pool_body_json(const pool_view& p) {
  return "{\"warm_pool\":" + p.json() + "}";
}

std::string pool_list_json(const std::vector<pool_view>& pools) {
  std::string body = "{\"warm_pools\":[";
  for (size_t i = 0; i < pools.size(); ++i) {
    if (i) body.push_back(',');
    body += pools[i].json();
  }
  body += "],\"next_cursor\":null}";
  return body;
}

std::vector<std::pair<std::string, uint64_t>> counts_of(const pool_counts& c) {
  return {{"ready", c.ready}, {"starting", c.starting}, {"in_use", c.in_use}, {"failed", c.failed}};
}

}  // namespace nullspace::api
