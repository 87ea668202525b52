// nullspace template build|retry|wait|logs|cancel|promote|status: starting
// builds and following them.
#include <memory>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/build_follow.hpp"
#include "tools/nullspace/build_render.hpp"
#include "tools/nullspace/build_request.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

std::string build_path(const std::string& id) {
  return "/v1/builds/" + encode_component(id);
}

struct build_cmd {
  build_flags f;
  CLI::Option *cpu = nullptr, *memory = nullptr, *disk = nullptr, *port = nullptr,
              *ready_timeout = nullptr;
  int64_t cpu_v = 0, memory_v = 0, disk_v = 0, port_v = 0, ready_timeout_v = 0;
  bool background = false, dry_run = false, render = false, json = false;
};

// A started build (202 {"build": …}) with --background: its id, or the JSON.
int print_started(const std::string& body, bool json) {
  auto& term = terminal::get();
  if (json) {
    term.out_line(body);
    return exit_ok;
  }
  js::document d(body);
  auto id = js::str(d["build"], "id");
  term.out_line(id);
  term.err_line("build " + id + " " + js::str(d["build"], "status") +
                "; follow it with: nullspace template logs " + id +
                " --follow (or: nullspace template wait " + id + ")");
  return exit_ok;
}

int print_dry_run(api_client& api, const prepared_build& p, bool render, bool json) {
  auto& term = terminal::get();
  auto validation = api.post("/v1/builds:validate", p.payload);
  js::document v(validation);
  bool valid = js::boolean(v.root(), "valid");
  std::string plan = valid ? api.post("/v1/builds:plan", p.payload) : "";
  if (json) {
    json::writer w;
    w.begin_object();
    if (render) w.field_raw("request", p.rendered);
    w.field_raw("validation", validation);
    if (valid)
      w.field_raw("plan", js::compact(js::document(plan)["plan"]));
    else
      w.field_null("plan");
    w.end_object();
    term.out_line(std::move(w).str());
    return valid ? exit_ok : exit_failed;
  }
  if (render) term.out_line("request:\n" + js::pretty(p.rendered));
  for (auto& warning : js::strings(v.root(), "warnings")) term.err_line("warning: " + warning);
  if (!valid) {
    for (auto e : js::items(v.root(), "errors")) {
      auto field = js::str(e, "field");
      term.error((field.empty() ? "" : field + ": ") + js::str(e, "message"));
    }
    term.error("the build request is not valid (nothing was started)");
    return exit_failed;
  }
  js::document pd(plan);
  auto pl = pd["plan"];
  term.out_line("valid: nothing was started. Plan (backend " + js::str(pl, "backend") + "):");
  if (auto base = js::get(pl, "base"))
    term.out_line("  base    " + js::str(*base, "summary") + "  " + js::str(*base, "cache_key"));
  for (auto s : js::items(pl, "steps"))
    term.out_line("  step " + std::to_string(js::num(s, "index")) + "  " + js::str(s, "summary") +
                  "  " + js::str(s, "cache_key"));
  if (auto r = js::get(pl, "resources")) {
    std::string line = "  resources:";
    simdjson::dom::object o;
    if (r->get(o) == simdjson::SUCCESS)
      for (auto [k, val] : o) line += " " + std::string(k) + "=" + simdjson::minify(val);
    term.out_line(line);
  }
  return exit_ok;
}

int run_build(build_cmd& c, const server_options& server) {
  auto& f = c.f;
  if (c.cpu->count()) f.cpu_count = c.cpu_v;
  if (c.memory->count()) f.memory_mb = c.memory_v;
  if (c.disk->count()) f.disk_mb = c.disk_v;
  if (c.port->count()) f.ready_port = c.port_v;
  if (c.ready_timeout->count()) f.ready_timeout_ms = c.ready_timeout_v;
  if (c.background && (c.dry_run || c.render))
    throw usage_error("--background starts a build; --dry-run and --render start none");
  auto p = prepare_build(f);
  auto& term = terminal::get();
  if (c.render && !c.dry_run) {
    term.out_line(c.json ? p.rendered : js::pretty(p.rendered));
    return exit_ok;
  }
  api_client api(server);
  if (c.dry_run) return print_dry_run(api, p, c.render, c.json);
  if (p.context) {
    auto& ctx = *p.context;
    js::document up(api.upload_tar("/v1/build-contexts", ctx.tar));
    auto id = js::str(up["context"], "id");
    if (id != ctx.id)
      throw cli_error(exit_failed, "the server named the build context " + id + ", expected " +
                                       ctx.id + ": is it another nullspace version?");
    if (!c.json)
      term.err_line("build context: " + std::to_string(ctx.scan.files) + " files, " +
                    std::to_string(ctx.scan.bytes) + " bytes" +
                    (ctx.scan.ignored
                         ? ", " + std::to_string(ctx.scan.ignored) + " excluded by .dockerignore"
                         : std::string()) +
                    " -> " + id);
  }
  if (c.background) return print_started(api.post("/v1/builds", p.payload), c.json);
  log_view view(pick_style(c.json));
  return start_and_follow(api, view, p.payload);
}

