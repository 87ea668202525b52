// nullspace machine create|ls|get|pause|resume|timeout|kill: starting
// machines from templates (or checking them out of warm pools), finding
// them, and changing their state.
#include <memory>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/flag_values.hpp"
#include "tools/nullspace/machine_paths.hpp"
#include "tools/nullspace/machine_render.hpp"
#include "tools/nullspace/paged_list.hpp"
#include "tools/nullspace/pool_render.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

// Prints {"machine": M}: the JSON as is, or M's summary line.
int print_machine(const std::string& body, bool json) {
  auto& term = terminal::get();
  if (json) {
    term.out_line(body);
    return exit_ok;
  }
  js::document d(body);
  term.out_line(machine_summary(d["machine"]));
  return exit_ok;
}

void write_pairs(json::writer& w, std::string_view key, const std::vector<std::string>& kvs,
                 std::string_view option) {
  if (kvs.empty()) return;
  w.key(key).begin_object();
  for (auto& kv : kvs) {
    auto [k, v] = key_value(kv, option);
    w.field(k, v);
  }
  w.end_object();
}

struct create_cmd {
  std::string ref, timeout, pool, pool_mode;
  int64_t pool_wait_ms = 0;
  CLI::Option* pool_wait_opt = nullptr;
  std::vector<std::string> envs, labels;
  int64_t cpu = 0, memory_mb = 0;
  CLI::Option *cpu_opt = nullptr, *memory_opt = nullptr;
  bool no_wait = false, no_internet = false, json = false;
};

std::string create_request(const create_cmd& c) {
  if (c.ref.empty() && c.pool.empty())
    throw usage_error("--template is required (unless --pool names a warm pool)");
  if (c.pool.empty() && (!c.pool_mode.empty() || c.pool_wait_opt->count()))
    throw usage_error("--pool-mode and --pool-wait-ms need --pool");
  json::writer w;
  w.begin_object();
  if (!c.ref.empty()) w.field("template", c.ref);
  if (!c.pool.empty()) w.field("warm_pool", c.pool);
  if (!c.pool_mode.empty()) w.field("warm_pool_mode", c.pool_mode);
  if (c.pool_wait_opt->count()) w.field("warm_pool_wait_ms", c.pool_wait_ms);
  write_pairs(w, "envs", c.envs, "--env");
  write_pairs(w, "labels", c.labels, "--label");
  if (c.cpu_opt->count()) w.field("cpu_count", c.cpu);
  if (c.memory_opt->count()) w.field("memory_mb", c.memory_mb);
  if (!c.timeout.empty()) w.field("timeout_ms", duration_ms(c.timeout, "--timeout"));
  if (c.no_internet) w.field("internet_access", false);
  w.field("wait", !c.no_wait);
  w.end_object();
  return std::move(w).str();
}

// The id alone on stdout (for `id=$(nullspace machine create …)`), the rest
// on stderr.
int run_create(const create_cmd& c, const server_options& server) {
  auto request = create_request(c);  // usage errors before any request
  api_client api(server);
  auto body = api.post_waiting("/v1/machines", request);
  auto& term = terminal::get();
  if (c.json) {
    term.out_line(body);
    return exit_ok;
  }
  js::document d(body);
  auto m = d["machine"];
  auto id = js::str(m, "id");
  term.out_line(id);
  term.err_line(machine_summary(m));
  if (auto served = checkout_line(m); !served.empty()) term.err_line(served);
  for (auto& p : port_lines(m, api.server())) term.err_line("  port " + p);
  term.err_line("run commands with: nullspace machine exec " + id + " -- CMD ARGS...");
  return exit_ok;
}

void add_create(CLI::App& machine, app_context& ctx) {
  auto c = std::make_shared<create_cmd>();
  auto* cr = machine.add_subcommand("create", "Start a machine from a template");
  cr->add_option("--template", c->ref,
                 "name, ns/name, name:tag or name@tb_… (with --pool: default the pool's)")
      ->type_name("REF");
  cr->add_option("--pool", c->pool, "Check a ready machine out of this warm pool (name or wp_…)")
      ->type_name("POOL");
  cr->add_option("--pool-mode", c->pool_mode,
                 "prefer (default): a ready machine, else a cold start; require: a ready "
                 "machine or an error; bypass: a cold start from the pool's template")
      ->check(CLI::IsMember({"prefer", "require", "bypass"}));
  c->pool_wait_opt = cr->add_option("--pool-wait-ms", c->pool_wait_ms,
                                    "With require: wait this long for a ready machine")
                         ->check(CLI::NonNegativeNumber)
                         ->type_name("MS");
  cr->add_flag("--no-wait", c->no_wait, "Answer at once (state starting), not once it is ready");
  cr->add_option("--timeout", c->timeout,
                 "Stop it after this long (1500 = ms, 90s, 5m, 1h; default: the server's)")
      ->type_name("DURATION");
  cr->add_option("--env", c->envs, "An environment variable of its processes (repeatable)")
      ->type_name("KEY=VALUE");
  cr->add_option("--label", c->labels, "A label to find it by (repeatable)")
      ->type_name("KEY=VALUE");
  c->cpu_opt = cr->add_option("--cpu", c->cpu, "CPUs (default: the template's)")
                   ->check(CLI::PositiveNumber)
                   ->type_name("N");
  c->memory_opt =
      cr->add_option("--memory-mb", c->memory_mb, "Memory limit in MB (default: the template's)")
          ->check(CLI::PositiveNumber)
          ->type_name("N");
  cr->add_flag("--no-internet", c->no_internet, "Loopback networking only");
  add_json_flag(*cr, c->json);
  cr->footer(R"(Prints the machine's id on stdout; its state, ports and how a warm pool served
it (hit, fallback, bypass) go to stderr.
Examples:
  nullspace machine create --template web
  id=$(nullspace machine create --template web:stable --env API_TOKEN=... --label team=infra --timeout 30m)
  nullspace machine create --pool web-pool --pool-mode require --pool-wait-ms 2000)");
  cr->callback([&ctx, c] { ctx.action = [&ctx, c] { return run_create(*c, ctx.server); }; });
}

