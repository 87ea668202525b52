#include "storage/common/log_levels.hpp"

#include "nullspace/logging.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

namespace nullspace::logging {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<spdlog::level::level_enum> level_named(std::string_view name) {
  auto n = lower(name);
  if (n == "trace") return spdlog::level::trace;
  if (n == "debug") return spdlog::level::debug;
  if (n == "info") return spdlog::level::info;
  if (n == "warn" || n == "warning") return spdlog::level::warn;
  if (n == "error") return spdlog::level::err;
  if (n == "critical") return spdlog::level::critical;
  if (n == "off") return spdlog::level::off;
  return std::nullopt;
}

std::string known_loggers() {
  std::string out;
  for (auto s : all_subsystems()) {
    if (!out.empty()) out += ", ";
    out += name_of(s);
  }
  return out;
}

constexpr std::string_view known_levels = "trace, debug, info, warn, error, critical, off";

}  // namespace

spdlog::level::level_enum level_spec::level_of(subsystem s) const {
  auto level = fallback;
  for (auto& [named_subsystem, named_level] : named)
    if (named_subsystem == s) level = named_level;
  return level;
}

result<level_spec> parse_level_spec(std::string_view spec) {
  level_spec out;
  std::vector<std::string> problems;
  bool unknown_logger = false, unknown_level = false;
  bool blank = trim(spec).empty();
  if (blank) problems.push_back("it is empty");
  for (size_t start = 0; !blank && start <= spec.size();) {
    auto comma = std::min(spec.find(',', start), spec.size());
    auto entry = trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) {
      problems.push_back("an empty entry (between commas)");
      continue;
    }
    auto eq = entry.find('=');
    std::optional<subsystem> named;
    if (eq != std::string_view::npos) {
      auto name = trim(entry.substr(0, eq));
      named = subsystem_named(lower(name));
      if (!named) {
        problems.push_back("unknown logger \"" + std::string(name) + "\"");
        unknown_logger = true;
      }
    }
    auto level_text = trim(eq == std::string_view::npos ? entry : entry.substr(eq + 1));
    auto level = level_named(level_text);
    if (!level) {
      problems.push_back("unknown level \"" + std::string(level_text) + "\"");
      unknown_level = true;
    } else if (eq == std::string_view::npos) {
      out.fallback = *level;
    } else if (named) {
      out.named.emplace_back(*named, *level);
    }
  }
  if (problems.empty()) return out;
  std::string message = "log level spec \"" + std::string(spec) + "\": ";
  for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
  message += ".";
  if (unknown_logger) message += " Loggers: " + known_loggers() + ".";
  if (unknown_level) message += " Levels: " + std::string(known_levels) + ".";
  message += " A spec is a level and/or name=level entries, e.g. info,http=debug,store=warn";
  return make_error(errc::invalid_argument, message);
}

void apply_levels(const level_spec& spec) {
  for (auto s : all_subsystems()) logger_of(s)->set_level(spec.level_of(s));
}

result<void> set_levels(std::string_view spec) {
  auto parsed = parse_level_spec(spec);
  if (!parsed) return parsed.error();
  apply_levels(*parsed);
  return {};
}

}  // namespace nullspace::logging

namespace nullspace {

result<void> set_log_levels(std::string_view spec) {
  return logging::set_levels(spec);
}

}  // namespace nullspace
