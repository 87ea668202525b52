// Warm pools over real HTTP (a real server on loopback over a sandboxed
// engine, real machines), beyond docs/API.md's examples: the lifecycle
// routes, checkouts through POST /v1/machines (hit, fallback, bypass, require's
// 503 with counts), the ready route (200, 408 with counts, 409 at once when
// degraded), tenants, bad bodies — and nullspaced killed with -9 while one of
// its pool's machines is checked out; PATCH, the pool's log and its /metrics
// series.
#include <signal.h>

#include <cstring>
#include <set>

#include "api/router.hpp"
#include "api_fixture.hpp"
#include "catch2/catch.hpp"
#include "machine_support.hpp"
#include "pool_templates.hpp"
#include "sandbox_support.hpp"
#include "tests/daemon_process.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

// This file's machine addresses (other suites use 10.78 to 10.88).
constexpr const char* pool_range = "10.77.0.0/16";

const std::string alpha_key = "alpha-pool-key-0123456789";
const std::string beta_key = "beta-pool-key-9876543210";

const char* web_template = test::pool_web_template;
const char* broken_template = test::pool_broken_template;

http_headers as(const std::string& key) {
  http_headers h{{"Content-Type", "application/json"}};
  if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
  return h;
}

http_response call(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& key, const std::string& body = {}, http_headers extra = {}) {
  http_connection c(port);
  auto h = as(key);
  h.insert(h.end(), extra.begin(), extra.end());
  c.send_request(method, target, body, h);
  return c.read_response();
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// A server with API keys for two tenants (alpha, beta) over a sandboxed engine.
struct pool_server {
  temp_dir scratch;
  api_fixture f;

  static engine_options engine_opts(const temp_dir& scratch) {
    auto o = sandbox_options(scratch);
    o.machines.network_range = pool_range;
    o.tenants = {"alpha", "beta"};
    return o;
  }
  static api::api_options api_opts() {
    api::api_options o;
    auto keys = api::key_table::parse(alpha_key + " alpha\n" + beta_key + " beta\n", "test");
    REQUIRE(keys.ok());
    o.keys = std::move(keys.value());
    return o;
  }
  pool_server() : f(api_opts(), engine_opts(scratch)) {}

  // At the end, passed or not: no pool and no machine is left running.
  ~pool_server() {
    for (auto* t : {"alpha", "beta"}) {
      auto tenant = as_tenant(t);
      if (auto pools = f.eng->list_pools(tenant))
        for (auto& p : pools.value()) (void)f.eng->delete_pool(p.record.id, tenant);
      machine_list_options all;
      all.limit = 500;
      if (auto page = f.eng->list_machines(all, tenant))
        for (auto& m : page->machines)
          if (!is_terminal(m.record.state)) (void)f.eng->stop_machine(m.id(), tenant);
    }
  }

  http_response alpha(const std::string& method, const std::string& target,
                      const std::string& body = {}) {
    return call(f.port, method, target, alpha_key, body);
  }
  http_response beta(const std::string& method, const std::string& target,
                     const std::string& body = {}) {
    return call(f.port, method, target, beta_key, body);
  }
  void build(const char* request) {
    auto submitted = alpha("POST", "/v1/builds", request);
    REQUIRE(submitted.status == 202);
    auto done = wait_terminal(f.port, json_str(submitted.body, "build.id"), as(alpha_key));
    REQUIRE(json_str(done, "build.status") == "ready");
  }
  // Every machine id the tenant has (any state), for the traces check.
  std::set<std::string> machine_ids() {
    std::set<std::string> ids;
    machine_list_options all;
    all.limit = 500;
    auto page = f.eng->list_machines(all, as_tenant("alpha"));
    REQUIRE_OK(page);
    for (auto& m : page->machines) ids.insert(m.record.id);
    return ids;
  }
};

// The ready route, with a wait bounded below the test client's own 60 s.
std::string ready_target(const std::string& pool, int min_ready, int timeout_ms = 55'000) {
  return "/v1/warm-pools/" + pool + "/ready?min_ready=" + std::to_string(min_ready) +
         "&timeout_ms=" + std::to_string(timeout_ms);
}

}  // namespace

