// Entries of durable logs (a build's, later a machine's or a pool's): dense
// offsets from 0, durable before anyone sees them, never reused.
#pragma once

#include <cstdint>
#include <string>

namespace nullspace {

// One entry (API.md, "Entry"), decoded.
struct log_entry {
  uint64_t offset = 0;
  int64_t ts_ms = 0;
  std::string level = "info";  // debug | info | warn | error
  std::string kind = "log";    // log | status | step | cache | cancelled | error
  int32_t step = -1;           // index of the plan step, -1 when not tied to one
  std::string message;
  std::string phase;   // optional: base | step | finalize | ready | artifact
  std::string stream;  // optional: stdout | stderr
  std::string status;  // kind == status: the status entered
  // kind == cache: {"cache": {"status": hit|miss|bypass, "key": "sha256:…", "reason"}}
  std::string cache_status, cache_key, cache_reason;
};

// A stored entry as served: its offset and its JSON encoding.
struct raw_entry {
  uint64_t offset = 0;
  std::string json;
};

// Decodes a raw entry's JSON (false if it is not an entry).
bool decode_log_entry(const raw_entry& raw, log_entry& out);

}  // namespace nullspace
