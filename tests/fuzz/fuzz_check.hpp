// What every fuzz target shares: the input as text, and an invariant check
// that aborts (so libFuzzer keeps the input as a crash) naming what broke.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace nullspace::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", file, line, what);
  std::abort();
}

}  // namespace nullspace::fuzz

// Unlike assert(), also checked in release builds.
#define FUZZ_CHECK(cond) ((cond) ? void(0) : ::nullspace::fuzz::broken(#cond, __FILE__, __LINE__))
