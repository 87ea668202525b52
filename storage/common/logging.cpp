#include "storage/common/logging.hpp"

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace nullspace::logging {
namespace {

constexpr std::array<std::string_view, subsystem_count> names = {
    "store", "hub", "build", "registry", "engine", "http", "machine", "pool", "runtime", "daemon",
};

// The embedder's logger of that name if there is one, else ours on `sink`.
std::shared_ptr<spdlog::logger> adopt_or_make(std::string_view name,
                                              const std::shared_ptr<spdlog::sinks::sink>& sink) {
  std::string n(name);
  if (auto theirs = spdlog::get(n)) return theirs;
  auto ours = std::make_shared<spdlog::logger>(n, sink);
  try {
    spdlog::register_logger(ours);
  } catch (const spdlog::spdlog_ex&) {
    // Registered by someone else in the meantime: theirs wins.
    if (auto theirs = spdlog::get(n)) return theirs;
  }
  return ours;
}

struct loggers {
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sink =
      std::make_shared<spdlog::sinks::dist_sink_mt>();
  std::shared_ptr<spdlog::sinks::sink> to_stderr =
      std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::array<std::shared_ptr<spdlog::logger>, subsystem_count> by_subsystem;

  loggers() {
    to_stderr->set_formatter(make_formatter(log_format::text));
    sink->add_sink(to_stderr);
    for (size_t i = 0; i < subsystem_count; ++i) by_subsystem[i] = adopt_or_make(names[i], sink);
  }
};

loggers& all() {
  static loggers instance;  // made once, thread-safe
  return instance;
}

}  // namespace

const std::array<subsystem, subsystem_count>& all_subsystems() {
  static constexpr std::array<subsystem, subsystem_count> every = {
      subsystem::store,   subsystem::hub,    subsystem::build,   subsystem::registry,
      subsystem::engine,  subsystem::http,   subsystem::machine, subsystem::pool,
      subsystem::runtime, subsystem::daemon,
  };
  return every;
}

std::string_view name_of(subsystem s) {
  return names[static_cast<size_t>(s)];
}

std::optional<subsystem> subsystem_named(std::string_view name) {
  for (auto s : all_subsystems())
    if (name_of(s) == name) return s;
  return std::nullopt;
}

const std::shared_ptr<spdlog::logger>& logger_of(subsystem s) {
  return all().by_subsystem[static_cast<size_t>(s)];
}

void add_sink(std::shared_ptr<spdlog::sinks::sink> sink) {
  all().sink->add_sink(std::move(sink));
}

void remove_sink(const std::shared_ptr<spdlog::sinks::sink>& sink) {
  all().sink->remove_sink(sink);
}

void set_format(log_format format) {
  all().to_stderr->set_formatter(make_formatter(format));
}

bool channel::enabled(spdlog::level::level_enum level) const {
  return logger_of(subsystem_)->should_log(level);
}

void channel::log(spdlog::level::level_enum level, std::string_view message,
                  std::initializer_list<field> fields) const {
  auto& l = logger_of(subsystem_);
  if (!l->should_log(level)) return;
  auto payload = encode_fields(message, fields);
  l->log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

}  // namespace nullspace::logging
