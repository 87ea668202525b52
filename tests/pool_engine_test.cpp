// Warm pools through the embedded engine over real machines: refill to
// min_ready, checkout modes (hit, fallback, bypass, require), concurrent
// checkouts, failing starts (degraded, bounded retries), tenants, and delete
// draining to nothing left on the host. Needs root.
#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <string>

#include "nullspace/engine.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

const char* web_template =
    R"({"name":"web","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"mkdir -p /www && echo hello > /www/index.html"}],
  "start_cmd":"exec httpd -f -p 8000 -h /www",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":30000},
  "cpu_count":1,"memory_mb":256})";

// Starts in the build's start check (hostname "nullspace"), fails in every
// machine (hostname m-…).
const char* broken_template =
    R"({"name":"broken","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"true"}],
  "start_cmd":"case $(hostname) in m-*) echo cannot start; exit 3;; esac; exec httpd -f -p 8000 -h /",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":5000},
  "cpu_count":1,"memory_mb":256})";

std::unique_ptr<engine> open_pools(const test::temp_dir& dir) {
  auto o = test::sandbox_options(dir);
  o.machines.network_range = "10.78.0.0/16";
  return test::open_sandbox(o);
}

pool_spec spec(const std::string& tmpl, const std::string& name, uint32_t min, uint32_t max) {
  pool_spec s;
  s.template_ref = tmpl;
  s.name = name;
  s.min_ready = min;
  s.max_ready = max;
  return s;
}

machine_request from_pool(const std::string& pool, const std::string& mode) {
  machine_request r;
  r.warm_pool = pool;
  r.warm_pool_mode = mode;
  return r;
}

pool_counts counts(engine& eng, const std::string& pool) {
  auto p = eng.get_pool(pool);
  REQUIRE_OK(p);
  return p->record.counts;
}

}  // namespace

