// A small streaming JSON writer. simdjson only reads JSON; everything nullspace
// emits (stored records, log entries, API bodies) goes through this one writer so
// escaping rules live in a single place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::json {

// Appends `s` to `out` as a JSON string literal (with quotes). Control characters
// are escaped; bytes that are not valid UTF-8 are replaced by U+FFFD so that the
// output is always valid JSON whatever a child process printed.
void append_quoted(std::string& out, std::string_view s);

// True if `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

// Writer that tracks commas. Usage:
//   writer w; w.begin_object(); w.key("a"); w.value(1); w.end_object();
//   std::string out = std::move(w).str();
class writer {
 public:
  writer() = default;
  explicit writer(std::string reuse) : out_(std::move(reuse)) { out_.clear(); }

  writer& begin_object();
  writer& end_object();
  writer& begin_array();
  writer& end_array();
  writer& key(std::string_view k);

  writer& value(std::string_view s);
  writer& value(const char* s) { return value(std::string_view{s}); }
  writer& value(const std::string& s) { return value(std::string_view{s}); }
  writer& value(bool b);
  writer& value(int64_t n);
  writer& value(uint64_t n);
  writer& value(int n) { return value(static_cast<int64_t>(n)); }
  writer& value(unsigned n) { return value(static_cast<uint64_t>(n)); }
  writer& value(double d);
  writer& null();
  // Inserts already-encoded JSON (e.g. a stored record) as a value.
  writer& raw(std::string_view encoded);

  // key + value in one call.
  template <class T>
  writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  writer& field_raw(std::string_view k, std::string_view encoded) {
    key(k);
    return raw(encoded);
  }
  writer& field_null(std::string_view k) {
    key(k);
    return null();
  }

  const std::string& str() const& { return out_; }
  std::string str() && { return std::move(out_); }

 private:
  void before_value();
  void open();
  void close();
  std::string out_;
  // One flag per open container: true once it holds an element. The first
  // levels live in one word, so encoding a value allocates nothing but its
  // text; deeper levels spill into `deeper_`.
  static constexpr uint32_t inline_levels = 64;
  uint64_t has_element_bits_ = 0;
  uint32_t depth_ = 0;
  std::vector<bool> deeper_;
  bool after_key_ = false;
};

}  // namespace nullspace::json
