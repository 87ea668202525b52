// Small JSON request bodies (cancel, retry, promote) read with simdjson.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::api {

// The body as a JSON object. An empty body is an empty object when
// `empty_ok`. Malformed JSON is 400 naming the byte offset.
result<simdjson::dom::object> parse_object_body(simdjson::dom::parser& parser,
                                                const std::string& body, bool empty_ok);

// Optional string / string array members; a wrong type is a 400 naming `key`.
result<std::optional<std::string>> optional_string(simdjson::dom::object o, std::string_view key);
result<std::optional<std::vector<std::string>>> optional_strings(simdjson::dom::object o,
                                                                 std::string_view key);

// True if a Content-Type is absent or is `expected` (parameters
// such as "; charset=utf-8" allowed).
bool content_type_is(std::string_view header, std::string_view expected);

}  // namespace nullspace::api
