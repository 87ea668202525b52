// Levels per logger from one spec: `info`, `debug`, `info,http=debug,store=warn`.
// A bare level sets every logger the spec does not name (default: info);
// `name=level` sets one. Levels: trace, debug, info, warn (or warning), error,
// critical, off; upper case is accepted. A spec names the whole state: applying
// `http=debug` sets http to debug and every other logger back to info.
#pragma once

#include <spdlog/common.h>

#include <string_view>
#include <utility>
#include <vector>

#include "nullspace/error.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::logging {

struct level_spec {
  spdlog::level::level_enum fallback = spdlog::level::info;
  std::vector<std::pair<subsystem, spdlog::level::level_enum>> named;  // later entries win

  spdlog::level::level_enum level_of(subsystem s) const;
};

// The spec, or invalid_argument naming every unknown logger and level (and
// any entry that is neither `level` nor `name=level`).
result<level_spec> parse_level_spec(std::string_view spec);

// Sets every subsystem's logger to its level in `spec`.
void apply_levels(const level_spec& spec);

// parse_level_spec then apply_levels; nothing changes if the spec is invalid.
result<void> set_levels(std::string_view spec);

}  // namespace nullspace::logging
