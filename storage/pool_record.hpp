// The stored and API encodings of a warm pool record (the record itself is
// the public type of include/nullspace/pool.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nullspace/pool.hpp"

namespace nullspace::storage {

// Stored form: every field, the tenant included.
std::string encode_pool_record(const pool_record& r);
std::optional<pool_record> decode_pool_record(std::string_view json);

// The API's `WarmPool` object: no tenant.
std::string pool_api_json(const pool_record& r);

}  // namespace nullspace::storage