TEST_CASE("warm pools over HTTP: lifecycle, checkouts, the ready route, tenants, bad bodies",
          "[pool_http]") {
  REQUIRE_MACHINES();
  pool_server s;
  s.build(web_template);

  auto created = s.alpha("POST", "/v1/warm-pools",
                         R"({"template":"web","name":"web-pool","min_ready":2,"max_ready":3})");
  REQUIRE(created.status == 201);
  auto id = json_str(created.body, "warm_pool.id");
  CHECK(id.starts_with("wp_"));
  CHECK(json_str(created.body, "warm_pool.name") == "web-pool");
  CHECK(json_str(created.body, "warm_pool.state") == "enabled");
  CHECK(json_str(created.body, "warm_pool.version_policy") == "track_tag");
  CHECK(json_u64(created.body, "warm_pool.min_ready") == 2);
  CHECK(json_u64(created.body, "warm_pool.counts.failed") == 0);
  CHECK(!json_str(created.body, "warm_pool.serving_build").empty());
  CHECK(s.alpha("POST", "/v1/warm-pools", R"({"template":"web","name":"web-pool"})").status == 409);

  auto ready = s.alpha("GET", ready_target("web-pool", 2));
  REQUIRE(ready.status == 200);
  CHECK(json_u64(ready.body, "warm_pool.counts.ready") >= 2);

  // By id and by name; the list.
  CHECK(json_str(s.alpha("GET", "/v1/warm-pools/" + id).body, "warm_pool.name") == "web-pool");
  CHECK(json_str(s.alpha("GET", "/v1/warm-pools/web-pool").body, "warm_pool.id") == id);
  auto list = s.alpha("GET", "/v1/warm-pools");
  REQUIRE(list.status == 200);
  CHECK(json_str(list.body, "warm_pools[0].id") == id);
  CHECK(contains(list.body, "\"next_cursor\":null"));

  std::set<std::string> handed_out;
  // hit: a ready machine of the pool, checked out.
  auto hit = s.alpha("POST", "/v1/machines", R"({"template":"web","warm_pool":"web-pool"})");
  REQUIRE(hit.status == 201);
  CHECK(json_str(hit.body, "machine.state") == "ready");
  CHECK(json_str(hit.body, "machine.warm_pool_checkout.result") == "hit");
  CHECK(json_str(hit.body, "machine.warm_pool_checkout.pool_id") == id);
  CHECK(json_u64(hit.body, "machine.warm_pool_checkout.waited_ms") != UINT64_MAX);
  CHECK(contains(hit.body, "\"reason\":null"));
  handed_out.insert(json_str(hit.body, "machine.id"));

  // bypass: cold, from the pool's template (the request names none).
  auto bypass =
      s.alpha("POST", "/v1/machines", R"({"warm_pool":"web-pool","warm_pool_mode":"bypass"})");
  REQUIRE(bypass.status == 201);
  CHECK(json_str(bypass.body, "machine.warm_pool_checkout.result") == "bypass");
  CHECK(json_str(bypass.body, "machine.template") == "web");
  CHECK(handed_out.insert(json_str(bypass.body, "machine.id")).second);

  // fallback: envs cannot go into a machine that is already running.
  auto fallback = s.alpha("POST", "/v1/machines",
                          R"({"template":"web","warm_pool":"web-pool","envs":{"A":"1"}})");
  REQUIRE(fallback.status == 201);
  CHECK(json_str(fallback.body, "machine.warm_pool_checkout.result") == "fallback");
  CHECK(json_str(fallback.body, "machine.warm_pool_checkout.reason") == "request_overrides");
  CHECK(handed_out.insert(json_str(fallback.body, "machine.id")).second);

  // The pool refills to 2; 3 are never kept ready (min_ready is 2): 408 with counts.
  REQUIRE(s.alpha("GET", ready_target("web-pool", 2)).status == 200);
  auto late = s.alpha("GET", ready_target("web-pool", 3, 300));
  CHECK(late.status == 408);
  CHECK(json_str(late.body, "error.code") == "request_timeout");
  CHECK(json_u64(late.body, "error.counts.ready") == 2);
  CHECK(json_u64(late.body, "error.counts.in_use") == 1);
  // More than max_ready can never be reached: 400 at once.
  auto never = s.alpha("GET", ready_target("web-pool", 4));
  CHECK(never.status == 400);
  CHECK(json_str(never.body, "error.field") == "min_ready");

  // disabled: prefer falls back; require is 503 warm_pool_empty with the counts.
  auto disabled = s.alpha("POST", "/v1/warm-pools/web-pool/disable");
  REQUIRE(disabled.status == 200);
  CHECK(json_str(disabled.body, "warm_pool.state") == "disabled");
  auto prefer = s.alpha("POST", "/v1/machines", R"({"template":"web","warm_pool":"web-pool"})");
  REQUIRE(prefer.status == 201);
  CHECK(json_str(prefer.body, "machine.warm_pool_checkout.result") == "fallback");
  CHECK(json_str(prefer.body, "machine.warm_pool_checkout.reason") == "disabled");
  CHECK(handed_out.insert(json_str(prefer.body, "machine.id")).second);
  auto empty = s.alpha(
      "POST", "/v1/machines",
      R"({"template":"web","warm_pool":"web-pool","warm_pool_mode":"require","warm_pool_wait_ms":200})");
  CHECK(empty.status == 503);
  CHECK(json_str(empty.body, "error.code") == "warm_pool_empty");
  CHECK(json_str(empty.body, "error.field") == "warm_pool");
  CHECK(json_u64(empty.body, "error.counts.ready") == 2);
  CHECK(json_u64(empty.body, "error.counts.in_use") == 1);
  CHECK(json_u64(empty.body, "error.counts.starting") == 0);
  CHECK(json_u64(empty.body, "error.counts.failed") == 0);
  auto enabled = s.alpha("POST", "/v1/warm-pools/" + id + "/enable");
  REQUIRE(enabled.status == 200);
  CHECK(json_str(enabled.body, "warm_pool.state") == "enabled");
  auto required =
      s.alpha("POST", "/v1/machines", R"({"warm_pool":"web-pool","warm_pool_mode":"require"})");
  REQUIRE(required.status == 201);
  CHECK(json_str(required.body, "machine.warm_pool_checkout.result") == "hit");
  CHECK(handed_out.insert(json_str(required.body, "machine.id")).second);

  SECTION("another tenant's pool is 404 on every pool route, and it is untouched") {
    size_t checked = 0;
    for (auto& r : s.f.server->routes().routes()) {
      // PATCH is checked in its own test case below.
      if (!r.pattern.starts_with("/v1/warm-pools/{id}") || r.method == "PATCH") continue;
      for (auto& name : {std::string("web-pool"), id}) {
        auto target = "/v1/warm-pools/" + name + r.pattern.substr(strlen("/v1/warm-pools/{id}"));
        INFO(r.method << " " << target);
        auto res = s.beta(r.method, target);
        CHECK(res.status == 404);
        // Nothing but what was asked: asked by name, the id never shows (and
        // the other way round).
        CHECK(!contains(res.body, name == id ? std::string("web-pool") : id));
        ++checked;
      }
    }
    CHECK(checked == 14);
    CHECK(s.beta("GET", "/v1/warm-pools").body == R"({"warm_pools":[],"next_cursor":null})");
    auto taken = s.beta("POST", "/v1/machines", R"({"template":"web","warm_pool":"web-pool"})");
    CHECK(taken.status == 404);
    auto mine = s.alpha("GET", "/v1/warm-pools/web-pool");
    CHECK(json_str(mine.body, "warm_pool.state") == "enabled");
  }

  SECTION("bad requests are 400 naming the field; the server keeps going") {
    auto bad = [&](const std::string& body) { return s.alpha("POST", "/v1/warm-pools", body); };
    auto field_of = [&](const std::string& body) {
      auto r = bad(body);
      INFO(body << " -> " << r.status << " " << r.body);
      CHECK(r.status == 400);
      return json_str(r.body, "error.field");
    };
    CHECK(field_of("{}") == "template");
    CHECK(field_of(R"({"template":"web"})") == "name");
    CHECK(field_of(R"({"template":"web","name":"p2","colour":"red"})") == "colour");
    CHECK(field_of(R"({"template":"web","name":"p2","min_ready":"two"})") == "min_ready");
    CHECK(field_of(R"({"template":"web","name":"p2","min_ready":-1})") == "min_ready");
    CHECK(field_of(R"({"template":"web","name":"p2","max_ready":0})") == "max_ready");
    CHECK(field_of(R"({"template":"web","name":"p2","min_ready":5,"max_ready":2})") == "min_ready");
    CHECK(field_of(R"({"template":"web","name":"p2","version_policy":"latest"})") ==
          "version_policy");
    CHECK(field_of(R"({"template":"web","name":"Not A Name"})") == "name");
    CHECK(field_of(R"({"template":"web","name":"p2","cpu_count":100000})") == "cpu_count");
    CHECK(field_of(R"({"template":"web","name":"p2","max_idle_ms":true})") == "max_idle_ms");
    CHECK(bad("not json").status == 400);
    CHECK(bad("[1]").status == 400);
    http_connection plain(s.f.port);
    plain.send_request("POST", "/v1/warm-pools", R"({"template":"web","name":"p2"})",
                       {{"Authorization", "Bearer " + alpha_key}, {"Content-Type", "text/plain"}});
    CHECK(plain.read_response().status == 415);
    CHECK(bad(R"({"template":"nope","name":"p2"})").status == 404);
    // PATCH bodies are checked before the engine sees them.
    auto patch = [&](const std::string& body) {
      return s.alpha("PATCH", "/v1/warm-pools/web-pool", body);
    };
    CHECK(json_str(patch("{}").body, "error.field") == "body");
    CHECK(json_str(patch(R"({"name":"other"})").body, "error.field") == "name");
    CHECK(json_str(patch(R"({"min_ready":3,"max_ready":1})").body, "error.field") == "min_ready");
    CHECK(json_str(patch(R"({"version_policy":7})").body, "error.field") == "version_policy");
    // The ready and logs routes' parameters.
    CHECK(s.alpha("GET", "/v1/warm-pools/web-pool/ready?min_ready=x").status == 400);
    CHECK(s.alpha("GET", "/v1/warm-pools/web-pool/ready?timeout_ms=600001").status == 400);
    CHECK(s.alpha("GET", "/v1/warm-pools/web-pool/logs?follow=maybe").status == 400);
    CHECK(s.alpha("GET", "/v1/warm-pools/nope").status == 404);
    CHECK(s.alpha("POST", "/v1/machines", R"({"template":"web","warm_pool":"nope"})").status ==
          404);
    CHECK(s.alpha("POST", "/v1/machines",
                  R"({"template":"web","warm_pool":"web-pool","warm_pool_mode":"always"})")
              .status == 400);
    CHECK(s.alpha("GET", "/v1/warm-pools/web-pool").status == 200);
  }

  // drain stops the ready machines; delete removes the pool. Checked-out
  // machines live on.
  auto drained = s.alpha("POST", "/v1/warm-pools/web-pool/drain");
  REQUIRE(drained.status == 200);
  CHECK(json_str(drained.body, "warm_pool.state") == "disabled");
  CHECK(json_u64(drained.body, "warm_pool.counts.ready") == 0);
  auto deleted = s.alpha("DELETE", "/v1/warm-pools/" + id);
  REQUIRE(deleted.status == 200);
  CHECK(json_str(deleted.body, "warm_pool.id") == id);
  CHECK(s.alpha("GET", "/v1/warm-pools/" + id).status == 404);
  CHECK(s.alpha("GET", "/v1/warm-pools").body == R"({"warm_pools":[],"next_cursor":null})");
  for (auto& m : handed_out) {
    INFO(m);
    auto got = s.alpha("GET", "/v1/machines/" + m);
    CHECK(json_str(got.body, "machine.state") == "ready");
    CHECK(s.alpha("DELETE", "/v1/machines/" + m).status == 200);
  }
  check_no_traces(s.f.eng->options().data_dir, s.machine_ids());
}

