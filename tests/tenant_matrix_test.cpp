// The tenant matrix: every route of the router's table × the resource it
// names (the caller's own, another tenant's private one, another tenant's
// public one, one that does not exist) × the credentials sent (none, a bad
// key, a good key), against a real nullspaced with two tenants. The expected
// status of every combination comes from the rule table below; a route
// without a row (or a row without a route) fails the test with its name.
// Beyond the status: refusals carry the JSON error body, 401s the
// WWW-Authenticate challenge, and no answer to alpha names one of beta's
// private things that alpha's request did not name itself.
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/router.hpp"
#include "catch2/catch.hpp"
#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

const std::string alpha_key = "alpha-matrix-key-0123456789abcdef";
const std::string beta_key = "beta-matrix-key-0123456789abcdef";
const std::string bad_key = "not-a-key-of-anyone-0123456789";

// The columns: what a route's placeholders (or its body) name.
enum column { own, other_private, other_public, missing, n_columns };
const char* column_names[] = {"own", "other's private", "other's public", "missing"};

// busybox httpd serving /www on :8000 (the port proxy fetches its index.html).
std::string template_request(const std::string& ns, const std::string& name) {
  return R"({"namespace":")" + ns + R"(","name":")" + name +
         R"(","tags":["latest","extra"],"builder":{"source":{"type":"image","image":"busybox"},)"
         R"("steps":[{"type":"run","cmd":"mkdir -p /www && echo hello > /www/index.html"}],)"
         R"("start_cmd":"exec httpd -f -p 8000 -h /www",)"
         R"("ready":{"type":"port","port":8000},"ready_timeout_ms":30000},"cpu_count":1,"memory_mb":256})";
}

// One row: a route, its expected status per column (with a good key), and
// what each column substitutes for placeholders and sends as the body.
struct matrix_row {
  std::string route;  // "METHOD pattern"
  int want[n_columns];
  std::string body = {};      // "" : none; {col} is replaced per column (see fill)
  std::string query = {};     // appended to the target
  bool resourceless = false;  // names nothing: one column (own) only
};

struct ids {
  std::string build, tmpl, machine, command, pool, tag, alias;
};

http_headers key_headers(const std::string& key) {
  http_headers h{{"Content-Type", "application/json"}};
  if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
  return h;
}

