#include "tools/nullspace/flag_values.hpp"

#include <cmath>

#include "tools/nullspace/cli_error.hpp"

namespace nullspace::cli {
namespace {

// Longer than anything a server accepts, short enough never to overflow.
constexpr double max_duration_ms = 10.0 * 365 * 24 * 3600 * 1000;

bool digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::pair<std::string, std::string> key_value(std::string_view kv, std::string_view option) {
  auto eq = kv.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw usage_error(std::string(option) + " takes KEY=VALUE, got '" + std::string(kv) + "'");
  return {std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1))};
}

int64_t duration_ms(std::string_view text, std::string_view option) {
  auto bad = [&](const std::string& why) {
    return usage_error(std::string(option) +
                       " takes a duration like 1500 (ms), 90s, 5m or 1h30m; '" + std::string(text) +
                       "' " + why);
  };
  if (text.empty()) throw bad("is empty");
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (digit(text[i]) || text[i] == '.')) ++i;
    auto number = text.substr(start, i - start);
    if (number.empty() || number.front() == '.' || number.back() == '.' ||
        number.find('.') != number.rfind('.'))
      throw bad("is not a number with a unit");
    double value = std::stod(std::string(number));
    size_t unit_start = i;
    while (i < text.size() && !digit(text[i]) && text[i] != '.') ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit.empty() && unit_start == text.size() && start == 0)
      scale = 1;  // a plain number: milliseconds
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60e3;
    else if (unit == "h")
      scale = 3600e3;
    else
      throw bad(unit.empty() ? "needs a unit after each number" : "has an unknown unit");
    total += value * scale;
    if (total > max_duration_ms) throw bad("is too long");
  }
  auto ms = static_cast<int64_t>(std::llround(total));
  if (ms <= 0) throw bad("is not positive");
  return ms;
}

}  // namespace nullspace::cli