TEST_CASE("a warm pool whose machines cannot start: the ready route answers 409 with counts",
          "[pool_http]") {
  REQUIRE_MACHINES();
  pool_server s;
  s.build(broken_template);
  auto created = s.alpha("POST", "/v1/warm-pools", R"({"template":"broken","name":"broken-pool"})");
  REQUIRE(created.status == 201);
  // The wait ends as soon as the pool is degraded (three failed starts).
  auto waited = s.alpha("GET", ready_target("broken-pool", 1));
  CHECK(waited.status == 409);
  CHECK(json_str(waited.body, "error.code") == "conflict");
  CHECK(contains(json_str(waited.body, "error.message"), "degraded"));
  CHECK(json_u64(waited.body, "error.counts.failed") == 3);
  CHECK(json_u64(waited.body, "error.counts.ready") == 0);
  // Now at once.
  auto again = s.alpha("GET", ready_target("broken-pool", 1));
  CHECK(again.status == 409);
  auto got = s.alpha("GET", "/v1/warm-pools/broken-pool");
  CHECK(json_str(got.body, "warm_pool.state") == "degraded");
  CHECK(json_str(got.body, "warm_pool.reason.code") == "start_failed");
  CHECK(contains(got.body, "cannot start"));
  auto required =
      s.alpha("POST", "/v1/machines", R"({"warm_pool":"broken-pool","warm_pool_mode":"require"})");
  CHECK(required.status == 503);
  CHECK(json_str(required.body, "error.code") == "warm_pool_empty");
  CHECK(json_u64(required.body, "error.counts.failed") == 3);
  CHECK(s.alpha("DELETE", "/v1/warm-pools/broken-pool").status == 200);
}

