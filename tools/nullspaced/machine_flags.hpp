// nullspaced's machine flags (--max-machines, --machine-timeout-ms, …): each
// fills one field of engine_options::machines, with a NULLSPACE_* variable.
#pragma once

#include <CLI/CLI.hpp>

#include "nullspace/options.hpp"

namespace nullspace::daemon {

// Milliseconds are read into `ms` and copied into `opts` by apply().
struct machine_flags {
  uint64_t default_timeout_ms = 0, max_timeout_ms = 0, stop_grace_ms = 0;
  double retention_hours = 0;

  // Registers the flags; defaults come from `opts` (engine_options' own).
  void add_to(CLI::App& app, machine_options& opts);
  // Copies the parsed durations into `opts` and makes the init path absolute.
  void apply(machine_options& opts) const;
};

}  // namespace nullspace::daemon
