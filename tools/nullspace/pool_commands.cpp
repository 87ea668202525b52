// nullspace pool create|get|list|wait|update|enable|disable|drain|delete|logs:
// warm pools (ready machines kept for a template) over /v1/warm-pools.
// `machine create --pool NAME` checks a machine out of one.
#include <memory>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/flag_values.hpp"
#include "tools/nullspace/log_follow.hpp"
#include "tools/nullspace/paged_list.hpp"
#include "tools/nullspace/pool_render.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

constexpr int64_t max_wait_ms = 600'000;  // the server's bound on one ready wait

// "/v1/warm-pools/ID-or-NAME" followed by `rest`.
std::string pool_path(std::string_view pool, std::string_view rest = "") {
  return "/v1/warm-pools/" + encode_component(pool) + std::string(rest);
}

const char* pool_arg_help = "The pool: its name or its id (wp_…)";

// Prints {"warm_pool": P}: the JSON as is, or P's summary line.
int print_pool(const std::string& body, bool json) {
  auto& term = terminal::get();
  if (json) {
    term.out_line(body);
    return exit_ok;
  }
  js::document d(body);
  term.out_line(pool_summary(d["warm_pool"]));
  return exit_ok;
}

// The flags create and update share (the pool's targets and resources).
struct pool_flags {
  int64_t min_ready = 0, max_ready = 0, cpu = 0, memory_mb = 0;
  std::string policy, max_idle;
  CLI::Option *min_opt = nullptr, *max_opt = nullptr, *cpu_opt = nullptr, *memory_opt = nullptr;

  void add_to(CLI::App* cmd, bool update) {
    min_opt =
        cmd->add_option("--min-ready", min_ready,
                        update ? "Ready machines to keep" : "Ready machines to keep (default 1)")
            ->check(CLI::NonNegativeNumber)
            ->type_name("N");
    max_opt = cmd->add_option(
                     "--max-ready", max_ready,
                     update ? "Most ready machines" : "Most ready machines (default: --min-ready)")
                  ->check(CLI::PositiveNumber)
                  ->type_name("N");
    cmd->add_option("--version-policy", policy,
                    "track_tag: machines from what the template ref names now; pinned_build: "
                    "from the build it named at create")
        ->check(CLI::IsMember({"track_tag", "pinned_build"}));
    cpu_opt = cmd->add_option("--cpu", cpu, "CPUs of its machines (default: the template's)")
                  ->check(CLI::PositiveNumber)
                  ->type_name("N");
    memory_opt = cmd->add_option("--memory-mb", memory_mb,
                                 "Memory limit of its machines in MB (default: the template's)")
                     ->check(CLI::PositiveNumber)
                     ->type_name("N");
    cmd->add_option("--max-idle", max_idle,
                    update ? "Recycle ready machines idle this long (90s, 30m; 0 turns it off)"
                           : "Recycle ready machines idle this long (90s, 30m; default: never)")
        ->type_name("DURATION");
  }

  // Writes the flags given; returns how many.
  int write(json::writer& w) const {
    int n = 0;
    auto put = [&](bool given, const char* key, auto v) {
      if (!given) return;
      w.field(key, v);
      ++n;
    };
    put(min_opt->count(), "min_ready", min_ready);
    put(max_opt->count(), "max_ready", max_ready);
    put(cpu_opt->count(), "cpu_count", cpu);
    put(memory_opt->count(), "memory_mb", memory_mb);
    put(!policy.empty(), "version_policy", policy);
    if (!max_idle.empty())
      put(true, "max_idle_ms", max_idle == "0" ? int64_t{0} : duration_ms(max_idle, "--max-idle"));
    return n;
  }
};

