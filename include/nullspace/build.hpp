// Builds as the engine reports them: the record of one build (its sanitized
// definition, status, times, failure, cache and artifact facts), a view with
// its log position, and the answers of status polls, validation and retries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/ids.hpp"
#include "nullspace/log.hpp"

namespace nullspace {

enum class build_status { waiting, queued, building, ready, error, cancelled };

const char* to_string(build_status s);
std::optional<build_status> parse_build_status(std::string_view s);
bool is_terminal(build_status s);

struct build_failure {
  std::string code;     // e.g. "step_failed", "sandbox_failed", "secrets_lost"
  std::string message;  // a human sentence, never empty for a failed build
  int32_t step = -1;
  std::vector<std::string> last_lines;  // the last warn-and-above entries' messages
};

struct cache_summary {
  uint32_t steps = 0, hits = 0, misses = 0;
  uint64_t bytes_reused = 0;
};

// A ready build's root filesystem image.
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

// The durable record of one build. It holds the SANITIZED definition only:
// secret values never reach it.
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
  std::string definition_json;          // the sanitized request
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

// A build as the API shows it.
struct build_view {
  build_record record;
  uint64_t log_next_offset = 0;
  build_id id() const;
  std::string json() const;  // the API's `Build` object
};

// get_status: the build plus log entries from an offset.
struct status_view {
  build_view build;
  std::vector<raw_entry> logs;
  uint64_t next_offset = 0;
  std::string json() const;  // {"build": …, "logs": […], "next_offset": K}
};

// get_status already encoded, for servers that answer pollers.
struct status_json {
  std::shared_ptr<const std::string> body;  // exactly status_view::json()
  build_status status{};
  size_t entries = 0;  // log entries in the body
};

// A request checked without building (validate).
struct validation {
  bool valid = false;
  bool malformed_json = false;        // not JSON at all: errors holds the one 400
  std::vector<error> errors;          // every problem found, each naming its field
  std::vector<std::string> warnings;  // e.g. unknown fields that were ignored
};

// A secret value supplied with a request (retry). Lives only in memory.
struct secret_value {
  std::string id;
  std::string value;
  std::string source;  // "value" | "env" | "file": a client-side hint
};

struct retry_options {
  std::optional<std::vector<std::string>> tags;  // absent: the original build's tags
  std::vector<secret_value> secrets;             // fresh values for the original ids
};

// An uploaded build context (POST /v1/build-contexts).
struct context_info {
  std::string id;      // bc_…
  std::string digest;  // sha256:… of the tar
  uint64_t files = 0, bytes = 0;
  std::string json() const;  // the API's `context` object
};

// What engine::prune_cache_mounts removed: the tenant's RUN --mount=type=cache
// dirs that no running step held.
struct cache_mount_prune {
  uint32_t removed = 0;      // dirs deleted
  uint64_t bytes_freed = 0;  // their size when last used
  uint32_t in_use = 0;       // dirs kept because a running step holds them
  std::string json() const;  // {"removed","bytes_freed","in_use"}
};

}  // namespace nullspace
