// Pieces of RocksDB keys: big-endian integers, so that byte order is numeric
// order (offsets, creation times, expiry times sort as numbers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nullspace::storage {

inline void append_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// The first 8 bytes of `s` (the caller checks there are 8).
inline uint64_t read_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace nullspace::storage