void add_create(CLI::App& pool, app_context& ctx) {
  struct create_cmd {
    std::string ref, name;
    pool_flags flags;
    bool json = false;
  };
  auto c = std::make_shared<create_cmd>();
  auto* cr = pool.add_subcommand("create", "Keep ready machines of a template for fast creates");
  cr->add_option("--template", c->ref, "name, ns/name, name:tag or name@tb_…")
      ->required()
      ->type_name("REF");
  cr->add_option("--name", c->name, "The pool's name, unique among your pools")
      ->required()
      ->type_name("NAME");
  c->flags.add_to(cr, false);
  add_json_flag(*cr, c->json);
  cr->footer(R"(Prints the pool's id on stdout; its state goes to stderr. The pool starts its
machines in the background: `nullspace pool wait NAME` waits for them.
Examples:
  nullspace pool create --template web:stable --name web-pool --min-ready 2 --max-ready 4
  nullspace machine create --pool web-pool)");
  cr->callback([&ctx, c] {
    ctx.action = [&ctx, c]() -> int {
      json::writer w;
      w.begin_object().field("template", c->ref).field("name", c->name);
      c->flags.write(w);
      w.end_object();
      api_client api(ctx.server);
      auto body = api.post("/v1/warm-pools", std::move(w).str());
      if (c->json) return print_pool(body, true);
      js::document d(body);
      auto p = d["warm_pool"];
      terminal::get().out_line(js::str(p, "id"));
      terminal::get().err_line(pool_summary(p));
      terminal::get().err_line("wait for its machines with: nullspace pool wait " +
                               js::str(p, "name"));
      return exit_ok;
    };
  });
}

void add_get(CLI::App& pool, app_context& ctx) {
  struct get_cmd {
    std::string pool;
    bool json = false;
  };
  auto c = std::make_shared<get_cmd>();
  auto* g = pool.add_subcommand("get", "Show a pool: state, machine counts, targets, template");
  g->add_option("POOL", c->pool, pool_arg_help)->required();
  add_json_flag(*g, c->json);
  g->callback([&ctx, c] {
    ctx.action = [&ctx, c]() -> int {
      api_client api(ctx.server);
      auto body = api.get(pool_path(c->pool));
      if (c->json) return print_pool(body, true);
      js::document d(body);
      terminal::get().out(pool_details(d["warm_pool"]));
      return exit_ok;
    };
  });
}

void add_list(CLI::App& pool, app_context& ctx) {
  auto flags = std::make_shared<page_flags>();
  auto* l = pool.add_subcommand("list", "List your pools with their machine counts");
  l->alias("ls");
  add_json_flag(*l, flags->json);
  l->callback([&ctx, flags] {
    ctx.action = [&ctx, flags] {
      api_client api(ctx.server);
      auto all = *flags;
      all.all = true;
      return list_pages(api, "/v1/warm-pools", {}, all, "warm_pools", pools_table);
    };
  });
}

void add_wait(CLI::App& pool, app_context& ctx) {
  struct wait_cmd {
    std::string pool, timeout = "60s";
    int64_t min_ready = 0;
    CLI::Option* min_opt = nullptr;
    bool json = false;
  };
  auto c = std::make_shared<wait_cmd>();
  auto* w = pool.add_subcommand("wait", "Wait until a pool has enough ready machines");
  w->add_option("POOL", c->pool, pool_arg_help)->required();
  c->min_opt = w->add_option("--min-ready", c->min_ready,
                             "Ready machines to wait for (default: the pool's min_ready)")
                   ->check(CLI::NonNegativeNumber)
                   ->type_name("N");
  w->add_option("--timeout", c->timeout,
                "Give up after this long (1500 = ms, 90s, 5m; at most 10m)")
      ->type_name("DURATION")
      ->capture_default_str();
  add_json_flag(*w, c->json);
  w->footer(R"(Exit code 0 once the machines are ready; 1 when the timeout passes first or the
pool is degraded (its machines fail to start), with the pool's counts.
Example:
  nullspace pool wait web-pool --min-ready 4 --timeout 2m)");
  w->callback([&ctx, c] {
    ctx.action = [&ctx, c]() -> int {
      auto ms = duration_ms(c->timeout, "--timeout");
      if (ms > max_wait_ms) throw usage_error("--timeout is at most 10m, got " + c->timeout);
      std::string query = "?timeout_ms=" + std::to_string(ms);
      if (c->min_opt->count()) query += "&min_ready=" + std::to_string(c->min_ready);
      api_client api(ctx.server);
      return print_pool(api.get_waiting(pool_path(c->pool, "/ready" + query)), c->json);
    };
  });
}

