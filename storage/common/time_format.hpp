// Wall-clock time as the API shows it: RFC 3339, UTC, milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nullspace::json {
class writer;
}

namespace nullspace::storage {

int64_t now_ms();                    // Unix epoch milliseconds
std::string rfc3339_ms(int64_t ms);  // "2026-11-24T03:43:23.123Z"

// `key: "<rfc3339>"`, or `key: null` for 0 (a time not reached yet).
void write_time(json::writer& w, std::string_view key, int64_t ms);

}  // namespace nullspace::storage
