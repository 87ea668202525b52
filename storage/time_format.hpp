// Wall-clock time as the API shows it: RFC 3339, UTC, milliseconds.
#pragma once

#include <cstdint>
#include <string>

namespace nullspace::storage {

int64_t now_ms();                    // Unix epoch milliseconds
std::string rfc3339_ms(int64_t ms);  // "2026-11-24T03:43:23.123Z"

}  // namespace nullspace::storage
