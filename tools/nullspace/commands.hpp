// The command groups of the nullspace CLI. Each add_* function registers its
// subcommands on `parent`; a parsed subcommand stores what to do in
// `ctx.action`, which main() runs after parsing (returning the exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "tools/nullspace/api_client.hpp"

namespace nullspace::cli {

struct app_context {
  server_options server;          // global --server / --api-key
  std::function<int()> action;    // set by the parsed subcommand
  std::vector<std::string> args;  // the command line as given, without the program name
};

// nullspace image bootstrap|list: this machine's base-image catalog.
void add_image_commands(CLI::App& app, app_context& ctx);
// nullspace template build|wait|logs|cancel|retry|promote|status.
void add_build_commands(CLI::App& tmpl, app_context& ctx);
// nullspace template get|list|builds|tags|alias|reserve|rename|visibility|delete.
void add_registry_commands(CLI::App& tmpl, app_context& ctx);
// nullspace machine create|ls|get|pause|resume|timeout|kill.
void add_machine_commands(CLI::App& machine, app_context& ctx);
// nullspace machine exec ID -- CMD ARGS….
void add_machine_exec_command(CLI::App& machine, app_context& ctx);
// nullspace machine cp LOCAL ID:PATH | ID:PATH LOCAL.
void add_machine_cp_command(CLI::App& machine, app_context& ctx);
// nullspace machine logs ID.
void add_machine_logs_command(CLI::App& machine, app_context& ctx);

// nullspace pool create|get|list|wait|update|enable|disable|drain|delete|logs.
void add_pool_commands(CLI::App& pool, app_context& ctx);

// nullspace cache prune: the caller's Dockerfile cache mounts.
void add_cache_commands(CLI::App& cache, app_context& ctx);

// Adds `--json` to a command.
CLI::Option* add_json_flag(CLI::App& cmd, bool& json);

}  // namespace nullspace::cli