TEST_CASE("a warm pool refills to min_ready and serves hit, fallback, bypass and require",
          "[pools]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = open_pools(dir);
  REQUIRE(test::build(*eng, web_template).record.status == build_status::ready);

  auto p = eng->create_pool(spec("web", "web-pool", 2, 3));
  REQUIRE_OK(p);
  CHECK(p->record.serving_build != "");
  CHECK(eng->create_pool(spec("web", "web-pool", 1, 1)).error().code == errc::conflict);
  REQUIRE_OK(eng->wait_until_pool_ready("web-pool", 2, 120s));

  std::set<std::string> ids;
  // hit: a ready machine leaves the pool; the pool refills behind it.
  for (int i = 0; i < 3; ++i) {
    REQUIRE_OK(eng->wait_until_pool_ready("web-pool", 2, 120s));
    auto m = eng->create_machine(from_pool("web-pool", "prefer"));
    REQUIRE_OK(m);
    CHECK(m->record.checkout.result == "hit");
    CHECK(m->record.checkout.pool_id == p->record.id);
    CHECK(m->record.pool_id.empty());
    CHECK(m->record.state == machine_state::ready);
    CHECK(ids.insert(m->record.id).second);
  }
  test::eventually(
      [&] {
        auto c = counts(*eng, "web-pool");
        return c.ready == 2 && c.in_use == 3 && c.starting == 0;
      },
      "the pool settles back at 2 ready with 3 in use");

  // bypass: always cold, from the pool's template.
  auto b = eng->create_machine(from_pool("web-pool", "bypass"));
  REQUIRE_OK(b);
  CHECK(b->record.checkout.result == "bypass");
  ids.insert(b->record.id);

  // a request with envs cannot take a ready machine: fallback.
  auto f = from_pool("web-pool", "prefer");
  f.envs = {{"A", "1"}};
  auto fm = eng->create_machine(f);
  REQUIRE_OK(fm);
  CHECK(fm->record.checkout.result == "fallback");
  CHECK(fm->record.checkout.reason == "request_overrides");
  ids.insert(fm->record.id);

  // disabled: prefer falls back, require is unavailable with the counts.
  auto disabled = eng->disable_pool("web-pool");
  REQUIRE_OK(disabled);
  auto d = eng->create_machine(from_pool("web-pool", "prefer"));
  REQUIRE_OK(d);
  CHECK(d->record.checkout.result == "fallback");
  CHECK(d->record.checkout.reason == "disabled");
  ids.insert(d->record.id);
  auto req = from_pool("web-pool", "require");
  req.warm_pool_wait_ms = 200;
  auto r = eng->create_machine(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::unavailable);
  CHECK(r.error().reason == "warm_pool_empty");
  CHECK(r.error().message.find("ready 2") != std::string::npos);
  CHECK(r.error().counts.front() == std::pair<std::string, uint64_t>{"ready", 2});
  auto enabled = eng->enable_pool("web-pool");
  REQUIRE_OK(enabled);

  // two threads checking out at once never get the same machine.
  REQUIRE_OK(eng->wait_until_pool_ready("web-pool", 2, 120s));
  auto take = [&] { return eng->create_machine(from_pool("web-pool", "require")); };
  auto a1 = std::async(std::launch::async, take);
  auto a2 = std::async(std::launch::async, take);
  auto m1 = a1.get(), m2 = a2.get();
  REQUIRE_OK(m1);
  REQUIRE_OK(m2);
  CHECK(m1->record.id != m2->record.id);
  CHECK(m1->record.checkout.result == "hit");
  CHECK(m2->record.checkout.result == "hit");
  ids.insert(m1->record.id);
  ids.insert(m2->record.id);

  // another tenant sees no pool.
  auto other = parse_tenant_id("globex").value();
  CHECK(eng->get_pool("web-pool", other).error().code == errc::not_found);
  CHECK(eng->get_pool(p->record.id, other).error().code == errc::not_found);
  CHECK(eng->create_machine(from_pool("web-pool", "prefer"), other).error().code ==
        errc::not_found);

  // delete drains: no pool machine is left; checked-out ones live on.
  auto del = eng->delete_pool("web-pool");
  REQUIRE_OK(del);
  CHECK(del->record.counts.ready == 0);
  CHECK(eng->get_pool("web-pool").error().code == errc::not_found);
  CHECK(eng->list_pools()->empty());
  std::set<std::string> pool_machines;
  machine_list_options all;
  all.limit = 500;
  auto page = eng->list_machines(all);
  REQUIRE_OK(page);
  for (auto& m : page->machines) {
    if (!m.record.pool_id.empty()) CHECK(is_terminal(m.record.state));
    if (!is_terminal(m.record.state)) CHECK(ids.count(m.record.id) == 1);
    pool_machines.insert(m.record.id);
  }
  for (auto& id : ids) {
    auto s = eng->stop_machine(parse_machine_id(id).value());
    INFO(id);
    REQUIRE_OK(s);
  }
  auto t = test::traces(eng->options().data_dir, pool_machines);
  CHECK(t == test::host_traces{});
  INFO(test::describe(t));
}

TEST_CASE("a warm pool whose machines cannot start is degraded after bounded retries", "[pools]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = open_pools(dir);
  REQUIRE(test::build(*eng, broken_template).record.status == build_status::ready);
  auto created = eng->create_pool(spec("broken", "broken-pool", 1, 1));
  REQUIRE_OK(created);
  test::eventually(
      [&] { return eng->get_pool("broken-pool")->record.state == pool_state::degraded; },
      "the pool is degraded");
  auto p = eng->get_pool("broken-pool");
  REQUIRE_OK(p);
  CHECK(p->record.reason == "start_failed");
  CHECK(p->record.counts.failed == 3);  // three in a row, then no more starts
  CHECK(p->json().find("start_failed") != std::string::npos);
  auto w = eng->wait_until_pool_ready("broken-pool", 1, 60s);
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == errc::conflict);
  auto fb = eng->create_machine(from_pool("broken-pool", "require"));
  CHECK(fb.error().code == errc::unavailable);
  auto del = eng->delete_pool("broken-pool");
  REQUIRE_OK(del);
}
