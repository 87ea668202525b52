// One entry of a build's durable log (API.md, "Entry"). Entries are stored as
// their JSON encoding, so serving them (status polls, SSE) needs no re-encoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nullspace::storage {

struct log_entry {
  uint64_t offset = 0;
  int64_t ts_ms = 0;
  std::string level = "info";  // debug | info | warn | error
  std::string kind = "log";    // log | status | step | cache | cancelled | error
  int32_t step = -1;           // index of the plan step, -1 when not tied to one
  std::string message;
  std::string phase;   // optional: base | step | finalize | ready | artifact
  std::string stream;  // optional: stdout | stderr
  std::string status;  // kind == status: the build status entered
  // kind == cache: {"cache": {"status": hit|miss|bypass, "key": "sha256:…", "reason"}}
  std::string cache_status, cache_key, cache_reason;
};

std::string encode_log_entry(const log_entry& e);
std::optional<log_entry> decode_log_entry(std::string_view json);

bool is_warn_or_above(const log_entry& e);

}  // namespace nullspace::storage