void add_update(CLI::App& pool, app_context& ctx) {
  struct update_cmd {
    std::string pool;
    pool_flags flags;
    bool json = false;
  };
  auto c = std::make_shared<update_cmd>();
  auto* u = pool.add_subcommand("update", "Change a pool's targets, resources or version policy");
  u->add_option("POOL", c->pool, pool_arg_help)->required();
  c->flags.add_to(u, true);
  add_json_flag(*u, c->json);
  u->footer(R"(Scaling down stops surplus ready machines; machines in use are never touched.
New resources apply to machines started from now on.
Example:
  nullspace pool update web-pool --min-ready 4 --max-ready 8)");
  u->callback([&ctx, c] {
    ctx.action = [&ctx, c]() -> int {
      json::writer w;
      w.begin_object();
      if (c->flags.write(w) == 0)
        throw usage_error(
            "nothing to change: give --min-ready, --max-ready, --version-policy, --cpu, "
            "--memory-mb or --max-idle");
      w.end_object();
      api_client api(ctx.server);
      return print_pool(api.patch(pool_path(c->pool), std::move(w).str()), c->json);
    };
  });
}

// enable, disable, drain and delete: one request, the pool as it is after it.
void add_change(CLI::App& pool, app_context& ctx, const std::string& name, const std::string& help,
                const std::string& method, const std::string& rest) {
  struct change_cmd {
    std::string pool;
    bool json = false;
  };
  auto c = std::make_shared<change_cmd>();
  auto* x = pool.add_subcommand(name, help);
  x->add_option("POOL", c->pool, pool_arg_help)->required();
  add_json_flag(*x, c->json);
  x->callback([&ctx, c, method, rest] {
    ctx.action = [&ctx, c, method, rest] {
      api_client api(ctx.server);
      auto path = pool_path(c->pool, rest);
      auto body = method == "DELETE" ? api.del_waiting(path) : api.post_waiting(path, "{}");
      return print_pool(body, c->json);
    };
  });
}

void add_logs(CLI::App& pool, app_context& ctx) {
  struct logs_cmd {
    std::string pool;
    int64_t offset = 0;
    bool follow = false, json = false;
  };
  auto c = std::make_shared<logs_cmd>();
  auto* l = pool.add_subcommand(
      "logs", "Print a pool's log (refills, failed starts, checkouts, state changes)");
  l->add_option("POOL", c->pool, pool_arg_help)->required();
  l->add_flag("-f,--follow", c->follow, "Stream new entries until the pool is deleted");
  l->add_option("--offset", c->offset, "First log offset to print")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_json_flag(*l, c->json);
  l->footer(R"(With --json every entry is one JSON line; with --follow {"warm_pool": …} comes
last, once the pool has been deleted.
Examples:
  nullspace pool logs web-pool
  nullspace pool logs web-pool --follow)");
  l->callback([&ctx, c] {
    ctx.action = [&ctx, c]() -> int {
      api_client api(ctx.server);
      followed_log log{"warm pool " + c->pool, pool_path(c->pool, "/logs"), "warm_pool",
                       [](js::element p) { return pool_summary(p) + " (deleted)"; },
                       [](js::element) { return static_cast<int>(exit_ok); }};
      return print_log(api, log, {static_cast<uint64_t>(c->offset), c->follow, c->json});
    };
  });
}

}  // namespace

void add_pool_commands(CLI::App& pool, app_context& ctx) {
  add_create(pool, ctx);
  add_get(pool, ctx);
  add_list(pool, ctx);
  add_wait(pool, ctx);
  add_update(pool, ctx);
  add_change(pool, ctx, "enable", "Start refilling again (also clears degraded)", "POST",
             "/enable");
  add_change(pool, ctx, "disable", "Stop refilling; ready machines stay, creates fall back", "POST",
             "/disable");
  add_change(pool, ctx, "drain", "Stop the pool's ready machines (then it is disabled)", "POST",
             "/drain");
  add_change(pool, ctx, "delete",
             "Drain the pool and remove it (machines checked out of it live on)", "DELETE", "");
  add_logs(pool, ctx);
}

}  // namespace nullspace::cli
