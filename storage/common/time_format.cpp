#include "storage/common/time_format.hpp"

#include "storage/common/json_writer.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace nullspace::storage {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string rfc3339_ms(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];  // sized for any int year, which silences -Wformat-truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

void write_time(json::writer& w, std::string_view key, int64_t ms) {
  if (ms > 0)
    w.field(key, rfc3339_ms(ms));
  else
    w.field_null(key);
}

}  // namespace nullspace::storage
