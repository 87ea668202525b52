// Operator logs: one named spdlog logger per subsystem, all writing to one
// shared stderr sink. (A build's own log, the durable one users read, is
// something else: storage/log_entry.hpp.)
//
//   logging::build.info("build failed", {{"build", rec.id}, {"tenant", rec.tenant},
//                                        {"code", code}});
//   → ts=… level=info logger=build msg="build failed" build=tb_… tenant=acme code=step_failed
//
// A line about a build carries `build` and `tenant`; one about a machine
// `machine` and `tenant`. Fields are structured (log_fields.hpp), so
// `--log-format json` writes them as separate keys (log_format.hpp).
//
// The loggers are made once, on first use, and registered with spdlog under
// their names. A name an embedder registered first is used as it is (its
// sinks, its level), so an embedder decides where the engine's lines go; the
// engine never touches spdlog's default logger or global settings.
#pragma once

#include <spdlog/logger.h>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>

#include "storage/common/log_fields.hpp"
#include "storage/common/log_format.hpp"

namespace nullspace::logging {

enum class subsystem : uint8_t {
  store,     // RocksDB
  hub,       // the log hub
  build,     // build manager and build actors
  registry,  // template registry and retention
  engine,    // the engine facade and the orchestrator
  http,      // the HTTP API
  machine,   // machines
  pool,      // warm pools
  runtime,   // processes, sandboxes, images, artifacts
  daemon,    // nullspaced itself
};
inline constexpr size_t subsystem_count = 10;

// Every subsystem, in declaration order.
const std::array<subsystem, subsystem_count>& all_subsystems();
std::string_view name_of(subsystem s);
std::optional<subsystem> subsystem_named(std::string_view name);

// The subsystem's logger (thread-safe; made on first use).
const std::shared_ptr<spdlog::logger>& logger_of(subsystem s);

// The loggers made here write to one shared sink, a fan-out that holds the
// stderr sink; these add and remove another sink there (tests capture lines).
void add_sink(std::shared_ptr<spdlog::sinks::sink> sink);
void remove_sink(const std::shared_ptr<spdlog::sinks::sink>& sink);

// How the shared sink writes lines to stderr (text by default).
void set_format(log_format format);

// A subsystem's logger at the call site: a message and its fields.
class channel {
 public:
  constexpr explicit channel(subsystem s) : subsystem_(s) {}

  bool enabled(spdlog::level::level_enum level) const;
  void log(spdlog::level::level_enum level, std::string_view message,
           std::initializer_list<field> fields = {}) const;

  void debug(std::string_view message, std::initializer_list<field> fields = {}) const {
    log(spdlog::level::debug, message, fields);
  }
  void info(std::string_view message, std::initializer_list<field> fields = {}) const {
    log(spdlog::level::info, message, fields);
  }
  void warn(std::string_view message, std::initializer_list<field> fields = {}) const {
    log(spdlog::level::warn, message, fields);
  }
  void error(std::string_view message, std::initializer_list<field> fields = {}) const {
    log(spdlog::level::err, message, fields);
  }

 private:
  subsystem subsystem_;
};

inline constexpr channel store{subsystem::store};
inline constexpr channel hub{subsystem::hub};
inline constexpr channel build{subsystem::build};
inline constexpr channel registry{subsystem::registry};
inline constexpr channel engine{subsystem::engine};
inline constexpr channel http{subsystem::http};
inline constexpr channel machine{subsystem::machine};
inline constexpr channel pool{subsystem::pool};
inline constexpr channel runtime{subsystem::runtime};
inline constexpr channel daemon{subsystem::daemon};

}  // namespace nullspace::logging
