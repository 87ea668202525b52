// nullspace machine logs ID [--follow]: a machine's log (start output, ready
// checks, commands run, state changes) from GET /v1/machines/{id}/logs as an
// SSE stream; --follow keeps it open until the machine ends.
#include <memory>

#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/log_follow.hpp"
#include "tools/nullspace/machine_paths.hpp"
#include "tools/nullspace/machine_render.hpp"

namespace nullspace::cli {
namespace {

struct logs_cmd {
  std::string id;
  int64_t offset = 0;
  bool follow = false, json = false;
};

int run_logs(const logs_cmd& c, const server_options& server) {
  api_client api(server);
  followed_log log{"machine " + c.id, machine_path(c.id, "/logs"), "machine", machine_summary,
                   machine_exit_code};
  return print_log(api, log, {static_cast<uint64_t>(c.offset), c.follow, c.json});
}

}  // namespace

void add_machine_logs_command(CLI::App& machine, app_context& ctx) {
  auto c = std::make_shared<logs_cmd>();
  auto* l = machine.add_subcommand(
      "logs", "Print a machine's log; --follow keeps streaming until the machine ends");
  l->add_option("ID", c->id, "The machine (m_…)")->required();
  l->add_flag("-f,--follow", c->follow, "Stream new entries until the machine stops or fails");
  l->add_option("--offset", c->offset, "First log offset to print")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_json_flag(*l, c->json);
  l->footer(R"(With --json every entry is one JSON line (it carries its offset); with --follow
{"machine": …} comes last, once the machine has ended.
With --follow the exit code is 0 when the machine stopped, 1 when it failed.
Examples:
  nullspace machine logs m_...
  nullspace machine logs m_... --follow)");
  l->callback([&ctx, c] { ctx.action = [&ctx, c] { return run_logs(*c, ctx.server); }; });
}

}  // namespace nullspace::cli
