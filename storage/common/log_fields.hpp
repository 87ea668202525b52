// The structured part of an operator log line: a message and key/value fields,
// encoded as `msg="…" key=value key="quoted value" …`. Every nullspace logger
// writes this text as its spdlog payload, so a line reads well on any sink (an
// embedder's own pattern included), and the JSON formatter decodes it back
// into separate keys.
//
// Encoding (exactly what decode_fields accepts, so encoding then decoding
// gives the fields back):
//   - `msg` comes first and is always quoted;
//   - a key is [A-Za-z0-9_.-]+;
//   - a number or a boolean is written bare (42, -1, 0.5, true);
//   - a string is written bare when it is not empty, has no space, `"`, `=`,
//     `\` or control byte, and does not read as a number or a boolean;
//     otherwise quoted, with `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` (other
//     control bytes) escaped. Other bytes, invalid UTF-8 included, stay as
//     they are (the JSON formatter replaces invalid UTF-8).
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/ids.hpp"

namespace nullspace::logging {

// One key/value of a log line, made at the call site for the duration of the
// call: it refers to its key and string value without copying them.
class field {
 public:
  enum class kind : uint8_t { string, signed_number, unsigned_number, real, boolean };

  field(std::string_view key, std::string_view value)
      : key_(key), kind_(kind::string), text_(value) {}
  field(std::string_view key, const std::string& value) : field(key, std::string_view(value)) {}
  field(std::string_view key, const char* value) : field(key, std::string_view(value)) {}
  template <class Tag>
  field(std::string_view key, const basic_id<Tag>& id) : field(key, std::string_view(id.str())) {}
  field(std::string_view key, bool value) : key_(key), kind_(kind::boolean), unsigned_(value) {}
  template <std::signed_integral T>
  field(std::string_view key, T value)
      : key_(key), kind_(kind::signed_number), signed_(static_cast<int64_t>(value)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) field(std::string_view key, T value)
      : key_(key), kind_(kind::unsigned_number), unsigned_(static_cast<uint64_t>(value)) {}
  field(std::string_view key, double value) : key_(key), kind_(kind::real), real_(value) {}

  std::string_view key() const { return key_; }
  // Appends ` key=value` (with its leading space) in the encoding above.
  void append_to(std::string& out) const;

 private:
  std::string_view key_;
  kind kind_;
  std::string_view text_;
  int64_t signed_ = 0;
  uint64_t unsigned_ = 0;
  double real_ = 0;
};

// `msg="<message>"` followed by each field.
std::string encode_fields(std::string_view message, std::initializer_list<field> fields);

// Appends `value` as a string in the encoding above (bare or quoted).
void append_string_value(std::string& out, std::string_view value);

// A decoded line: the message and the fields in order, strings unescaped.
struct decoded_fields {
  struct value {
    enum class kind : uint8_t { string, number, boolean } type = kind::string;
    std::string text;  // the string itself, or a JSON number, or true/false
  };
  std::string message;
  std::vector<std::pair<std::string, value>> fields;
};

// The message and fields of an encoded payload; nothing if `payload` is not
// in the encoding above, names a key twice, or has a field named like one of
// the line's own keys (msg, ts, level, logger).
std::optional<decoded_fields> decode_fields(std::string_view payload);

// True if `s` is a number as JSON writes one.
bool is_json_number(std::string_view s);

}  // namespace nullspace::logging
