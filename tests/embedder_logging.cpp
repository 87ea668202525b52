// An embedder that sets spdlog up itself before it opens the engine: its own
// logger named "build" and its own default logger. Run by the [logging] suite:
// the engine's build lines must reach that logger (printed here on stdout),
// spdlog's default logger must be left as it was, and the other subsystems
// keep writing to stderr. Uses only the public API (libnullspace) and spdlog.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "nullspace/engine.hpp"
#include "nullspace/logging.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: embedder-logging DATA_DIR\n");
    return 2;
  }
  std::ostringstream received;
  auto build_logger = std::make_shared<spdlog::logger>(
      "build", std::make_shared<spdlog::sinks::ostream_sink_mt>(received));
  build_logger->set_pattern("%n|%l|%v");
  spdlog::register_logger(build_logger);
  auto default_logger = std::make_shared<spdlog::logger>(
      "embedder", std::make_shared<spdlog::sinks::ostream_sink_mt>(received));
  default_logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(default_logger);

  nullspace::engine_options o;
  o.data_dir = argv[1];
  auto eng = nullspace::engine::open(o);
  if (!eng) {
    std::fprintf(stderr, "open failed: %s\n", eng.error().message.c_str());
    return 1;
  }
  auto tenant = nullspace::parse_tenant_id("acme");
  auto b = eng.value()->submit(
      R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},)"
      R"("steps":[{"type":"run","cmd":"exit 3"}]}})",
      tenant.value());
  if (!b) {
    std::fprintf(stderr, "submit failed: %s\n", b.error().message.c_str());
    return 1;
  }
  auto done = eng.value()->wait_until_terminal(b->id(), std::chrono::minutes(2), tenant.value());
  if (!done) {
    std::fprintf(stderr, "wait failed: %s\n", done.error().message.c_str());
    return 1;
  }
  eng.value().reset();
  // The level set through the public call applies to the embedder's logger too.
  auto set = nullspace::set_log_levels("build=warn");
  bool filtered = set.ok() && build_logger->level() == spdlog::level::warn;
  std::cout << received.str();
  std::cout << "build id " << b->record.id << "\n";
  if (spdlog::default_logger() == default_logger && default_logger->level() == spdlog::level::warn)
    std::cout << "default logger untouched\n";
  if (spdlog::get("build") == build_logger) std::cout << "build logger still the embedder's\n";
  if (filtered) std::cout << "set_log_levels reached it\n";
  return 0;
}
