// The 400 for a body that is not JSON: simdjson reports only an error code, so
// on failure a small strict recursive-descent scanner finds the byte offset
// (and, for a problem inside one string or number, the JSON path). It runs only
// on the error path.
#pragma once

#include <cstddef>
#include <string_view>

#include "nullspace/error.hpp"

namespace nullspace::json {

// Request bodies are a few levels deep; anything much deeper is rejected
// before a parser descends into it.
inline constexpr size_t max_depth = 64;
inline constexpr size_t max_quoted_bytes = 64;  // user text echoed in a message

// invalid_argument naming the byte offset of the first problem (and the JSON
// path when it lies inside one value); internal when the parser ran out of memory.
error malformed_json_error(std::string_view json, bool out_of_memory = false);

}  // namespace nullspace::json
