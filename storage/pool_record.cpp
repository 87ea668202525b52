// Encodings of pool records: the stored JSON (every field) and the API's
// `WarmPool` object (shared API.md, "Warm pools and machines").
#include "storage/pool_record.hpp"

#include "storage/common/id_access.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace {

namespace {
constexpr const char* state_names[] = {"enabled", "disabled", "draining", "degraded"};
constexpr const char* policy_names[] = {"track_tag", "pinned_build"};
}  // namespace

const char* to_string(pool_state s) {
  return state_names[static_cast<int>(s)];
}

std::optional<pool_state> parse_pool_state(std::string_view s) {
  for (int i = 0; i < 4; ++i)
    if (s == state_names[i]) return static_cast<pool_state>(i);
  return std::nullopt;
}

const char* to_string(version_policy p) {
  return policy_names[static_cast<int>(p)];
}

std::optional<version_policy> parse_version_policy(std::string_view s) {
  for (int i = 0; i < 2; ++i)
    if (s == policy_names[i]) return static_cast<version_policy>(i);
  return std::nullopt;
}

pool_id pool_view::id() const {
  return detail::id_access::make<pool_id>(record.id);
}

std::string pool_view::json() const {
  return storage::pool_api_json(record);
}

}  // namespace nullspace

namespace nullspace::storage {
namespace {

template <class T>
void optional_field(json::writer& w, std::string_view k, const std::optional<T>& v) {
  if (v)
    w.field(k, *v);
  else
    w.field_null(k);
}

void write_spec_fields(json::writer& w, const pool_spec& s) {
  w.field("template", s.template_ref).field("name", s.name);
  w.field("min_ready", s.min_ready).field("max_ready", s.max_ready);
  optional_field(w, "cpu_count", s.cpu_count);
  optional_field(w, "memory_mb", s.memory_mb);
  w.field("version_policy", to_string(s.policy));
  optional_field(w, "max_idle_ms", s.max_idle_ms);
}

void write_counts(json::writer& w, const pool_counts& c) {
  w.key("counts").begin_object();
  w.field("ready", c.ready).field("starting", c.starting);
  w.field("in_use", c.in_use).field("failed", c.failed);
  w.end_object();
}

void write_lines(json::writer& w, const std::vector<std::string>& lines) {
  w.key("last_lines").begin_array();
  for (auto& l : lines) w.value(l);
  w.end_array();
}

std::optional<uint32_t> opt_u32(simdjson::dom::object o, std::string_view k) {
  uint64_t v;
  if (o[k].get(v) != simdjson::SUCCESS) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace

std::string encode_pool_record(const pool_record& r) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id).field("tenant", r.tenant);
  write_spec_fields(w, r.spec);
  w.field("state", to_string(r.state)).field("reason", r.reason);
  w.field("reason_message", r.reason_message);
  write_lines(w, r.last_lines);
  w.field("serving_build", r.serving_build);
  write_counts(w, r.counts);
  w.field("consecutive_failures", r.consecutive_failures);
  w.field("created_ms", r.created_ms).field("updated_ms", r.updated_ms);
  w.end_object();
  return std::move(w).str();
}

std::optional<pool_record> decode_pool_record(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o) != simdjson::SUCCESS) return std::nullopt;
  pool_record r;
  r.id = jr::str(o, "id");
  auto st = parse_pool_state(jr::str(o, "state"));
  auto policy = parse_version_policy(jr::str(o, "version_policy"));
  if (r.id.empty() || !st || !policy) return std::nullopt;
  r.state = *st;
  r.tenant = jr::str(o, "tenant");
  auto& s = r.spec;
  s.template_ref = jr::str(o, "template");
  s.name = jr::str(o, "name");
  s.min_ready = static_cast<uint32_t>(jr::u64(o, "min_ready"));
  s.max_ready = static_cast<uint32_t>(jr::u64(o, "max_ready"));
  s.cpu_count = opt_u32(o, "cpu_count");
  s.memory_mb = opt_u32(o, "memory_mb");
  s.policy = *policy;
  uint64_t idle;
  if (o["max_idle_ms"].get(idle) == simdjson::SUCCESS) s.max_idle_ms = idle;
  r.reason = jr::str(o, "reason");
  r.reason_message = jr::str(o, "reason_message");
  r.last_lines = jr::strings(o, "last_lines");
  r.serving_build = jr::str(o, "serving_build");
  simdjson::dom::object c;
  if (o["counts"].get(c) == simdjson::SUCCESS)
    r.counts = pool_counts{
        static_cast<uint32_t>(jr::u64(c, "ready")), static_cast<uint32_t>(jr::u64(c, "starting")),
        static_cast<uint32_t>(jr::u64(c, "in_use")), static_cast<uint32_t>(jr::u64(c, "failed"))};
  r.consecutive_failures = static_cast<uint32_t>(jr::u64(o, "consecutive_failures"));
  r.created_ms = jr::i64(o, "created_ms");
  r.updated_ms = jr::i64(o, "updated_ms");
  return r;
}

std::string pool_api_json(const pool_record& r) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id);
  write_spec_fields(w, r.spec);
  w.field("state", to_string(r.state));
  if (r.reason.empty()) {
    w.field_null("reason");
  } else {
    w.key("reason").begin_object().field("code", r.reason).field("message", r.reason_message);
    write_lines(w, r.last_lines);
    w.end_object();
  }
  if (r.serving_build.empty())
    w.field_null("serving_build");
  else
    w.field("serving_build", r.serving_build);
  write_counts(w, r.counts);
  write_time(w, "created_at", r.created_ms);
  write_time(w, "updated_at", r.updated_ms);
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::storage