void add_secret_flags(CLI::App* cmd, std::vector<std::string>& env,
                      std::vector<std::string>& file) {
  cmd->add_option("--build-secret-env", env,
                  "A request-time secret from an environment variable: ID=ENV_VAR (repeatable)")
      ->type_name("ID=ENV");
  cmd->add_option("--build-secret-file", file,
                  "A request-time secret from a file's bytes: ID=PATH (repeatable)")
      ->type_name("ID=PATH");
}

void add_build(CLI::App& tmpl, app_context& ctx) {
  auto c = std::make_shared<build_cmd>();
  auto& f = c->f;
  auto* b = tmpl.add_subcommand("build", "Build a template and follow its log to the end");
  const std::string source = "Source (exactly one)", tmpl_group = "Template",
                    res = "Resources and cache", secrets = "Secrets", steps = "Steps and start",
                    mode = "Mode and output";
  b->add_option("--from-python-image", f.python_version, "A Python base image version, e.g. 3.11")
      ->type_name("VERSION")
      ->group(source);
  b->add_option("--from-image", f.image, "An OCI image reference, e.g. debian:bookworm")
      ->type_name("REF")
      ->group(source);
  b->add_option("--from-dockerfile", f.dockerfile,
                "A Dockerfile; its directory is uploaded as the build context")
      ->type_name("PATH")
      ->group(source);
  b->add_option("--from-template", f.template_ref, "A ready template build, e.g. base@tb_...")
      ->type_name("REF")
      ->group(source);
  b->add_option("--registry-username", f.registry_username,
                "User name for a private registry (with --from-image)")
      ->type_name("USER")
      ->group(source);
  b->add_option("--registry-password-env", f.registry_password_env,
                "Environment variable holding the registry password")
      ->type_name("ENV")
      ->group(source);
  b->add_option("--context", f.context_dir,
                "Build context for --from-dockerfile (default: the Dockerfile's directory)")
      ->type_name("DIR")
      ->group(source);
  b->add_option("--name", f.name, "Template name")->required()->group(tmpl_group);
  b->add_option("--namespace", f.ns, "Namespace (default: your tenant's)")
      ->type_name("NS")
      ->group(tmpl_group);
  b->add_option("--tag", f.tags, "A tag for the build (repeatable)")
      ->type_name("TAG")
      ->group(tmpl_group);
  c->cpu = b->add_option("--cpu-count", c->cpu_v, "CPUs for the build")
               ->check(CLI::PositiveNumber)
               ->group(res);
  c->memory = b->add_option("--memory-mb", c->memory_v, "Memory limit in MB")
                  ->check(CLI::PositiveNumber)
                  ->group(res);
  c->disk = b->add_option("--disk-mb", c->disk_v, "Minimum root filesystem size in MB")
                ->check(CLI::NonNegativeNumber)
                ->group(res);
  b->add_flag("--no-internet-access", f.no_internet, "The build only has loopback networking")
      ->group(res);
  b->add_option("--backend", f.backend, "Build backend (Dockerfiles use buildkit)")
      ->check(CLI::IsMember({"native", "buildkit"}))
      ->group(res);
  b->add_flag("--skip-cache", f.skip_cache, "Run every step again, ignoring cached layers")
      ->group(res);
  b->add_option("--build-arg", f.build_args,
                "A Dockerfile ARG value: K=V (repeatable; stored with the build, part of cache "
                "keys: use --build-secret-env for secrets)")
      ->type_name("K=V")
      ->group(source);
  b->add_option("--target", f.target, "Build the Dockerfile up to this stage (FROM … AS STAGE)")
      ->type_name("STAGE")
      ->group(source);
  add_secret_flags(b, f.secret_env, f.secret_file);
  for (auto* o : {b->get_option("--build-secret-env"), b->get_option("--build-secret-file")})
    o->group(secrets);
  b->add_option("--run", f.run, "A shell command as a build step (repeatable, in order)")
      ->type_name("CMD")
      ->group(steps);
  b->add_option("--runtime-env", f.runtime_env,
                "An environment default for machines of the template (repeatable)")
      ->type_name("KEY=VALUE")
      ->group(steps);
  b->add_option("--start-cmd", f.start_cmd, "Command started in machines of the template")
      ->type_name("CMD")
      ->group(steps);
  b->add_option("--ready-cmd", f.ready_cmd, "Ready when this command exits 0")
      ->type_name("CMD")
      ->group(steps);
  c->port = b->add_option("--ready-port", c->port_v, "Ready when this TCP port accepts")
                ->check(CLI::Range(1, 65535))
                ->type_name("PORT")
                ->group(steps);
  b->add_option("--ready-url", f.ready_url, "Ready when this URL answers 2xx/3xx")
      ->type_name("URL")
      ->group(steps);
  b->add_option("--ready-file", f.ready_file, "Ready when this file exists")
      ->type_name("PATH")
      ->group(steps);
  c->ready_timeout =
      b->add_option("--ready-timeout-ms", c->ready_timeout_v, "How long the ready check may take")
          ->check(CLI::PositiveNumber)
          ->type_name("MS")
          ->group(steps);
  b->add_flag("--background", c->background, "Print the build id and return at once")->group(mode);
  b->add_flag("--dry-run", c->dry_run, "Validate and plan the request on the server; start nothing")
      ->group(mode);
  b->add_flag("--render", c->render,
              "Print the request payload (secret values as ***); start nothing")
      ->group(mode);
  add_json_flag(*b, c->json)->group(mode);
  b->footer(R"(Examples:
  nullspace template build --from-python-image 3.11 --name my-template --tag stable --cpu-count 4 --memory-mb 2048
  nullspace template build --from-python-image 3.11 --name offline-template --no-internet-access
  nullspace template build --from-dockerfile ./Dockerfile --name docker-template
  nullspace template build --from-dockerfile ./Dockerfile --name private-npm --build-secret-env npm_token=NPM_TOKEN
  nullspace template build --from-python-image 3.11 --name my-template --tag next --background
  nullspace template build --from-python-image 3.11 --name web --run 'pip install flask' --dry-run --render

Exit codes: 0 ready, 1 build error or cancelled, 2 usage error, 3 server unreachable or 401.)");
  b->callback([&ctx, c] { ctx.action = [&ctx, c] { return run_build(*c, ctx.server); }; });
}

