// Operator logs of an embedded engine: what the engine says about itself on
// stderr (not a build's log, which is log.hpp). The engine logs through spdlog
// loggers named store, hub, build, registry, engine, http, machine, pool,
// runtime and daemon; lines about a build carry its `build` and `tenant`.
//
// By default they write `key=value` lines to stderr at level info. An embedder
// that registers an spdlog logger of one of those names before opening the
// engine gets that subsystem's lines on its own logger (its sinks, pattern and
// level); the engine never changes spdlog's default logger or global settings.
#pragma once

#include <string_view>

#include "nullspace/error.hpp"

namespace nullspace {

// Levels per logger: `info`, `debug`, `info,http=debug,store=warn`. A bare
// level applies to every logger the spec does not name (default: info);
// levels are trace, debug, info, warn, error, critical and off. An unknown
// logger or level is invalid_argument naming it, and nothing changes.
result<void> set_log_levels(std::string_view spec);

}  // namespace nullspace
