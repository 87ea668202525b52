// A log entry as its writer hands it to the log hub: encoded on the writer's
// thread before its offset is known (encode_log_entry with offset 0, whose
// field comes first), so the hub's thread never encodes. The hub writes the
// offset in (number_entry); the result is byte for byte encode_log_entry of
// the numbered entry.
#pragma once

#include <cstdint>
#include <string>

#include "storage/log_entry.hpp"

namespace nullspace::storage {

struct unnumbered_entry {
  std::string json;
};

// `ts_ms` 0 becomes now. The string keeps room for any offset's digits.
unnumbered_entry encode_unnumbered(log_entry e);

// The stored JSON of the entry at `offset`: written in place (no allocation,
// no re-encoding).
std::string number_entry(unnumbered_entry&& e, uint64_t offset);

}  // namespace nullspace::storage