TEST_CASE("nullspaced killed with -9 keeps its warm pool and the machine checked out of it",
          "[pool_http]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  std::vector<std::string> args{"--listen",
                                "127.0.0.1:0",
                                "--data-dir",
                                data,
                                "--isolation",
                                "sandbox",
                                "--machine-network-range",
                                pool_range};
  if (auto* init = std::getenv("NULLSPACE_INIT")) {
    args.push_back("--machine-init");
    args.push_back(init);
  }
  std::string pool_id, taken;
  std::set<std::string> ready_before;  // the pool's ready machines at the kill
  {
    daemon_process d(args, dir.sub("err1"));
    auto port = d.port();
    REQUIRE(port != 0);
    auto b = call(port, "POST", "/v1/builds", "", web_template);
    REQUIRE(b.status == 202);
    REQUIRE(json_str(wait_terminal(port, json_str(b.body, "build.id")), "build.status") == "ready");
    auto p = call(port, "POST", "/v1/warm-pools", "",
                  R"({"template":"web","name":"web-pool","min_ready":2,"max_ready":2})");
    REQUIRE(p.status == 201);
    pool_id = json_str(p.body, "warm_pool.id");
    REQUIRE(call(port, "GET", ready_target("web-pool", 2), "").status == 200);
    auto m = call(port, "POST", "/v1/machines", "",
                  R"({"warm_pool":"web-pool","warm_pool_mode":"require"})");
    REQUIRE(m.status == 201);
    taken = json_str(m.body, "machine.id");
    REQUIRE(
        call(port, "PUT", "/v1/machines/" + taken + "/files?path=/tmp/before", "", "kept").status ==
        200);
    // Refilled: two ready again, one in use.
    auto settled = call(port, "GET", ready_target("web-pool", 2), "");
    REQUIRE(settled.status == 200);
    CHECK(json_u64(settled.body, "warm_pool.counts.in_use") == 1);
    auto all = call(port, "GET", "/v1/machines?state=ready", "");
    for (auto& id : std::set<std::string>{json_str(all.body, "machines[0].id"),
                                          json_str(all.body, "machines[1].id"),
                                          json_str(all.body, "machines[2].id")})
      if (id != taken && !id.empty()) ready_before.insert(id);
    CHECK(ready_before.size() == 2);
    kill(d.pid, SIGKILL);
    CHECK(d.wait_exit() == 128 + SIGKILL);
  }
  daemon_process d(args, dir.sub("err2"));
  auto port = d.port();
  REQUIRE(port != 0);
  // The pool is back with its ready machines and the checked-out one in use.
  auto ready = call(port, "GET", ready_target(pool_id, 2), "");
  REQUIRE(ready.status == 200);
  CHECK(json_str(ready.body, "warm_pool.state") == "enabled");
  auto got = call(port, "GET", "/v1/warm-pools/web-pool", "");
  CHECK(json_u64(got.body, "warm_pool.counts.ready") == 2);
  CHECK(json_u64(got.body, "warm_pool.counts.in_use") == 1);
  // The checked-out machine still runs and still has its file.
  auto ran = call(port, "POST", "/v1/machines/" + taken + "/commands", "",
                  R"({"cmd":["cat","/tmp/before"]})");
  REQUIRE(ran.status == 200);
  CHECK(json_str(ran.body, "stdout") == "kept");
  // No machine is handed out twice: the next checkouts are the adopted ones.
  std::set<std::string> handed_out{taken};
  for (int i = 0; i < 2; ++i) {
    auto m = call(port, "POST", "/v1/machines", "",
                  R"({"warm_pool":"web-pool","warm_pool_mode":"require"})");
    REQUIRE(m.status == 201);
    auto id = json_str(m.body, "machine.id");
    CHECK(json_str(m.body, "machine.warm_pool_checkout.result") == "hit");
    CHECK(handed_out.insert(id).second);
    CHECK(ready_before.count(id) == 1);
  }
  // Everything stopped: the pool (its refills too), then the checked-out machines.
  REQUIRE(call(port, "DELETE", "/v1/warm-pools/web-pool", "").status == 200);
  std::set<std::string> ids;
  auto all = call(port, "GET", "/v1/machines?limit=500", "");
  for (size_t i = 0;; ++i) {
    auto id = json_str(all.body, "machines[" + std::to_string(i) + "].id");
    if (id.empty()) break;
    ids.insert(id);
  }
  for (auto& id : handed_out) {
    auto stopped = call(port, "DELETE", "/v1/machines/" + id, "");
    CHECK(json_str(stopped.body, "machine.state") == "stopped");
  }
  kill(d.pid, SIGTERM);
  CHECK(d.wait_exit() == 0);
  check_no_traces(data, ids);
}

