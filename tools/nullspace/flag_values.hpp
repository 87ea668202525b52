// Flag values CLI11 cannot check by itself: KEY=VALUE pairs and durations.
// A bad value is a usage error (exit 2) naming the flag.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace nullspace::cli {

// "KEY=VALUE" split at the first '='; the key must not be empty.
std::pair<std::string, std::string> key_value(std::string_view kv, std::string_view option);

// A positive duration in milliseconds: a plain number is milliseconds
// ("1500"); otherwise numbers with units ms, s, m or h, one or several
// ("90s", "2.5m", "1h30m").
int64_t duration_ms(std::string_view text, std::string_view option);

}  // namespace nullspace::cli
