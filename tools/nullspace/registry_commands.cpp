// nullspace template get|list|builds|tags|alias|reserve|rename|visibility|
// delete: the template registry (names, tags, aliases, history).
#include <memory>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/paged_list.hpp"
#include "tools/nullspace/template_render.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

std::string template_path(const std::string& ref) {
  return "/v1/templates/" + encode_component(ref);
}

// Prints {"template": T}: the JSON as is, or T's details.
int print_template(const std::string& body, bool json, const std::string& headline = "") {
  auto& term = terminal::get();
  if (json) {
    term.out_line(body);
    return exit_ok;
  }
  js::document d(body);
  if (!headline.empty()) term.out_line(headline);
  term.out(template_details(d["template"]));
  return exit_ok;
}

void add_get(CLI::App& tmpl, app_context& ctx) {
  struct cmd {
    std::string ref;
    bool json = false;
  };
  auto c = std::make_shared<cmd>();
  auto* g = tmpl.add_subcommand("get", "Show a template: tags, aliases, latest ready build");
  g->add_option("REF", c->ref, "name, ns/name, name:tag or name@tb_…")->required();
  add_json_flag(*g, c->json);
  g->footer("Example:\n  nullspace template get acme/web:stable");
  g->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      return print_template(api.get(template_path(c->ref)), c->json);
    };
  });
}

void add_list(CLI::App& tmpl, app_context& ctx) {
  struct cmd {
    std::string ns, visibility;
    page_flags page;
  };
  auto c = std::make_shared<cmd>();
  auto* l = tmpl.add_subcommand("list", "List templates");
  l->add_option("--namespace", c->ns, "Only this namespace");
  l->add_option("--visibility", c->visibility, "Only private or public templates")
      ->check(CLI::IsMember({"private", "public"}));
  add_page_flags(l, c->page);
  l->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      return list_pages(api, "/v1/templates", {{"namespace", c->ns}, {"visibility", c->visibility}},
                        c->page, "templates", templates_table);
    };
  });
}

void add_builds(CLI::App& tmpl, app_context& ctx) {
  struct cmd {
    std::string ref, status, backend;
    bool tagged = false, untagged = false;
    page_flags page;
  };
  auto c = std::make_shared<cmd>();
  auto* b = tmpl.add_subcommand(
      "builds", "List a template's builds, newest first (failed and untagged ones too)");
  b->add_option("REF", c->ref, "The template (name or ns/name)")->required();
  b->add_option("--status", c->status, "Only builds with this status")
      ->check(CLI::IsMember({"waiting", "queued", "building", "ready", "error", "cancelled"}));
  auto* tagged = b->add_flag("--tagged", c->tagged, "Only builds a tag points at");
  b->add_flag("--untagged", c->untagged, "Only builds no tag points at")->excludes(tagged);
  b->add_option("--backend", c->backend, "Only builds of this backend")
      ->check(CLI::IsMember({"native", "buildkit"}));
  add_page_flags(b, c->page);
  b->footer("Example:\n  nullspace template builds acme/web --status error --limit 5");
  b->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      api_client api(ctx.server);
      std::string tagged = c->tagged ? "true" : c->untagged ? "false" : "";
      return list_pages(api, template_path(c->ref) + "/builds",
                        {{"status", c->status}, {"tagged", tagged}, {"backend", c->backend}},
                        c->page, "builds", builds_table);
    };
  });
}

void add_tags(CLI::App& tmpl, app_context& ctx) {
  auto* tags = tmpl.add_subcommand("tags", "Assign or remove a template's tags");
  tags->require_subcommand(1);
  struct cmd {
    std::string ref;
    std::vector<std::string> tags;
    bool json = false;
  };
  auto add = std::make_shared<cmd>();
  auto* a = tags->add_subcommand("add", "Point tags at the build REF names");
  a->add_option("REF", add->ref, "name:tag or name@tb_… (a bare name means its latest)")
      ->required();
  a->add_option("TAG", add->tags, "Tags to assign")->required();
  add_json_flag(*a, add->json);
  a->footer("Example:\n  nullspace template tags add agent-runtime-base:v1.0.0 production");
  a->callback([&ctx, add] {
    ctx.action = [&ctx, add] {
      json::writer w;
      w.begin_object().key("tags").begin_array();
      for (auto& t : add->tags) w.value(t);
      w.end_array().end_object();
      api_client api(ctx.server);
      return print_template(api.post(template_path(add->ref) + "/tags", std::move(w).str()),
                            add->json);
    };
  });
  auto rm = std::make_shared<cmd>();
  auto* r = tags->add_subcommand("rm", "Remove a tag from a template");
  r->add_option("REF", rm->ref, "The template")->required();
  rm->tags.resize(1);
  r->add_option("TAG", rm->tags[0], "The tag to remove")->required();
  add_json_flag(*r, rm->json);
  r->callback([&ctx, rm] {
    ctx.action = [&ctx, rm] {
      api_client api(ctx.server);
      return print_template(
          api.del(template_path(rm->ref) + "/tags/" + encode_component(rm->tags[0])), rm->json);
    };
  });
}

