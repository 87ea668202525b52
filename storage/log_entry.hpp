// Log entries are stored as their JSON encoding, so serving them (status
// polls, SSE) needs no re-encoding. The entry type is the public one
// (include/nullspace/log.hpp); this file adds its encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nullspace/log.hpp"

namespace nullspace::storage {

using nullspace::log_entry;
using nullspace::raw_entry;

std::string encode_log_entry(const log_entry& e);
std::optional<log_entry> decode_log_entry(std::string_view json);

bool is_warn_or_above(const log_entry& e);

}  // namespace nullspace::storage
