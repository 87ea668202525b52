#include "storage/common/time_format.hpp"

#include "storage/common/json_writer.hpp"

#include <chrono>
#include <cstdio>

namespace nullspace::storage {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// `n` as exactly `width` decimal digits (n < 10^width).
char* put_digits(char* p, unsigned n, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  return p + width;
}

}  // namespace

// Formatted by hand: every log entry carries one, and snprintf was a visible
// part of encoding an entry.
std::string rfc3339_ms(int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{ms}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  const int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999) {  // outside what four digits hold: the general path
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()),
                  static_cast<int>(hms.subseconds().count()));
    return buf;
  }
  char buf[24];  // YYYY-MM-DDTHH:MM:SS.mmmZ
  char* p = put_digits(buf, static_cast<unsigned>(y), 4);
  *p++ = '-';
  p = put_digits(p, static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  p = put_digits(p, static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  p = put_digits(p, static_cast<unsigned>(hms.hours().count()), 2);
  *p++ = ':';
  p = put_digits(p, static_cast<unsigned>(hms.minutes().count()), 2);
  *p++ = ':';
  p = put_digits(p, static_cast<unsigned>(hms.seconds().count()), 2);
  *p++ = '.';
  p = put_digits(p, static_cast<unsigned>(hms.subseconds().count()), 3);
  *p++ = 'Z';
  return std::string(buf, static_cast<size_t>(p - buf));
}

void write_time(json::writer& w, std::string_view key, int64_t ms) {
  if (ms > 0)
    w.field(key, rfc3339_ms(ms));
  else
    w.field_null(key);
}

}  // namespace nullspace::storage