struct retry_cmd {
  std::string id;
  std::vector<std::string> tags, secret_env, secret_file;
  bool background = false, json = false;
};

int run_retry(retry_cmd& c, const server_options& server) {
  auto secrets = resolve_secrets(c.secret_env, c.secret_file);
  json::writer w;
  w.begin_object();
  if (!c.tags.empty()) {
    w.key("tags").begin_array();
    for (auto& t : c.tags) w.value(t);
    w.end_array();
  }
  write_secrets(w, secrets, false);
  w.end_object();
  api_client api(server);
  auto body = api.post(build_path(c.id) + "/retry", std::move(w).str());
  if (c.background) return print_started(body, c.json);
  js::document d(body);
  log_view view(pick_style(c.json));
  view.started(d["build"]);
  return follow_build(api, view, js::str(d["build"], "id"), 0);
}

void add_retry(CLI::App& tmpl, app_context& ctx) {
  auto c = std::make_shared<retry_cmd>();
  auto* r = tmpl.add_subcommand(
      "retry", "Start a new attempt of a build from its stored definition, and follow it");
  r->add_option("ID", c->id, "The build to retry (tb_…)")->required();
  r->add_option("--tag", c->tags, "Tags for the new build, replacing the old ones (repeatable)")
      ->type_name("TAG");
  add_secret_flags(r, c->secret_env, c->secret_file);
  r->add_flag("--background", c->background, "Print the new build's id and return at once");
  add_json_flag(*r, c->json);
  r->footer(R"(Secret values are never stored: a build that used secrets needs them again.
Example:
  nullspace template retry tb_... --build-secret-env npm_token=NPM_TOKEN)");
  r->callback([&ctx, c] { ctx.action = [&ctx, c] { return run_retry(*c, ctx.server); }; });
}

void add_wait(CLI::App& tmpl, app_context& ctx) {
  struct wait_cmd {
    std::string id;
    int64_t interval = 1000;
    bool json = false;
  };
  auto c = std::make_shared<wait_cmd>();
  auto* w = tmpl.add_subcommand("wait", "Wait until a build is ready, failed or cancelled");
  w->add_option("ID", c->id, "The build (tb_…)")->required();
  w->add_option("--poll-interval-ms", c->interval, "Time between status polls")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))
      ->capture_default_str();
  add_json_flag(*w, c->json);
  w->footer(R"(Exit codes: 0 ready, 1 error or cancelled.
Example:
  nullspace template wait tb_... --poll-interval-ms 500)");
  w->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      log_view view(pick_style(c->json));
      return wait_build(api, view, c->id, c->interval);
    };
  });
}

