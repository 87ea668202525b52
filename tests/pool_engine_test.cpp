// Warm pools through the embedded engine over real machines: refill to
// min_ready, checkout modes (hit, fallback, bypass, require), concurrent
// checkouts, failing starts (degraded, bounded retries), tenants, and delete
// draining to nothing left on the host. Needs root.
#include <catch2/catch.hpp>

#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "nullspace/engine.hpp"
#include "tests/machine_support.hpp"
#include "tests/pool_templates.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

const char* web_template = test::pool_web_template;
const char* broken_template = test::pool_broken_template;

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

// The second build of "web": another page, so another build id.
const char* web_template_v2 =
    R"({"name":"web","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"mkdir -p /www && echo version two > /www/index.html"}],
  "start_cmd":"exec httpd -f -p 8000 -h /www",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":30000},
  "cpu_count":1,"memory_mb":256})";

// Every machine of the tenant (newest first).
std::vector<machine_record> all_machines(engine& eng) {
  machine_list_options all;
  all.limit = 500;
  auto page = eng.list_machines(all);
  REQUIRE_OK(page);
  std::vector<machine_record> out;
  for (auto& m : page->machines) out.push_back(m.record);
  return out;
}

// The ready machines a pool holds now.
std::vector<machine_record> held_by(engine& eng, const std::string& pool_id) {
  std::vector<machine_record> out;
  for (auto& m : all_machines(eng))
    if (m.pool_id == pool_id && m.state == machine_state::ready) out.push_back(m);
  return out;
}

// The messages of a pool's log.
std::vector<std::string> pool_log(engine& eng, const std::string& pool) {
  auto raw = eng.read_pool_log(pool, log_offset{}, 10000);
  REQUIRE_OK(raw);
  std::vector<std::string> out;
  for (auto& r : *raw) {
    log_entry e;
    REQUIRE(decode_log_entry(r, e));
    out.push_back(e.message);
  }
  return out;
}

