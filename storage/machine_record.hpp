// The stored and API encodings of a machine record (the record itself is the
// public type of include/nullspace/machine.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/machine.hpp"

namespace nullspace::storage {

using nullspace::machine_record;
using nullspace::machine_state;

// Stored form: every field, the driver's placement included.
std::string encode_machine_record(const machine_record& r);
std::optional<machine_record> decode_machine_record(std::string_view json);

// The API's `Machine` object: no tenant, no placement; each listening port
// with the URL prefix that reaches it through the server.
std::string machine_api_json(const machine_record& r, uint64_t log_next_offset,
                             const std::vector<uint16_t>& ports);

}  // namespace nullspace::storage
