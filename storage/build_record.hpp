// The durable record of one build (column family `builds`, key b/<id>).
// It holds the SANITIZED definition only: secret values never reach it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::storage {

enum class build_status { waiting, queued, building, ready, error, cancelled };

const char* to_string(build_status s);
std::optional<build_status> parse_build_status(std::string_view s);
bool is_terminal(build_status s);

struct build_failure {
  std::string code;     // e.g. "step_failed", "unsupported_step", "secrets_lost"
  std::string message;  // a human sentence, never empty for a failed build
  int32_t step = -1;
  std::vector<std::string> last_lines;  // the last warn-and-above entries' messages
};

struct cache_summary {
  uint32_t steps = 0, hits = 0, misses = 0;
  uint64_t bytes_reused = 0;
};

// A ready build's root filesystem image (runtime/artifact/rootfs_artifact.hpp).
struct artifact_ref {
  std::string id;      // its dir under DATA/artifacts
  std::string digest;  // "sha256:…" of the image (data extents; holes skipped)
  uint64_t image_bytes = 0, used_bytes = 0;
  uint32_t disk_mb = 0;
};

struct build_options {
  uint32_t cpu_count = 0, memory_mb = 0, disk_mb = 0;
  bool internet_access = true;
  bool skip_cache = false;
};

struct build_record {
  std::string id;              // tb_…
  std::string tenant;          // owner; never shown to other tenants
  std::string namespace_name;  // defaults to the tenant
  std::string name;
  std::vector<std::string> tags;          // asked for at build time (attach when ready)
  std::vector<std::string> current_tags;  // tags of the template pointing here now
  build_status status = build_status::queued;
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
  std::string retry_of;
  std::string backend;  // native | buildkit
  build_options options;
  std::string definition_json;          // sanitized request (runtime::sanitized_definition_json)
  std::vector<std::string> secret_ids;  // ids only: a retry must supply fresh values
  std::optional<build_failure> failure;
  std::string cancel_reason;
  std::string waiting_for;  // context id a `waiting` build needs, if any
  cache_summary cache;
  std::optional<artifact_ref> artifact;
  std::string artifact_availability = "pending";  // pending|available|expired|deleted
  int64_t retention_expires_ms = 0;               // 0 = none
  int64_t artifact_deleted_ms = 0;                // when retention removed its files
};

// promotable | not_ready | expired: whether tags may point at the build now.
const char* promotability(const build_record& r);

// Stored form (internal fields included).
std::string encode_build_record(const build_record& r);
std::optional<build_record> decode_build_record(std::string_view json);

// The API's `Build` object (API.md) with derived fields; no tenant, no secret values.
std::string build_api_json(const build_record& r, uint64_t log_next_offset);

}  // namespace nullspace::storage
