// nullspace: the command-line client of nullspaced (template builds, their
// logs, the template registry, machines started from templates, warm pools of
// ready machines) and of this machine's base-image catalog.
//
//   nullspace template build|wait|logs|status|cancel|retry|promote …
//   nullspace template get|list|builds|tags|alias|reserve|rename|visibility|delete …
//   nullspace machine create|exec|cp|logs|ls|get|pause|resume|timeout|kill …
//   nullspace pool create|get|list|wait|update|enable|disable|drain|delete|logs …
//   nullspace image list|bootstrap …
//
// docs/CLI.md describes every command; exit codes are in cli_error.hpp.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/terminal.hpp"

using namespace nullspace::cli;

int main(int argc, char** argv) {
  auto& term = terminal::get();
  app_context ctx;
  ctx.args.assign(argv + 1, argv + argc);
  CLI::App app{
      "nullspace: build sandbox templates on a nullspaced server, manage them, and run machines "
      "from them"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommands
  // NULLSPACE_API_URL is the name the SDKs read; NULLSPACE_SERVER, the older
  // one, still works when NULLSPACE_API_URL is not set.
  if (const char* legacy = std::getenv("NULLSPACE_SERVER"); legacy && *legacy)
    ctx.server.url = legacy;
  app.add_option("--server", ctx.server.url, "nullspaced's URL (or NULLSPACE_SERVER)")
      ->envname("NULLSPACE_API_URL")
      ->type_name("URL")
      ->capture_default_str();
  app.add_option("--api-key", ctx.server.api_key, "API key, sent as Authorization: Bearer")
      ->envname("NULLSPACE_API_KEY")
      ->type_name("KEY");

  auto* tmpl = app.add_subcommand("template", "Build templates and manage their names and tags");
  tmpl->require_subcommand(1);
  add_build_commands(*tmpl, ctx);
  add_registry_commands(*tmpl, ctx);
  tmpl->footer(R"(Global options (--server URL, --api-key KEY) may be given anywhere.
Run `nullspace template COMMAND --help` for a command's flags; docs/CLI.md has them all.)");
  auto* machine =
      app.add_subcommand("machine", "Start machines from templates, run commands, copy files");
  machine->require_subcommand(1);
  add_machine_commands(*machine, ctx);
  add_machine_exec_command(*machine, ctx);
  add_machine_cp_command(*machine, ctx);
  add_machine_logs_command(*machine, ctx);
  machine->footer(R"(Global options (--server URL, --api-key KEY) may be given anywhere.
Run `nullspace machine COMMAND --help` for a command's flags; docs/CLI.md has them all.)");
  auto* pool = app.add_subcommand("pool", "Keep ready machines of a template (warm pools)");
  pool->require_subcommand(1);
  add_pool_commands(*pool, ctx);
  pool->footer(R"(Global options (--server URL, --api-key KEY) may be given anywhere.
Run `nullspace pool COMMAND --help` for a command's flags; docs/CLI.md has them all.)");
  auto* cache = app.add_subcommand("cache", "Dockerfile cache mounts (RUN --mount=type=cache)");
  cache->require_subcommand(1);
  add_cache_commands(*cache, ctx);
  add_image_commands(app, ctx);
  app.footer(R"(Examples:
  nullspace template build --from-python-image 3.11 --name my-template --tag stable
  nullspace template build --from-dockerfile ./Dockerfile --name docker-template
  nullspace template logs tb_... --follow
  nullspace --server http://build-host:7070 template list
  id=$(nullspace machine create --template my-template)
  nullspace machine exec $id -- python3 -c 'print(1 + 1)'
  nullspace machine cp ./data.csv $id:/tmp/data.csv
  nullspace machine kill $id
  nullspace pool create --template my-template --name my-pool --min-ready 2
  nullspace machine create --pool my-pool

Exit codes: 0 ready / done, 1 build error, cancelled or refused by the server,
2 usage error, 3 server unreachable or authentication failed.
`machine exec` exits with the command's own exit code.)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    term.error(e.what());
    term.err_line("Run with --help for more information.");
    return exit_usage;
  }
  if (!ctx.action) return exit_usage;
  try {
    return ctx.action();
  } catch (const cli_error& e) {
    term.error(e.what());
    return e.code();
  } catch (const std::exception& e) {
    term.error(e.what());
    return exit_failed;
  }
}