http_response call(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& key, const std::string& body = {}) {
  http_connection c(port);
  c.send_request(method, target, body, key_headers(key));
  return c.read_response();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("tenant matrix: every route x resource x credentials", "[tenant_matrix]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  temp_dir dir;
  write_file(dir.sub("keys"), alpha_key + " alpha\n" + beta_key + " beta\n");
  std::vector<std::string> flags{"--api-keys", dir.sub("keys"), "--log-level", "debug"};
  for (auto& f : daemon_machine_flags("10.72.0.0/17")) flags.push_back(f);
  server_process d(dir, true, flags);
  auto port = d.port();
  REQUIRE(port != 0);

  // ---- resources: alpha's own, beta's private and public
  auto build_template = [&](const std::string& key, const std::string& ns,
                            const std::string& name) {
    auto r = call(port, "POST", "/v1/builds", key, template_request(ns, name));
    REQUIRE(r.status == 202);
    auto id = json_str(r.body, "build.id");
    REQUIRE(json_str(wait_terminal(port, id, key_headers(key)), "build.status") == "ready");
    return id;
  };
  auto ok = [&](const http_response& r, int status) {
    INFO(r.body);
    REQUIRE(r.status == status);
    return r;
  };
  ids col[n_columns];
  col[own].build = build_template(alpha_key, "alpha", "own");
  col[other_private].build = build_template(beta_key, "beta", "hidden");
  col[other_public].build = build_template(beta_key, "beta", "shown");
  col[missing].build = "tb_000000000000000000000000";
  col[own].tmpl = "alpha%2Fown";
  col[other_private].tmpl = "beta%2Fhidden";
  col[other_public].tmpl = "beta%2Fshown";
  col[missing].tmpl = "alpha%2Fnothing-here";
  ok(call(port, "PUT", "/v1/templates/beta%2Fshown/visibility", beta_key,
          R"({"visibility":"public"})"),
     200);
  std::string nick[n_columns] = {"own-nick", "hidden-nick", "shown-nick", "no-nick"};
  for (auto c : {own, other_private, other_public}) {
    auto key = c == own ? alpha_key : beta_key;
    ok(call(port, "POST", "/v1/templates/" + col[c].tmpl + "/aliases", key,
            R"({"alias":")" + nick[c] + R"("})"),
       201);
    col[c].alias = nick[c];
    col[c].tag = "extra";
  }
  col[missing].alias = nick[missing];
  col[missing].tag = "extra";

  // Machines (beta's is both "private" and "public": machines have no
  // visibility; beta's public template does not make beta's machine alpha's).
  auto start_machine = [&](const std::string& key, const std::string& tmpl) {
    auto r = ok(call(port, "POST", "/v1/machines", key, R"({"template":")" + tmpl + R"("})"), 201);
    return json_str(r.body, "machine.id");
  };
  col[own].machine = start_machine(alpha_key, "alpha/own");
  col[other_private].machine = col[other_public].machine = start_machine(beta_key, "beta/hidden");
  col[missing].machine = "m_000000000000000000000000";
  auto background = [&](const std::string& key, const std::string& machine) {
    auto r = ok(call(port, "POST", "/v1/machines/" + machine + "/commands", key,
                     R"({"cmd":"true","shell":true,"background":true})"),
                202);
    return json_str(r.body, "command_id");
  };
  col[own].command = background(alpha_key, col[own].machine);
  col[other_private].command = col[other_public].command =
      background(beta_key, col[other_private].machine);
  col[missing].command = "c_000000000000000000000000";

  auto make_pool = [&](const std::string& key, const std::string& tmpl, const std::string& name) {
    auto r = ok(call(port, "POST", "/v1/warm-pools", key,
                     R"({"template":")" + tmpl + R"(","name":")" + name +
                         R"(","min_ready":0,"max_ready":1})"),
                201);
    return json_str(r.body, "warm_pool.id");
  };
  col[own].pool = make_pool(alpha_key, "alpha/own", "own-pool");
  col[other_private].pool = make_pool(beta_key, "beta/hidden", "hidden-pool");
  col[other_public].pool = make_pool(beta_key, "beta/shown", "shown-pool");
  col[missing].pool = "nothing-here";
  // Alpha's templates only its own destructive rows touch (reserved: no builds).
  ok(call(port, "POST", "/v1/templates:reserve", alpha_key, R"({"name":"to-rename"})"), 201);
  ok(call(port, "POST", "/v1/templates:reserve", alpha_key, R"({"name":"to-delete"})"), 201);

  // Beta's identifiers alpha must never see unless it named them itself.
  // (The public template's builds are readable by design.)
  std::vector<std::string> beta_private{col[other_private].build,
                                        col[other_private].machine,
                                        col[other_private].pool,
                                        col[other_public].pool,
                                        "hidden-nick",
                                        "hidden-pool"};

  // /metrics labels pool gauges with pool and tenant names: a scrape shows the
  // pools of the tenant whose key it sends, none without a key, and the rest
  // of the figures to anyone.
  {
    auto alpha = ok(call(port, "GET", "/metrics", alpha_key), 200).body;
    CHECK_THAT(alpha, Catch::Contains(R"(pool="own-pool",tenant="alpha")"));
    auto beta = ok(call(port, "GET", "/metrics", beta_key), 200).body;
    CHECK_THAT(beta, Catch::Contains(R"(pool="hidden-pool",tenant="beta")"));
    CHECK_THAT(beta, Catch::Contains(R"(pool="shown-pool",tenant="beta")"));
    CHECK_THAT(beta, !Catch::Contains(R"(pool="own-pool")"));
    auto anonymous = ok(call(port, "GET", "/metrics", ""), 200).body;
    CHECK_THAT(anonymous, Catch::Contains("nullspace_builds{status=\"ready\"}"));
    CHECK_THAT(anonymous, !Catch::Contains("nullspace_warm_pool_machines{"));
    for (auto* scrape : {&alpha, &anonymous}) {
      CHECK_THAT(*scrape, !Catch::Contains(R"(tenant="beta")"));
      for (auto& secret : beta_private) CHECK(scrape->find(secret) == std::string::npos);
    }
  }

  // ---- the rule table, in execution order: with a good key each row runs
  // its columns other's private, other's public, missing, then own, so the
  // own column's changes (a delete, a stop) come last and after every read.
  const int ready = 200;
  std::vector<matrix_row> rules{
      {"GET /healthz", {200, 200, 200, 200}, "", "", true},
      {"GET /metrics", {200, 200, 200, 200}, "", "", true},
      // builds
      {"POST /v1/builds", {202, 403, 403, 202}, "{build:ns}"},
      {"GET /v1/builds/{id}", {ready, 404, 404, 404}},
      {"GET /v1/builds/{id}/logs", {ready, 404, 404, 404}},
      {"POST /v1/builds/{id}/cancel", {409, 404, 404, 404}, R"({"reason":"matrix"})"},
      {"POST /v1/builds/{id}/promote", {200, 404, 404, 404}, R"({"tag":"promoted"})"},
      {"POST /v1/builds/{id}/retry", {202, 404, 404, 404}, "{}"},
      {"POST /v1/builds:validate", {200, 200, 200, 200}, "{build:own}", "", true},
      {"POST /v1/builds:plan", {200, 200, 200, 200}, "{build:own}", "", true},
      {"POST /v1/builds:inspect-context", {200, 200, 200, 200}, "{build:own}", "", true},
      {"POST /v1/build-contexts", {415, 415, 415, 415}, "", "", true},  // JSON is no tar
      // templates
      {"GET /v1/templates", {200, 200, 200, 200}, "", "", true},
      {"POST /v1/templates:reserve", {201, 403, 403, 201}, "{reserve}"},
      {"GET /v1/templates/{ref}", {200, 404, 200, 404}},
      {"GET /v1/templates/{ref}/builds", {200, 404, 200, 404}},
      {"GET /v1/templates/{ref}/aliases", {200, 404, 200, 404}},
      {"POST /v1/templates/{ref}/tags", {200, 404, 403, 404}, R"({"tags":["matrix"]})"},
      {"DELETE /v1/templates/{ref}/tags/{tag}", {200, 404, 403, 404}},
      {"POST /v1/templates/{ref}/aliases", {201, 404, 403, 404}, R"({"alias":"matrix-nick"})"},
      {"DELETE /v1/templates/{ref}/aliases/{alias}", {200, 404, 403, 404}},
      {"PUT /v1/templates/{ref}/visibility", {200, 404, 403, 404}, R"({"visibility":"private"})"},
      {"POST /v1/templates/{ref}/rename", {200, 404, 403, 404}, R"({"name":"renamed"})"},
      {"DELETE /v1/templates/{ref}", {200, 404, 403, 404}},
      // machines
      {"POST /v1/machines", {201, 404, 201, 404}, "{machine}"},
      {"GET /v1/machines", {200, 200, 200, 200}, "", "", true},
      {"GET /v1/machines/{id}", {200, 404, 404, 404}},
      {"* /v1/machines/{id}/ports/{port}/{path...}", {200, 404, 404, 404}},
      {"GET /v1/machines/{id}/logs", {200, 404, 404, 404}},
      {"POST /v1/machines/{id}/commands", {200, 404, 404, 404}, R"({"cmd":"true","shell":true})"},
      {"GET /v1/machines/{id}/commands/{command_id}", {200, 404, 404, 404}},
      {"POST /v1/machines/{id}/commands/{command_id}/kill", {200, 404, 404, 404}},
      {"PUT /v1/machines/{id}/files", {200, 404, 404, 404}, "matrix bytes", "?path=/tmp/matrix"},
      {"GET /v1/machines/{id}/files", {200, 404, 404, 404}, "", "?path=/tmp/matrix"},
      {"GET /v1/machines/{id}/files:list", {200, 404, 404, 404}, "", "?path=/tmp"},
      {"DELETE /v1/machines/{id}/files", {200, 404, 404, 404}, "", "?path=/tmp/matrix"},
      {"POST /v1/machines/{id}/pause", {200, 404, 404, 404}},
      {"POST /v1/machines/{id}/resume", {200, 404, 404, 404}},
      {"POST /v1/machines/{id}/timeout", {200, 404, 404, 404}, R"({"timeout_ms":600000})"},
      {"DELETE /v1/machines/{id}", {200, 404, 404, 404}},
      // warm pools
      {"POST /v1/warm-pools", {201, 404, 201, 404}, "{pool}"},
      {"GET /v1/warm-pools", {200, 200, 200, 200}, "", "", true},
      {"GET /v1/warm-pools/{id}", {200, 404, 404, 404}},
      {"GET /v1/warm-pools/{id}/ready", {200, 404, 404, 404}, "", "?min_ready=0&timeout_ms=1000"},
      {"GET /v1/warm-pools/{id}/logs", {200, 404, 404, 404}},
      {"PATCH /v1/warm-pools/{id}", {200, 404, 404, 404}, R"({"max_ready":2})"},
      {"POST /v1/warm-pools/{id}/disable", {200, 404, 404, 404}},
      {"POST /v1/warm-pools/{id}/enable", {200, 404, 404, 404}},
      {"POST /v1/warm-pools/{id}/drain", {200, 404, 404, 404}},
      {"DELETE /v1/warm-pools/{id}", {200, 404, 404, 404}},
      // cache mounts: the caller's own only, whatever else exists
      {"POST /v1/cache-mounts:prune", {200, 200, 200, 200}, "", "", true},
  };

  // Every route has a row, every row a route.
  api::router table;
  {
    api_fixture in_process;
    table = in_process.server->routes();
  }
  std::map<std::string, const api::route*> by_key;
  for (auto& r : table.routes()) by_key[r.method + " " + r.pattern] = &r;
  std::set<std::string> with_row;
  for (auto& r : rules) {
    INFO("matrix row without a route: " << r.route);
    CHECK(by_key.count(r.route) == 1);
    with_row.insert(r.route);
  }
  for (auto& [key, r] : by_key) {
    INFO("route without a matrix row (add one to the rule table): " << key);
    CHECK(with_row.count(key) == 1);
  }
  REQUIRE(with_row.size() == by_key.size());

  // The target and body a row sends for a column.
  auto target_of = [&](const api::route& r, const matrix_row& rule, column c) {
    std::string t;
    bool builds = r.pattern.starts_with("/v1/builds");
    bool machines = r.pattern.starts_with("/v1/machines");
    for (auto& seg : r.segments) {
      std::string v = seg;
      if (seg == "{id}")
        v = builds ? col[c].build : machines ? col[c].machine : col[c].pool;
      else if (seg == "{ref}")
        v = col[c].tmpl;
      else if (seg == "{tag}")
        v = col[c].tag;
      else if (seg == "{alias}")
        v = col[c].alias;
      else if (seg == "{command_id}")
        v = col[c].command;
      else if (seg == "{port}")
        v = "8000";
      else if (seg == "{path...}")
        v = "index.html";
      t += "/" + v;
    }
    // Alpha's own rename and delete act on templates reserved for them.
    if (c == own && rule.route == "POST /v1/templates/{ref}/rename")
      t = replace_all(t, "alpha%2Fown", "alpha%2Fto-rename");
    if (c == own && rule.route == "DELETE /v1/templates/{ref}")
      t = replace_all(t, "alpha%2Fown", "alpha%2Fto-delete");
    return t + rule.query;
  };
  int serial = 0;
  auto body_of = [&](const matrix_row& rule, column c) -> std::string {
    const std::string ns = c == own ? "alpha" : c == missing ? "alpha" : "beta";
    const std::string tmpl[n_columns] = {"alpha/own", "beta/hidden", "beta/shown",
                                         "alpha/nothing-here"};
    ++serial;
    if (rule.body == "{build:ns}") return template_request(ns, "matrix-" + std::to_string(serial));
    if (rule.body == "{build:own}") return template_request("alpha", "own");
    if (rule.body == "{reserve}")
      return R"({"namespace":")" + ns + R"(","name":"reserved-)" + std::to_string(serial) + R"("})";
    if (rule.body == "{machine}") return R"({"template":")" + tmpl[c] + R"(","wait":false})";
    if (rule.body == "{pool}")
      return R"({"template":")" + tmpl[c] + R"(","name":"pool-)" + std::to_string(serial) +
             R"(","min_ready":0,"max_ready":1})";
    return rule.body;
  };

  size_t combinations = 0;
  std::vector<std::string> started;  // machines the matrix itself created
  auto check = [&](const matrix_row& rule, column c, const std::string& key, const std::string& who,
                   int want) {
    auto& r = *by_key.at(rule.route);
    auto method = r.method == "*" ? std::string("GET") : r.method;
    auto target = target_of(r, rule, c);
    auto body = body_of(rule, c);
    auto res = call(port, method, target, key, body);
    ++combinations;
    INFO(rule.route << " × " << (rule.resourceless ? "-" : column_names[c]) << " × " << who << ": "
                    << method << " " << target << " → " << res.status << " "
                    << res.body.substr(0, 300));
    CHECK(res.status == want);
    if (res.status >= 400) {
      CHECK(!json_str(res.body, "error.code").empty());
      CHECK(!json_str(res.body, "error.message").empty());
    }
    if (res.status == 401) CHECK_THAT(res.header("www-authenticate"), Catch::StartsWith("Bearer"));
    for (auto& secret : beta_private)
      if (!secret.empty() && target.find(secret) == std::string::npos &&
          body.find(secret) == std::string::npos)
        CHECK(res.body.find(secret) == std::string::npos);
    if (rule.route == "POST /v1/machines" && res.status == 201)
      started.push_back(json_str(res.body, "machine.id"));
  };

  for (auto& rule : rules) {
    auto& r = *by_key.at(rule.route);
    std::vector<column> cols = rule.resourceless
                                   ? std::vector<column>{own}
                                   : std::vector<column>{other_private, other_public, missing, own};
    for (auto c : cols) {
      int refused = r.options.public_route ? rule.want[c] : 401;
      check(rule, c, "", "no key", refused);
      // A public route that takes an optional key still refuses an unknown one.
      check(rule, c, bad_key, "bad key", r.options.key_optional ? 401 : refused);
    }
    for (auto c : cols) check(rule, c, alpha_key, "good key", rule.want[c]);
  }
  std::printf("tenant_matrix: %zu combinations over %zu routes\n", combinations, by_key.size());

  // Beta's things are as they were: its private template still private and
  // unchanged, its machine still running, its pools still there.
  auto beta_tmpl = call(port, "GET", "/v1/templates/beta%2Fhidden", beta_key);
  CHECK(beta_tmpl.status == 200);
  CHECK(json_str(beta_tmpl.body, "template.visibility") == "private");
  CHECK(beta_tmpl.body.find("matrix") == std::string::npos);
  CHECK(json_str(call(port, "GET", "/v1/templates/beta%2Fshown", beta_key).body,
                 "template.visibility") == "public");
  CHECK(json_str(call(port, "GET", "/v1/machines/" + col[other_private].machine, beta_key).body,
                 "machine.state") == "ready");
  CHECK(call(port, "GET", "/v1/warm-pools/" + col[other_private].pool, beta_key).status == 200);

  for (auto& m : started) (void)call(port, "DELETE", "/v1/machines/" + m, alpha_key);
  (void)call(port, "DELETE", "/v1/machines/" + col[other_private].machine, beta_key);
  CHECK(d.stop() == 0);
}