TEST_CASE("warm pools over HTTP: PATCH, the pool's log and its /metrics series", "[pool_http]") {
  REQUIRE_MACHINES();
  pool_server s;
  s.build(web_template);
  auto created = s.alpha("POST", "/v1/warm-pools",
                         R"({"template":"web","name":"web-pool","min_ready":1,"max_ready":3})");
  REQUIRE(created.status == 201);
  auto id = json_str(created.body, "warm_pool.id");

  // PATCH: a new target, reached.
  auto patched = s.alpha("PATCH", "/v1/warm-pools/web-pool", R"({"min_ready":2})");
  REQUIRE(patched.status == 200);
  CHECK(json_u64(patched.body, "warm_pool.min_ready") == 2);
  CHECK(json_u64(patched.body, "warm_pool.max_ready") == 3);
  REQUIRE(s.alpha("GET", ready_target("web-pool", 2)).status == 200);
  auto policy = s.alpha("PATCH", "/v1/warm-pools/" + id,
                        R"({"version_policy":"pinned_build","max_idle_ms":600000})");
  REQUIRE(policy.status == 200);
  CHECK(json_str(policy.body, "warm_pool.version_policy") == "pinned_build");
  CHECK(json_u64(policy.body, "warm_pool.max_idle_ms") == 600000);
  CHECK(s.beta("PATCH", "/v1/warm-pools/web-pool", R"({"min_ready":1})").status == 404);
  CHECK(s.alpha("PATCH", "/v1/warm-pools/web-pool", R"({"max_ready":1})").status == 400);

  auto hit = s.alpha("POST", "/v1/machines", R"({"warm_pool":"web-pool"})");
  REQUIRE(hit.status == 201);
  REQUIRE(json_str(hit.body, "machine.warm_pool_checkout.result") == "hit");
  REQUIRE(s.alpha("GET", ready_target("web-pool", 2)).status == 200);

  // The log: a JSON page, NDJSON, and SSE resumed with Last-Event-ID.
  auto page = call(s.f.port, "GET", "/v1/warm-pools/web-pool/logs?offset=0&limit=2", alpha_key, "",
                   {{"Accept", "application/json"}});
  REQUIRE(page.status == 200);
  CHECK(json_u64(page.body, "logs[0].offset") == 0);
  CHECK(json_u64(page.body, "next_offset") == 2);
  auto nd = s.alpha("GET", "/v1/warm-pools/web-pool/logs");
  REQUIRE(nd.status == 200);
  CHECK(nd.header("content-type") == "application/x-ndjson");
  CHECK(contains(nd.body, "\"offset\":0"));
  http_connection follow(s.f.port);
  auto h = as(alpha_key);
  h.emplace_back("Accept", "text/event-stream");
  h.emplace_back("Last-Event-ID", "0");
  follow.send_request("GET", "/v1/warm-pools/" + id + "/logs?follow=true", "", h);
  REQUIRE(follow.read_head().status == 200);
  auto first = follow.next_event();
  REQUIRE(first);
  CHECK(first->id == "1");
  CHECK(first->event == "log");
  CHECK(call(s.f.port, "GET", "/v1/warm-pools/web-pool/logs", beta_key).status == 404);

  // /metrics: the pool's machines by state, checkouts by result, the histogram.
  auto metrics = s.alpha("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(
      contains(metrics.body,
               R"(nullspace_warm_pool_machines{pool="web-pool",tenant="alpha",state="ready"} 2)"));
  CHECK(
      contains(metrics.body,
               R"(nullspace_warm_pool_machines{pool="web-pool",tenant="alpha",state="in_use"} 1)"));
  CHECK(contains(metrics.body, R"(nullspace_warm_pool_checkouts_total{result="hit"} 1)"));
  CHECK(contains(metrics.body, "nullspace_warm_pool_checkout_seconds_count 1"));

  // Deleting the pool ends its followed log with the pool.
  REQUIRE(s.alpha("DELETE", "/v1/warm-pools/web-pool").status == 200);
  std::optional<sse_event> last;
  while (auto e = follow.next_event()) last = e;
  REQUIRE(last);
  CHECK(last->event == "end");
  CHECK(json_str(last->data, "id") == id);
  CHECK(s.alpha("DELETE", "/v1/machines/" + json_str(hit.body, "machine.id")).status == 200);
}
