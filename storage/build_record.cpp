#include "storage/build_record.hpp"

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::storage {
namespace {

constexpr const char* status_names[] = {"waiting", "queued", "building",
                                        "ready",   "error",  "cancelled"};

void write_strings(json::writer& w, std::string_view k, const std::vector<std::string>& v) {
  w.key(k).begin_array();
  for (auto& s : v) w.value(s);
  w.end_array();
}

void write_options(json::writer& w, const build_options& o) {
  w.key("options").begin_object();
  w.field("cpu_count", o.cpu_count).field("memory_mb", o.memory_mb).field("disk_mb", o.disk_mb);
  w.field("internet_access", o.internet_access).field("skip_cache", o.skip_cache);
  w.end_object();
}

void write_cache(json::writer& w, const cache_summary& c) {
  w.key("cache_summary").begin_object();
  w.field("steps", c.steps).field("hits", c.hits).field("misses", c.misses);
  w.field("bytes_reused", c.bytes_reused);
  w.end_object();
}

void write_failure(json::writer& w, const std::optional<build_failure>& f) {
  if (!f) {
    w.field_null("error");
    return;
  }
  w.key("error").begin_object();
  w.field("code", f->code).field("message", f->message);
  if (f->step >= 0)
    w.field("step", f->step);
  else
    w.field_null("step");
  write_strings(w, "last_lines", f->last_lines);
  w.end_object();
}

void write_artifact(json::writer& w, const std::optional<artifact_ref>& a, bool internal) {
  if (!a) {
    w.field_null("artifact");
    return;
  }
  w.key("artifact").begin_object();
  if (internal) w.field("id", a->id);
  w.field("format", "ext4").field("digest", a->digest).field("image_bytes", a->image_bytes);
  w.field("used_bytes", a->used_bytes).field("disk_mb", a->disk_mb);
  w.end_object();
}

}  // namespace

}  // namespace nullspace::storage

namespace nullspace {

// A host-executor build is ready without an artifact (that executor makes
// none): it can carry tags, for development; nothing of it expires.
const char* promotability(const build_record& r) {
  if (r.status != build_status::ready) return "not_ready";
  if (r.artifact_availability == "expired" || r.artifact_availability == "deleted")
    return "expired";
  if (r.artifact_availability == "available" || !r.artifact) return "promotable";
  return "not_ready";
}

const char* to_string(build_status s) {
  return storage::status_names[static_cast<int>(s)];
}

std::optional<build_status> parse_build_status(std::string_view s) {
  for (int i = 0; i < 6; ++i)
    if (s == storage::status_names[i]) return static_cast<build_status>(i);
  return std::nullopt;
}

bool is_terminal(build_status s) {
  return s == build_status::ready || s == build_status::error || s == build_status::cancelled;
}

}  // namespace nullspace

namespace nullspace::storage {

std::string encode_build_record(const build_record& r) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id).field("tenant", r.tenant).field("namespace", r.namespace_name);
  w.field("name", r.name);
  write_strings(w, "tags", r.tags);
  write_strings(w, "current_tags", r.current_tags);
  w.field("status", to_string(r.status));
  w.field("created_ms", r.created_ms).field("started_ms", r.started_ms);
  w.field("finished_ms", r.finished_ms);
  w.field("retry_of", r.retry_of).field("build_backend", r.backend);
  write_options(w, r.options);
  w.field_raw("definition", r.definition_json.empty() ? "null" : r.definition_json);
  write_strings(w, "secret_ids", r.secret_ids);
  write_failure(w, r.failure);
  w.field("cancel_reason", r.cancel_reason).field("waiting_for", r.waiting_for);
  write_cache(w, r.cache);
  write_artifact(w, r.artifact, true);
  w.field("artifact_availability", r.artifact_availability);
  w.field("retention_expires_ms", r.retention_expires_ms);
  w.field("artifact_deleted_ms", r.artifact_deleted_ms);
  w.end_object();
  return std::move(w).str();
}

