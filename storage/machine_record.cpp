#include "storage/machine_record.hpp"

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace {

namespace {
constexpr const char* state_names[] = {"starting", "ready",   "paused",
                                       "stopping", "stopped", "failed"};
}  // namespace

const char* to_string(machine_state s) {
  return state_names[static_cast<int>(s)];
}

std::optional<machine_state> parse_machine_state(std::string_view s) {
  for (int i = 0; i < 6; ++i)
    if (s == state_names[i]) return static_cast<machine_state>(i);
  return std::nullopt;
}

bool is_terminal(machine_state s) {
  return s == machine_state::stopped || s == machine_state::failed;
}

}  // namespace nullspace

namespace nullspace::storage {
namespace {

void write_pairs(json::writer& w, std::string_view key, const env_pairs& pairs) {
  w.key(key).begin_object();
  for (auto& [k, v] : pairs) w.field(k, v);
  w.end_object();
}

env_pairs read_pairs(simdjson::dom::object o, std::string_view key) {
  env_pairs out;
  simdjson::dom::object m;
  if (o[key].get(m) != simdjson::SUCCESS) return out;
  for (auto [k, v] : m) {
    std::string_view s;
    if (v.get(s) == simdjson::SUCCESS) out.emplace_back(std::string(k), std::string(s));
  }
  return out;
}

void write_resources(json::writer& w, const machine_resources& r) {
  w.key("resources").begin_object();
  w.field("cpu_count", r.cpu_count).field("memory_mb", r.memory_mb).field("disk_mb", r.disk_mb);
  w.field("internet_access", r.internet_access);
  w.end_object();
}

void write_failure(json::writer& w, const std::optional<machine_failure>& f) {
  if (!f) {
    w.field_null("failure");
    return;
  }
  w.key("failure").begin_object().field("code", f->code).field("message", f->message);
  w.key("last_lines").begin_array();
  for (auto& l : f->last_lines) w.value(l);
  w.end_array().end_object();
}

void write_checkout(json::writer& w, const pool_checkout& c) {
  if (c.result.empty()) {
    w.field_null("warm_pool_checkout");
    return;
  }
  w.key("warm_pool_checkout").begin_object().field("result", c.result);
  if (c.pool_id.empty())
    w.field_null("pool_id");
  else
    w.field("pool_id", c.pool_id);
  w.field("waited_ms", c.waited_ms);
  if (c.reason.empty())
    w.field_null("reason");
  else
    w.field("reason", c.reason);
  w.end_object();
}

void write_strings(json::writer& w, std::string_view key, const std::vector<std::string>& v) {
  w.key(key).begin_array();
  for (auto& s : v) w.value(s);
  w.end_array();
}

}  // namespace

std::string encode_machine_record(const machine_record& r) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id).field("tenant", r.tenant).field("template", r.template_ref);
  w.field("build_id", r.build_id).field("namespace", r.namespace_name);
  w.field("template_name", r.template_name).field("artifact_id", r.artifact_id);
  w.field("state", to_string(r.state));
  write_resources(w, r.resources);
  write_strings(w, "env_names", r.env_names);
  write_pairs(w, "labels", r.labels);
  w.field("created_ms", r.created_ms).field("ready_ms", r.ready_ms);
  w.field("finished_ms", r.finished_ms).field("deadline_ms", r.deadline_ms);
  write_failure(w, r.failure);
  w.field("stop_reason", r.stop_reason);
  write_checkout(w, r.checkout);
  w.field("pool_id", r.pool_id).field("driver", r.driver);
  w.field_raw("placement", r.placement.empty() ? "null" : r.placement);
  w.field("output_offset", r.output_offset);
  w.end_object();
  return std::move(w).str();
}

std::optional<machine_record> decode_machine_record(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o) != simdjson::SUCCESS) return std::nullopt;
  machine_record r;
  r.id = jr::str(o, "id");
  auto st = parse_machine_state(jr::str(o, "state"));
  if (r.id.empty() || !st) return std::nullopt;
  r.state = *st;
  r.tenant = jr::str(o, "tenant");
  r.template_ref = jr::str(o, "template");
  r.build_id = jr::str(o, "build_id");
  r.namespace_name = jr::str(o, "namespace");
  r.template_name = jr::str(o, "template_name");
  r.artifact_id = jr::str(o, "artifact_id");
  simdjson::dom::object res;
  if (o["resources"].get(res) == simdjson::SUCCESS) {
    r.resources.cpu_count = static_cast<uint32_t>(jr::u64(res, "cpu_count"));
    r.resources.memory_mb = static_cast<uint32_t>(jr::u64(res, "memory_mb"));
    r.resources.disk_mb = static_cast<uint32_t>(jr::u64(res, "disk_mb"));
    r.resources.internet_access = jr::boolean(res, "internet_access", true);
  }
  r.env_names = jr::strings(o, "env_names");
  r.labels = read_pairs(o, "labels");
  r.created_ms = jr::i64(o, "created_ms");
  r.ready_ms = jr::i64(o, "ready_ms");
  r.finished_ms = jr::i64(o, "finished_ms");
  r.deadline_ms = jr::i64(o, "deadline_ms");
  simdjson::dom::object f;
  if (o["failure"].get(f) == simdjson::SUCCESS)
    r.failure = machine_failure{jr::str(f, "code"), jr::str(f, "message"),
                                jr::strings(f, "last_lines")};
  r.stop_reason = jr::str(o, "stop_reason");
  simdjson::dom::object c;
  if (o["warm_pool_checkout"].get(c) == simdjson::SUCCESS)
    r.checkout = pool_checkout{jr::str(c, "result"), jr::str(c, "pool_id"),
                               jr::u64(c, "waited_ms"), jr::str(c, "reason")};
  r.pool_id = jr::str(o, "pool_id");
  r.driver = jr::str(o, "driver");
  r.placement = jr::raw(o, "placement");
  if (r.placement == "null") r.placement.clear();
  r.output_offset = jr::u64(o, "output_offset");
  return r;
}

std::string machine_api_json(const machine_record& r, uint64_t log_next_offset,
                             const std::vector<uint16_t>& ports) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id).field("template", r.template_ref).field("build_id", r.build_id);
  if (r.build_id.empty())
    w.field_null("canonical_ref");
  else
    w.field("canonical_ref", r.namespace_name + "/" + r.template_name + "@" + r.build_id);
  w.field("state", to_string(r.state));
  write_resources(w, r.resources);
  write_strings(w, "envs", r.env_names);
  write_pairs(w, "labels", r.labels);
  write_time(w, "created_at", r.created_ms);
  write_time(w, "ready_at", r.ready_ms);
  write_time(w, "finished_at", r.finished_ms);
  write_time(w, "timeout_at", r.deadline_ms);
  write_failure(w, r.failure);
  if (r.stop_reason.empty())
    w.field_null("stop_reason");
  else
    w.field("stop_reason", r.stop_reason);
  w.key("ports").begin_array();
  for (auto p : ports) {
    w.begin_object().field("port", p);
    w.field("url", "/v1/machines/" + r.id + "/ports/" + std::to_string(p) + "/").end_object();
  }
  w.end_array();
  write_checkout(w, r.checkout);
  w.field("log_next_offset", log_next_offset);
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::storage