void add_ls(CLI::App& machine, app_context& ctx) {
  struct ls_cmd {
    std::string state, ref, label;
    bool json = false;
  };
  auto c = std::make_shared<ls_cmd>();
  auto* l = machine.add_subcommand("ls", "List machines (every page)");
  l->alias("list");
  l->add_option("--state", c->state, "Only machines in this state")
      ->check(CLI::IsMember({"starting", "ready", "paused", "stopping", "stopped", "failed"}));
  l->add_option("--template", c->ref, "Only machines created with this template ref")
      ->type_name("REF");
  l->add_option("--label", c->label, "Only machines with this label (or this label value)")
      ->type_name("KEY[=VALUE]");
  add_json_flag(*l, c->json);
  l->footer("Example:\n  nullspace machine ls --state ready --label team=infra");
  l->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      if (!c->label.empty() && c->label.front() == '=')
        throw usage_error("--label takes KEY or KEY=VALUE, got '" + c->label + "'");
      api_client api(ctx.server);
      page_flags all;
      all.all = true;
      all.json = c->json;
      return list_pages(api, "/v1/machines",
                        {{"state", c->state}, {"template", c->ref}, {"label", c->label}}, all,
                        "machines", machines_table);
    };
  });
}

void add_get(CLI::App& machine, app_context& ctx) {
  struct get_cmd {
    std::string id;
    bool json = false;
  };
  auto c = std::make_shared<get_cmd>();
  auto* g = machine.add_subcommand("get", "Show a machine: state, template, resources, ports");
  g->add_option("ID", c->id, "The machine (m_…)")->required();
  add_json_flag(*g, c->json);
  g->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      auto body = api.get(machine_path(c->id));
      if (c->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        terminal::get().out(machine_details(d["machine"], api.server()));
      }
      return exit_ok;
    };
  });
}

// pause, resume and kill: one request, the machine's new state.
void add_change(CLI::App& machine, app_context& ctx, const std::string& name,
                const std::string& help, const std::string& method, const std::string& rest) {
  struct change_cmd {
    std::string id;
    bool json = false;
  };
  auto c = std::make_shared<change_cmd>();
  auto* x = machine.add_subcommand(name, help);
  x->add_option("ID", c->id, "The machine (m_…)")->required();
  add_json_flag(*x, c->json);
  x->callback([&ctx, c, method, rest] {
    ctx.action = [&ctx, c, method, rest] {
      api_client api(ctx.server);
      auto path = machine_path(c->id, rest);
      auto body = method == "DELETE" ? api.del_waiting(path) : api.post_waiting(path, "{}");
      return print_machine(body, c->json);
    };
  });
}

void add_timeout(CLI::App& machine, app_context& ctx) {
  struct timeout_cmd {
    std::string id, duration;
    bool json = false;
  };
  auto c = std::make_shared<timeout_cmd>();
  auto* t =
      machine.add_subcommand("timeout", "Move a machine's deadline: it stops DURATION from now");
  t->add_option("ID", c->id, "The machine (m_…)")->required();
  t->add_option("DURATION", c->duration, "1500 (ms), 90s, 5m, 1h30m")->required();
  add_json_flag(*t, c->json);
  t->footer("Example:\n  nullspace machine timeout m_... 2h");
  t->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      json::writer w;
      w.begin_object().field("timeout_ms", duration_ms(c->duration, "DURATION")).end_object();
      api_client api(ctx.server);
      auto body = api.post(machine_path(c->id, "/timeout"), std::move(w).str());
      if (c->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        auto m = d["machine"];
        terminal::get().out_line("machine " + js::str(m, "id") + " stops at " +
                                 js::str(m, "timeout_at", "-"));
      }
      return exit_ok;
    };
  });
}

}  // namespace

void add_machine_commands(CLI::App& machine, app_context& ctx) {
  add_create(machine, ctx);
  add_ls(machine, ctx);
  add_get(machine, ctx);
  add_change(machine, ctx, "pause", "Freeze a ready machine's processes", "POST", "/pause");
  add_change(machine, ctx, "resume", "Thaw a paused machine", "POST", "/resume");
  add_timeout(machine, ctx);
  add_change(machine, ctx, "kill", "Stop a machine (SIGTERM, a grace period, then SIGKILL)",
             "DELETE", "");
}

}  // namespace nullspace::cli