std::optional<build_record> decode_build_record(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o) != simdjson::SUCCESS) return std::nullopt;
  build_record r;
  r.id = jr::str(o, "id");
  if (r.id.empty()) return std::nullopt;
  r.tenant = jr::str(o, "tenant");
  r.namespace_name = jr::str(o, "namespace");
  r.name = jr::str(o, "name");
  r.tags = jr::strings(o, "tags");
  r.current_tags = jr::strings(o, "current_tags");
  auto st = parse_build_status(jr::str(o, "status"));
  if (!st) return std::nullopt;
  r.status = *st;
  r.created_ms = jr::i64(o, "created_ms");
  r.started_ms = jr::i64(o, "started_ms");
  r.finished_ms = jr::i64(o, "finished_ms");
  r.retry_of = jr::str(o, "retry_of");
  r.backend = jr::str(o, "build_backend");
  simdjson::dom::object opt;
  if (o["options"].get(opt) == simdjson::SUCCESS) {
    r.options.cpu_count = static_cast<uint32_t>(jr::u64(opt, "cpu_count"));
    r.options.memory_mb = static_cast<uint32_t>(jr::u64(opt, "memory_mb"));
    r.options.disk_mb = static_cast<uint32_t>(jr::u64(opt, "disk_mb"));
    r.options.internet_access = jr::boolean(opt, "internet_access", true);
    r.options.skip_cache = jr::boolean(opt, "skip_cache");
  }
  r.definition_json = jr::raw(o, "definition");
  if (r.definition_json == "null") r.definition_json.clear();
  r.secret_ids = jr::strings(o, "secret_ids");
  simdjson::dom::object err;
  if (o["error"].get(err) == simdjson::SUCCESS) {
    build_failure f;
    f.code = jr::str(err, "code");
    f.message = jr::str(err, "message");
    f.step = static_cast<int32_t>(jr::i64(err, "step", -1));
    f.last_lines = jr::strings(err, "last_lines");
    r.failure = std::move(f);
  }
  r.cancel_reason = jr::str(o, "cancel_reason");
  r.waiting_for = jr::str(o, "waiting_for");
  simdjson::dom::object cache;
  if (o["cache_summary"].get(cache) == simdjson::SUCCESS) {
    r.cache.steps = static_cast<uint32_t>(jr::u64(cache, "steps"));
    r.cache.hits = static_cast<uint32_t>(jr::u64(cache, "hits"));
    r.cache.misses = static_cast<uint32_t>(jr::u64(cache, "misses"));
    r.cache.bytes_reused = jr::u64(cache, "bytes_reused");
  }
  simdjson::dom::object art;
  if (o["artifact"].get(art) == simdjson::SUCCESS) {
    artifact_ref a;
    a.id = jr::str(art, "id");
    a.digest = jr::str(art, "digest");
    a.image_bytes = jr::u64(art, "image_bytes");
    a.used_bytes = jr::u64(art, "used_bytes");
    a.disk_mb = static_cast<uint32_t>(jr::u64(art, "disk_mb"));
    r.artifact = std::move(a);
  }
  r.artifact_availability = jr::str(o, "artifact_availability", "pending");
  r.retention_expires_ms = jr::i64(o, "retention_expires_ms");
  r.artifact_deleted_ms = jr::i64(o, "artifact_deleted_ms");
  return r;
}

std::string build_api_json(const build_record& r, uint64_t log_next_offset) {
  json::writer w;
  w.begin_object();
  w.field("id", r.id).field("name", r.name).field("namespace", r.namespace_name);
  write_strings(w, "tags", r.tags);
  write_strings(w, "current_tags", r.current_tags);
  w.field("status", to_string(r.status));
  write_time(w, "created_at", r.created_ms);
  write_time(w, "started_at", r.started_ms);
  write_time(w, "finished_at", r.finished_ms);
  if (r.retry_of.empty())
    w.field_null("retry_of");
  else
    w.field("retry_of", r.retry_of);
  w.field("build_backend", r.backend);
  write_options(w, r.options);
  w.field_raw("definition", r.definition_json.empty() ? "null" : r.definition_json);
  write_failure(w, r.failure);
  if (r.cancel_reason.empty() && r.status != build_status::cancelled)
    w.field_null("cancel_reason");
  else
    w.field("cancel_reason", r.cancel_reason);
  if (r.status == build_status::ready)
    w.field("canonical_ref", r.namespace_name + "/" + r.name + "@" + r.id);
  else
    w.field_null("canonical_ref");
  write_cache(w, r.cache);
  write_artifact(w, r.artifact, false);
  w.field("artifact_availability", r.artifact_availability);
  w.field("promotability", promotability(r));
  write_time(w, "retention_expires_at", r.retention_expires_ms);
  write_time(w, "artifact_deleted_at", r.artifact_deleted_ms);
  w.field("log_next_offset", log_next_offset);
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::storage
