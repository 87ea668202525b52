// Reading the server's JSON answers (simdjson DOM) and showing JSON to people.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::cli::js {

using element = simdjson::dom::element;

// A parsed document that owns its parser (elements point into it).
class document {
 public:
  // Throws cli_error (exit 1) if `text` is not JSON: the server answered oddly.
  explicit document(std::string_view text);
  element root() const { return root_; }
  element operator[](std::string_view key) const;  // null if missing

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
  element root_;
};

// Field access that never throws: a missing or mistyped field gives the default.
std::optional<element> get(element e, std::string_view key);
std::string str(element e, std::string_view key, std::string dflt = {});
int64_t num(element e, std::string_view key, int64_t dflt = 0);
bool boolean(element e, std::string_view key, bool dflt = false);
bool is_null_or_missing(element e, std::string_view key);
std::vector<std::string> strings(element e, std::string_view key);
std::vector<element> items(element e, std::string_view key);  // array elements

std::string compact(element e);
// Indented with two spaces, keys in the server's order.
std::string pretty(element e);
std::string pretty(std::string_view json_text);

}  // namespace nullspace::cli::js