void add_alias(CLI::App& tmpl, app_context& ctx) {
  auto* alias = tmpl.add_subcommand("alias", "Add, remove or list a template's aliases");
  alias->require_subcommand(1);
  struct cmd {
    std::string ref, alias;
    bool json = false;
  };
  auto add = std::make_shared<cmd>();
  auto* a = alias->add_subcommand("add", "Give a template another name");
  a->add_option("REF", add->ref, "The template")->required();
  a->add_option("ALIAS", add->alias, "The alias")->required();
  add_json_flag(*a, add->json);
  a->callback([&ctx, add] {
    ctx.action = [&ctx, add] {
      json::writer w;
      w.begin_object().field("alias", add->alias).end_object();
      api_client api(ctx.server);
      return print_template(api.post(template_path(add->ref) + "/aliases", std::move(w).str()),
                            add->json);
    };
  });
  auto rm = std::make_shared<cmd>();
  auto* r = alias->add_subcommand("rm", "Remove an alias");
  r->add_option("REF", rm->ref, "The template")->required();
  r->add_option("ALIAS", rm->alias, "The alias")->required();
  add_json_flag(*r, rm->json);
  r->callback([&ctx, rm] {
    ctx.action = [&ctx, rm] {
      api_client api(ctx.server);
      return print_template(
          api.del(template_path(rm->ref) + "/aliases/" + encode_component(rm->alias)), rm->json);
    };
  });
  auto ls = std::make_shared<cmd>();
  auto* l = alias->add_subcommand("list", "List a template's aliases");
  l->add_option("REF", ls->ref, "The template")->required();
  add_json_flag(*l, ls->json);
  l->callback([&ctx, ls] {
    ctx.action = [&ctx, ls] {
      api_client api(ctx.server);
      auto body = api.get(template_path(ls->ref) + "/aliases");
      if (ls->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        for (auto& a : js::strings(d.root(), "aliases")) terminal::get().out_line(a);
      }
      return exit_ok;
    };
  });
}

void add_names(CLI::App& tmpl, app_context& ctx) {
  struct cmd {
    std::string ref, name, ns, visibility;
    bool json = false;
  };
  auto rs = std::make_shared<cmd>();
  auto* reserve = tmpl.add_subcommand("reserve", "Reserve a template name before its first build");
  reserve->add_option("NAME", rs->name, "The name (or ns/name)")->required();
  reserve->add_option("--namespace", rs->ns, "Namespace (default: your tenant's)");
  add_json_flag(*reserve, rs->json);
  reserve->callback([&ctx, rs] {
    ctx.action = [&ctx, rs] {
      auto name = rs->name, ns = rs->ns;
      if (auto slash = name.find('/'); slash != std::string::npos) {
        if (!ns.empty()) throw usage_error("give the namespace once: as ns/name or --namespace");
        ns = name.substr(0, slash);
        name = name.substr(slash + 1);
      }
      json::writer w;
      w.begin_object();
      if (!ns.empty()) w.field("namespace", ns);
      w.field("name", name).end_object();
      api_client api(ctx.server);
      return print_template(api.post("/v1/templates:reserve", std::move(w).str()), rs->json,
                            "reserved");
    };
  });

  auto rn = std::make_shared<cmd>();
  auto* rename = tmpl.add_subcommand("rename", "Rename a template (or move it to a namespace)");
  rename->add_option("REF", rn->ref, "The template")->required();
  rename->add_option("NEW_NAME", rn->name, "Its new name")->required();
  rename->add_option("--namespace", rn->ns, "Its new namespace");
  add_json_flag(*rename, rn->json);
  rename->callback([&ctx, rn] {
    ctx.action = [&ctx, rn] {
      json::writer w;
      w.begin_object().field("name", rn->name);
      if (!rn->ns.empty()) w.field("namespace", rn->ns);
      w.end_object();
      api_client api(ctx.server);
      return print_template(api.post(template_path(rn->ref) + "/rename", std::move(w).str()),
                            rn->json, "renamed");
    };
  });

  auto vs = std::make_shared<cmd>();
  auto* vis = tmpl.add_subcommand("visibility", "Make a template private or public");
  vis->add_option("REF", vs->ref, "The template")->required();
  vis->add_option("VISIBILITY", vs->visibility, "private or public")
      ->required()
      ->check(CLI::IsMember({"private", "public"}));
  add_json_flag(*vis, vs->json);
  vis->callback([&ctx, vs] {
    ctx.action = [&ctx, vs] {
      json::writer w;
      w.begin_object().field("visibility", vs->visibility).end_object();
      api_client api(ctx.server);
      return print_template(api.put(template_path(vs->ref) + "/visibility", std::move(w).str()),
                            vs->json);
    };
  });

  auto dl = std::make_shared<cmd>();
  auto* del = tmpl.add_subcommand("delete", "Delete a template (its name, tags and aliases)");
  del->add_option("REF", dl->ref, "The template")->required();
  add_json_flag(*del, dl->json);
  del->callback([&ctx, dl] {
    ctx.action = [&ctx, dl] {
      api_client api(ctx.server);
      auto body = api.del(template_path(dl->ref));
      if (dl->json) {
        terminal::get().out_line(body);
      } else {
        js::document d(body);
        terminal::get().out_line("deleted " + template_ref(d["template"]));
      }
      return exit_ok;
    };
  });
}

}  // namespace

void add_registry_commands(CLI::App& tmpl, app_context& ctx) {
  add_get(tmpl, ctx);
  add_list(tmpl, ctx);
  add_builds(tmpl, ctx);
  add_tags(tmpl, ctx);
  add_alias(tmpl, ctx);
  add_names(tmpl, ctx);
}

}  // namespace nullspace::cli
