// JSON request bodies read with simdjson: the object, its typed members, and
// the 400 that names a member of the wrong type or one the route does not know.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::api {

// The body as a JSON object. An empty body is an empty object when
// `empty_ok`. Malformed JSON is 400 naming the byte offset; a member given
// twice is 400 naming it.
result<simdjson::dom::object> parse_object_body(simdjson::dom::parser& parser,
                                                const std::string& body, bool empty_ok);

// Optional string / string array members; a wrong type is a 400 naming `key`.
result<std::optional<std::string>> optional_string(simdjson::dom::object o, std::string_view key);
result<std::optional<std::vector<std::string>>> optional_strings(simdjson::dom::object o,
                                                                 std::string_view key);

// Refuses members not in `known` (a typo must not be ignored), naming the
// first; `what` says what the body is ("a machine request").
result<void> only_known(simdjson::dom::object o, const std::set<std::string_view>& known,
                        std::string_view what);

// Optional members (absent or null: nullopt); a wrong type or a number out of
// range is a 400 naming `key`.
result<std::optional<uint64_t>> optional_u64(simdjson::dom::object o, std::string_view key);
result<std::optional<uint32_t>> optional_u32(simdjson::dom::object o, std::string_view key);
result<std::optional<bool>> optional_bool(simdjson::dom::object o, std::string_view key);

// True if a Content-Type is absent or is `expected` (parameters
// such as "; charset=utf-8" allowed).
bool content_type_is(std::string_view header, std::string_view expected);

}  // namespace nullspace::api