bool logged(engine& eng, const std::string& pool, const std::string& needle) {
  for (auto& m : pool_log(eng, pool))
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

command_request shell(const std::string& cmd) {
  command_request r;
  r.cmd = cmd;
  r.shell = true;
  return r;
}

// Log entries are appended after the change they tell of: wait for one.
void wait_logged(engine& eng, const std::string& pool, const std::string& needle) {
  test::eventually([&] { return logged(eng, pool, needle); }, pool + "'s log has: " + needle);
}

machine_id mid(const std::string& id) {
  return parse_machine_id(id).value();
}

// Stops the machines and checks that nothing of them (nor of the pools'
// machines, all ended by now) is left on the host.
void stop_all_and_check_traces(engine& eng) {
  std::set<std::string> ids;
  for (auto& m : all_machines(eng)) {
    ids.insert(m.id);
    if (!is_terminal(m.state)) REQUIRE_OK(eng.stop_machine(mid(m.id)));
  }
  test::check_no_traces(eng.options().data_dir, ids);
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

  // A checkout's deadline further away than a poll's reach is not armed in the
  // checkout's path (no clock-thread wake-up there): a later poll arms it, and
  // the machine still stops at it.
  REQUIRE_OK(eng->wait_until_pool_ready("web-pool", 2, 120s));
  auto timed = from_pool("web-pool", "prefer");
  timed.timeout_ms = 6500;  // > the 6 s ahead of a deadline a poll arms it
  auto tm = eng->create_machine(timed);
  REQUIRE_OK(tm);
  CHECK(tm->record.checkout.result == "hit");
  ids.insert(tm->record.id);
  test::eventually(
      [&] {
        auto v = eng->get_machine(mid(tm->record.id));
        return v.ok() && is_terminal(v->record.state);
      },
      "the checked-out machine stops at its deadline");
  auto stopped = eng->get_machine(mid(tm->record.id));
  REQUIRE_OK(stopped);
  CHECK(stopped->record.stop_reason == "timeout");
  CHECK(stopped->record.state == machine_state::stopped);

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
  test::check_no_traces(eng->options().data_dir, pool_machines);
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
  // The pool's log has each failed start with the machine's last output.
  wait_logged(*eng, "broken-pool", "cannot start");
  wait_logged(*eng, "broken-pool", "degraded");
  auto del = eng->delete_pool("broken-pool");
  REQUIRE_OK(del);
}

TEST_CASE("a warm pool under churn, updated, recycling idle machines, with its log and stats",
          "[pools]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = open_pools(dir);
  REQUIRE(test::build(*eng, web_template).record.status == build_status::ready);
  auto created = eng->create_pool(spec("web", "churn", 2, 3));
  REQUIRE_OK(created);
  auto pool_id = created->record.id;

  // Its log, followed from the start until the pool is deleted.
  struct followed {
    std::mutex mu;
    std::vector<std::string> messages;
    bool ended = false;
    std::string end_name;
  };
  auto seen = std::make_shared<followed>();
  pool_follow_callbacks cbs;
  cbs.on_entries = [seen](const std::vector<raw_entry>& es) {
    std::lock_guard<std::mutex> g(seen->mu);
    for (auto& r : es) {
      log_entry e;
      if (decode_log_entry(r, e)) seen->messages.push_back(e.message);
    }
  };
  cbs.on_end = [seen](const pool_view& v) {
    std::lock_guard<std::mutex> g(seen->mu);
    seen->ended = true;
    seen->end_name = v.record.spec.name;
  };
  auto follow = eng->follow_pool("churn", log_offset{}, cbs);
  REQUIRE_OK(follow);
  CHECK(
      eng->follow_pool("churn", log_offset{}, {}, parse_tenant_id("globex").value()).error().code ==
      errc::not_found);
  CHECK(eng->read_pool_log(pool_id, log_offset{}, 10, parse_tenant_id("globex").value())
            .error()
            .code == errc::not_found);

  // Churn: ten checkouts in a row; ready + starting never passes max_ready.
  REQUIRE_OK(eng->wait_until_pool_ready("churn", 2, 120s));
  std::vector<std::string> taken;
  size_t hits = 0, fallbacks = 0;
  for (int i = 0; i < 10; ++i) {
    auto m = eng->create_machine(from_pool("churn", "prefer"));
    REQUIRE_OK(m);
    taken.push_back(m->record.id);
    (m->record.checkout.result == "hit" ? hits : fallbacks)++;
    auto c = counts(*eng, "churn");
    CHECK(c.ready + c.starting <= 3);
  }
  CHECK(hits >= 2);
  test::eventually(
      [&] {
        auto c = counts(*eng, "churn");
        return c.ready == 2 && c.starting == 0 && c.in_use == hits;
      },
      "the pool settles back at 2 ready, every hit in use");

  // Ended machines leave in_use at once: their actors tell the pool.
  for (auto& id : taken) {
    auto m = eng->get_machine(mid(id));
    REQUIRE_OK(m);
    auto before = counts(*eng, "churn").in_use;
    REQUIRE_OK(eng->stop_machine(mid(id)));
    auto after = counts(*eng, "churn").in_use;
    CHECK(after == before - (m->record.checkout.result == "hit" ? 1 : 0));
  }
  CHECK(counts(*eng, "churn").in_use == 0);

  // Stats: the pool's gauge, checkouts by result, the hit latency histogram.
  auto st = eng->current_stats();
  REQUIRE(st.pools.size() == 1);
  CHECK(st.pools[0].id == pool_id);
  CHECK(st.pools[0].name == "churn");
  CHECK(st.pools[0].tenant == "default");
  CHECK(st.pools[0].state == "enabled");
  CHECK(st.pools[0].counts.ready == 2);
  CHECK(st.checkouts_hit == hits);
  CHECK(st.checkouts_fallback == fallbacks);
  CHECK(st.checkouts == hits);
  CHECK(st.checkout_ms_sum > 0);
  REQUIRE(st.checkout_ms_buckets.size() == st.checkout_ms_bounds.size());
  CHECK(st.checkout_ms_buckets.back() <= st.checkouts);

  // Update: invalid changes are refused whole; scale up, then down.
  pool_update bad;
  bad.min_ready = 5;
  auto refused = eng->update_pool("churn", bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().field == "min_ready");
  pool_update bad_memory;
  bad_memory.memory_mb = 1;
  CHECK(eng->update_pool("churn", bad_memory).error().field == "memory_mb");
  CHECK(eng->update_pool("churn", bad, parse_tenant_id("globex").value()).error().code ==
        errc::not_found);

  pool_update up;
  up.min_ready = 3;
  auto grown = eng->update_pool("churn", up);
  REQUIRE_OK(grown);
  CHECK(grown->record.spec.min_ready == 3);
  REQUIRE_OK(eng->wait_until_pool_ready("churn", 3, 120s));
  auto kept = eng->create_machine(from_pool("churn", "require"));
  REQUIRE_OK(kept);
  CHECK(kept->record.checkout.result == "hit");
  REQUIRE_OK(eng->wait_until_pool_ready("churn", 3, 120s));

  // Lowering min_ready alone stops refilling, not machines: 3 ready stay
  // within max_ready (the reply's counts are the pool's after the change).
  pool_update lower_min;
  lower_min.min_ready = 1;
  auto lowered = eng->update_pool("churn", lower_min);
  REQUIRE_OK(lowered);
  CHECK(lowered->record.counts.ready == 3);

  pool_update down;
  down.min_ready = 1;
  down.max_ready = 1;
  down.memory_mb = 512;
  REQUIRE_OK(eng->update_pool("churn", down));
  test::eventually(
      [&] {
        auto c = counts(*eng, "churn");
        // The stops are asynchronous: the store says when they are done.
        return c.ready == 1 && c.starting == 0 && held_by(*eng, pool_id).size() == 1;
      },
      "scaling down stops the surplus ready machines");
  CHECK(counts(*eng, "churn").in_use == 1);  // the checked-out one is never touched
  auto still = eng->get_machine(kept->id());
  REQUIRE_OK(still);
  CHECK(still->record.state == machine_state::ready);
  auto echo = eng->run_command(kept->id(), shell("echo still here"));
  REQUIRE_OK(echo);
  CHECK(echo->stdout_data == "still here\n");
  // Durable: the stored record (list_pools reads the store) has the new spec.
  auto listed = eng->list_pools();
  REQUIRE_OK(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().record.spec.min_ready == 1);
  CHECK(listed->front().record.spec.max_ready == 1);
  CHECK(listed->front().record.spec.memory_mb == std::optional<uint32_t>(512));

  // Recycling: a ready machine idle past max_idle_ms is replaced; new
  // machines get the updated memory.
  auto idle_one = held_by(*eng, pool_id).front().id;
  pool_update idle;
  idle.max_idle_ms = 1000;
  REQUIRE_OK(eng->update_pool("churn", idle));
  test::eventually(
      [&] {
        auto h = held_by(*eng, pool_id);
        return h.size() == 1 && h.front().id != idle_one;
      },
      "the idle machine is replaced");
  auto old = eng->get_machine(mid(idle_one));
  REQUIRE_OK(old);
  CHECK((old->record.state == machine_state::stopping || is_terminal(old->record.state)));
  CHECK(old->record.stop_reason.find("idle") != std::string::npos);
  CHECK(held_by(*eng, pool_id).front().resources.memory_mb == 512);
  pool_update no_idle;
  no_idle.max_idle_ms = 0;
  auto off = eng->update_pool("churn", no_idle);
  REQUIRE_OK(off);
  CHECK_FALSE(off->record.spec.max_idle_ms.has_value());

  // The log tells it all.
  wait_logged(*eng, "churn", "created");
  wait_logged(*eng, "churn", "refill: starting");
  wait_logged(*eng, "churn", "checkout: hit");
  wait_logged(*eng, "churn", "updated: min_ready 2 → 3");
  wait_logged(*eng, "churn", "scale down");
  wait_logged(*eng, "churn", "recycle: " + idle_one);

  REQUIRE_OK(eng->delete_pool("churn"));
  test::eventually(
      [&] {
        std::lock_guard<std::mutex> g(seen->mu);
        return seen->ended;
      },
      "the followed log ends when the pool is deleted");
  {
    std::lock_guard<std::mutex> g(seen->mu);
    CHECK(seen->end_name == "churn");
    CHECK(std::count_if(seen->messages.begin(), seen->messages.end(), [](auto& m) {
            return m.find("checkout: hit") != std::string::npos;
          }) == static_cast<long>(hits) + 1);
    CHECK(seen->messages.back() == "deleted");
  }
  CHECK(eng->read_pool_log(pool_id, log_offset{}, 10).error().code == errc::not_found);
  CHECK(eng->current_stats().pools.empty());
  stop_all_and_check_traces(*eng);
}

TEST_CASE(
    "warm pools follow their template: rolls, pinned builds, renames, version mismatch, "
    "template-only creates, delete refused",
    "[pools]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = open_pools(dir);
  auto v1 = test::build(*eng, web_template);
  REQUIRE(v1.record.status == build_status::ready);
  auto track = eng->create_pool(spec("web", "track", 2, 3));
  REQUIRE_OK(track);
  auto pinned_spec = spec("web", "pinned", 1, 1);
  pinned_spec.policy = version_policy::pinned_build;
  auto pinned = eng->create_pool(pinned_spec);
  REQUIRE_OK(pinned);
  auto track_id = track->record.id, pinned_id = pinned->record.id;
  CHECK(track->record.serving_build == v1.record.id);
  REQUIRE_OK(eng->wait_until_pool_ready("track", 2, 120s));
  REQUIRE_OK(eng->wait_until_pool_ready("pinned", 1, 120s));

  // A template alone takes a ready machine of a pool serving its build.
  machine_request by_template;
  by_template.template_ref = "web";
  auto picked = eng->create_machine(by_template);
  REQUIRE_OK(picked);
  CHECK(picked->record.checkout.result == "hit");
  CHECK((picked->record.checkout.pool_id == track_id ||
         picked->record.checkout.pool_id == pinned_id));
  REQUIRE_OK(eng->stop_machine(picked->id()));
  auto opted_out = by_template;
  opted_out.warm_pool_mode = "bypass";
  auto cold = eng->create_machine(opted_out);
  REQUIRE_OK(cold);
  CHECK(cold->record.checkout.result == "bypass");
  CHECK(cold->record.pool_id.empty());
  REQUIRE_OK(eng->stop_machine(cold->id()));
  // Another tenant's create of its own "web" never sees these pools.
  CHECK(eng->create_machine(by_template, parse_tenant_id("globex").value()).error().code ==
        errc::not_found);

  // One of the old build stays checked out through the rolls.
  REQUIRE_OK(eng->wait_until_pool_ready("track", 2, 120s));
  auto in_use = eng->create_machine(from_pool("track", "require"));
  REQUIRE_OK(in_use);
  CHECK(in_use->record.build_id == v1.record.id);
  REQUIRE_OK(eng->wait_until_pool_ready("track", 2, 120s));
  auto old_ready = held_by(*eng, track_id);
  REQUIRE(old_ready.size() == 2);

  // A new ready build takes `latest`: track rolls to it, pinned stays.
  auto v2 = test::build(*eng, web_template_v2);
  REQUIRE(v2.record.status == build_status::ready);
  auto rolled_to = [&](const std::string& build) {
    auto p = eng->get_pool("track");
    if (!p.ok() || p->record.serving_build != build) return false;
    auto h = held_by(*eng, track_id);
    auto c = p->record.counts;
    return h.size() == 2 && c.ready == 2 && c.starting == 0 &&
           std::all_of(h.begin(), h.end(), [&](auto& m) { return m.build_id == build; });
  };
  test::eventually([&] { return rolled_to(v2.record.id); }, "track rolls to the new build");
  for (auto& m : old_ready) {
    auto r = eng->get_machine(mid(m.id));
    REQUIRE_OK(r);
    CHECK((r->record.state == machine_state::stopping || is_terminal(r->record.state)));
    CHECK(r->record.stop_reason.find("rolled") != std::string::npos);
  }
  auto kept = eng->run_command(in_use->id(), shell("cat /www/index.html"));
  REQUIRE_OK(kept);
  CHECK(kept->stdout_data == "hello\n");
  CHECK(counts(*eng, "track").in_use == 1);
  auto p1 = eng->get_pool("pinned");
  REQUIRE_OK(p1);
  CHECK(p1->record.serving_build == v1.record.id);
  for (auto& m : held_by(*eng, pinned_id)) CHECK(m.build_id == v1.record.id);
  wait_logged(*eng, "track", "roll started: build " + v1.record.id + " → " + v2.record.id);
  wait_logged(*eng, "track", "roll finished");
  wait_logged(*eng, "track", "retire: " + old_ready[0].id);
  CHECK_FALSE(logged(*eng, "pinned", "roll started"));

  // A request naming the old build gets no machine of the new one.
  auto old_ref = from_pool("track", "prefer");
  old_ref.template_ref = "default/web@" + v1.record.id;
  auto mismatch = eng->create_machine(old_ref);
  REQUIRE_OK(mismatch);
  CHECK(mismatch->record.checkout.result == "fallback");
  CHECK(mismatch->record.checkout.reason == "version_mismatch");
  CHECK(mismatch->record.build_id == v1.record.id);
  REQUIRE_OK(eng->stop_machine(mismatch->id()));

  // Promoting the old build back to `latest` rolls back.
  REQUIRE_OK(eng->promote(v1.id(), "latest"));
  test::eventually([&] { return rolled_to(v1.record.id); }, "track rolls back on promote");

  // A rename: both pools follow (their refs, durably).
  REQUIRE_OK(eng->rename(test::as_ref("web"), "site"));
  test::eventually(
      [&] {
        auto l = eng->list_pools();
        return l.ok() && l->size() == 2 && std::all_of(l->begin(), l->end(), [](auto& p) {
                 return p.record.spec.template_ref == "site";
               });
      },
      "the pools follow the rename");
  wait_logged(*eng, "pinned", "template renamed");
  machine_request by_new_name;
  by_new_name.template_ref = "site";
  auto after_rename = eng->create_machine(by_new_name);
  REQUIRE_OK(after_rename);
  CHECK(after_rename->record.checkout.result == "hit");

  // A template in use by a pool cannot be deleted.
  auto del = eng->delete_template(test::as_ref("site"));
  REQUIRE_FALSE(del.ok());
  CHECK(del.error().code == errc::conflict);
  CHECK(del.error().field == "template");
  CHECK((del.error().message.find("track") != std::string::npos ||
         del.error().message.find("pinned") != std::string::npos));

  REQUIRE_OK(eng->delete_pool("track"));
  REQUIRE_OK(eng->delete_pool("pinned"));
  REQUIRE_OK(eng->delete_template(test::as_ref("site")));
  stop_all_and_check_traces(*eng);
}

TEST_CASE("a warm pool takes its machines back when the engine opens again", "[pools]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto o = test::sandbox_options(dir);
  o.machines.network_range = "10.78.0.0/16";
  std::set<std::string> ready_before;
  std::string checked_out;
  {
    auto eng = test::open_sandbox(o);
    REQUIRE(test::build(*eng, web_template).record.status == build_status::ready);
    REQUIRE_OK(eng->create_pool(spec("web", "kept", 2, 2)));
    REQUIRE_OK(eng->wait_until_pool_ready("kept", 2, 120s));
    auto m = eng->create_machine(from_pool("kept", "require"));
    REQUIRE_OK(m);
    checked_out = m->record.id;
    REQUIRE_OK(eng->wait_until_pool_ready("kept", 2, 120s));
    test::eventually([&] { return counts(*eng, "kept").starting == 0; }, "no start in flight");
    auto p = eng->get_pool("kept");
    for (auto& r : held_by(*eng, p->record.id)) ready_before.insert(r.id);
    REQUIRE(ready_before.size() == 2);
  }  // the engine closes; its machines keep running

  auto eng = test::open_sandbox(o);
  auto p = eng->get_pool("kept");
  REQUIRE_OK(p);
  CHECK(p->record.counts.ready == 2);
  CHECK(p->record.counts.in_use == 1);
  CHECK(p->record.counts.starting == 0);  // nothing started: the ready ones were adopted
  wait_logged(*eng, "kept", "taken back after a restart: 2 ready, 1 in use");
  auto in_use = eng->run_command(mid(checked_out), shell("echo alive"));
  REQUIRE_OK(in_use);
  CHECK(in_use->stdout_data == "alive\n");

  // The adopted machines are handed out, each once, never the one in use.
  std::set<std::string> handed;
  for (int i = 0; i < 2; ++i) {
    auto m = eng->create_machine(from_pool("kept", "prefer"));
    REQUIRE_OK(m);
    CHECK(m->record.checkout.result == "hit");
    CHECK(m->record.id != checked_out);
    CHECK(handed.insert(m->record.id).second);
  }
  CHECK(handed == ready_before);
  CHECK(counts(*eng, "kept").in_use == 3);
  REQUIRE_OK(eng->delete_pool("kept"));
  stop_all_and_check_traces(*eng);
}
