// The durable record of one build (column family `builds`, key b/<id>).
// It holds the SANITIZED definition only: secret values never reach it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/build.hpp"

namespace nullspace::storage {

// The record's types are the public ones (include/nullspace/build.hpp); this
// file adds its stored and API encodings.
using nullspace::artifact_ref;
using nullspace::build_failure;
using nullspace::build_options;
using nullspace::build_record;
using nullspace::build_status;
using nullspace::cache_summary;
using nullspace::is_terminal;
using nullspace::parse_build_status;
using nullspace::promotability;
using nullspace::to_string;

// Stored form (internal fields included).
std::string encode_build_record(const build_record& r);
std::optional<build_record> decode_build_record(std::string_view json);

// The API's `Build` object (API.md) with derived fields; no tenant, no secret values.
std::string build_api_json(const build_record& r, uint64_t log_next_offset);

}  // namespace nullspace::storage