void add_logs(CLI::App& tmpl, app_context& ctx) {
  struct logs_cmd {
    std::string id;
    int64_t offset = 0;
    bool follow = false, json = false;
  };
  auto c = std::make_shared<logs_cmd>();
  auto* l = tmpl.add_subcommand("logs", "Print a build's log; --follow keeps streaming to the end");
  l->add_option("ID", c->id, "The build (tb_…)")->required();
  l->add_flag("-f,--follow", c->follow, "Stream live entries until the build ends");
  l->add_option("--offset", c->offset, "First log offset to print")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_json_flag(*l, c->json);
  l->footer(R"(With --json every entry is one JSON line (it carries its offset).
With --follow the exit code is the build's: 0 ready, 1 error or cancelled.
Examples:
  nullspace template logs tb_... --follow
  nullspace template logs tb_... --offset 40 --json)");
  l->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      log_view view(c->follow ? pick_style(c->json)
                              : (c->json ? log_style::json : log_style::plain));
      return follow_build(api, view, c->id, static_cast<uint64_t>(c->offset), c->follow);
    };
  });
}

void add_cancel(CLI::App& tmpl, app_context& ctx) {
  struct cancel_cmd {
    std::string id, reason;
    bool json = false;
  };
  auto c = std::make_shared<cancel_cmd>();
  auto* x = tmpl.add_subcommand("cancel", "Cancel a waiting, queued or running build");
  x->add_option("ID", c->id, "The build (tb_…)")->required();
  x->add_option("--reason", c->reason, "Why (kept in the build's log)");
  add_json_flag(*x, c->json);
  x->footer("Example:\n  nullspace template cancel tb_... --reason 'superseded by a newer commit'");
  x->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      json::writer w;
      w.begin_object();
      if (!c->reason.empty()) w.field("reason", c->reason);
      w.end_object();
      api_client api(ctx.server);
      auto body = api.post(build_path(c->id) + "/cancel", std::move(w).str());
      if (c->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        terminal::get().out_line(build_summary(d["build"]));
      }
      return exit_ok;
    };
  });
}

void add_promote(CLI::App& tmpl, app_context& ctx) {
  struct promote_cmd {
    std::string id, tag;
    bool json = false;
  };
  auto c = std::make_shared<promote_cmd>();
  auto* p = tmpl.add_subcommand("promote", "Move a tag to a ready build");
  p->add_option("ID", c->id, "The build (tb_…)")->required();
  p->add_option("--tag", c->tag, "The tag to move, e.g. production")->required();
  add_json_flag(*p, c->json);
  p->footer("Example:\n  nullspace template promote tb_... --tag production");
  p->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      json::writer w;
      w.begin_object().field("tag", c->tag).end_object();
      api_client api(ctx.server);
      auto body = api.post(build_path(c->id) + "/promote", std::move(w).str());
      if (c->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        auto b = d["build"];
        terminal::get().out_line(js::str(b, "namespace") + "/" + js::str(b, "name") + ":" + c->tag +
                                 " -> " + js::str(b, "id"));
      }
      return exit_ok;
    };
  });
}

void add_status(CLI::App& tmpl, app_context& ctx) {
  struct status_cmd {
    std::string id;
    bool json = false;
  };
  auto c = std::make_shared<status_cmd>();
  auto* s = tmpl.add_subcommand("status", "Show a build's status (without its log)");
  s->add_option("ID", c->id, "The build (tb_…)")->required();
  add_json_flag(*s, c->json);
  s->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      auto body = api.get(build_path(c->id) + "?limit=0");
      js::document d(body);
      if (c->json)
        terminal::get().out_line("{\"build\":" + js::compact(d["build"]) + "}");
      else
        terminal::get().out_line(build_summary(d["build"]));
      return exit_ok;
    };
  });
}

}  // namespace

CLI::Option* add_json_flag(CLI::App& cmd, bool& json) {
  return cmd.add_flag("--json", json, "Print the server's JSON (machine-readable)");
}

void add_build_commands(CLI::App& tmpl, app_context& ctx) {
  add_build(tmpl, ctx);
  add_wait(tmpl, ctx);
  add_logs(tmpl, ctx);
  add_status(tmpl, ctx);
  add_cancel(tmpl, ctx);
  add_retry(tmpl, ctx);
  add_promote(tmpl, ctx);
}

}  // namespace nullspace::cli
