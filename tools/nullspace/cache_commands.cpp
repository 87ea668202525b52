// nullspace cache prune: the caller's Dockerfile cache mounts
// (RUN --mount=type=cache), POST /v1/cache-mounts:prune.
#include <memory>

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/json_util.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {

void add_cache_commands(CLI::App& cache, app_context& ctx) {
  auto json = std::make_shared<bool>(false);
  auto* prune = cache.add_subcommand(
      "prune", "Delete your Dockerfile cache mounts (RUN --mount=type=cache) no build is using");
  add_json_flag(*prune, *json);
  prune->callback([&ctx, json] {
    ctx.action = [&ctx, json] {
      api_client api(ctx.server);
      auto body = api.post_waiting("/v1/cache-mounts:prune", "");
      auto& term = terminal::get();
      if (*json) {
        term.out_line(body);
        return exit_ok;
      }
      js::document d(body);
      auto removed = js::num(d.root(), "removed"), in_use = js::num(d.root(), "in_use");
      auto freed = js::num(d.root(), "bytes_freed");
      term.out_line(
          "removed " + std::to_string(removed) + " cache mount" + (removed == 1 ? "" : "s") +
          ", freed " + std::to_string(freed) + " bytes" +
          (in_use ? "; " + std::to_string(in_use) + " in use by running builds kept" : ""));
      return exit_ok;
    };
  });
}

}  // namespace nullspace::cli
