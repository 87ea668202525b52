// Helpers for reading our own stored JSON with simdjson's DOM. Stored records
// are written by us, so a missing field falls back to its default rather than
// failing the whole record (older records stay readable when fields are added).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::storage::jr {

inline std::string str(simdjson::dom::object o, std::string_view k, std::string dflt = {}) {
  std::string_view v;
  if (o[k].get(v) == simdjson::SUCCESS) return std::string(v);
  return dflt;
}

inline int64_t i64(simdjson::dom::object o, std::string_view k, int64_t dflt = 0) {
  int64_t v;
  if (o[k].get(v) == simdjson::SUCCESS) return v;
  return dflt;
}

inline uint64_t u64(simdjson::dom::object o, std::string_view k, uint64_t dflt = 0) {
  uint64_t v;
  if (o[k].get(v) == simdjson::SUCCESS) return v;
  return dflt;
}

inline bool boolean(simdjson::dom::object o, std::string_view k, bool dflt = false) {
  bool v;
  if (o[k].get(v) == simdjson::SUCCESS) return v;
  return dflt;
}

inline std::vector<std::string> strings(simdjson::dom::object o, std::string_view k) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (o[k].get(a) != simdjson::SUCCESS) return out;
  for (auto el : a) {
    std::string_view v;
    if (el.get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

// Re-encodes a sub-value (object/array) as compact JSON text.
inline std::string raw(simdjson::dom::object o, std::string_view k) {
  simdjson::dom::element el;
  if (o[k].get(el) != simdjson::SUCCESS) return {};
  return simdjson::minify(el);
}

}  // namespace nullspace::storage::jr
