// Warm pool costs through the embedded engine, each next to its anchor in the
// same run (needs root, runc or crun, busybox-static, e2fsprogs and
// nullspace-init):
//
//   1. checkout at the orchestrator: rounds of --pool-size ready machines,
//      each taken by create_machine({warm_pool}) back to back and timed.
//      Twice: with the pool's min_ready lowered to 0 for the timed part (no
//      refill beside the checkouts: the checkout alone, the issue's figure),
//      and with the refill running, as in service (its machine starts share
//      the CPU with the checkouts). Between rounds the machines are stopped
//      and the pool refilled, untimed. p50, p99 and max over every checkout,
//      and of its anchor: get_pool of the same pool right after each checkout
//      (the same request path up to the pool actor, no machine, no write), so
//      the host's own scheduling tail shows beside the checkout's.
//   2. a create served by a pool hit next to a cold create of the same
//      template (warm_pool_mode bypass), alternating: median of each and
//      their ratio (the issue's target: the hit at least 20x faster).
//   3. --pools pools of --per-pool ready machines asked for at once: the time
//      until all are ready, and the engine's CPU time over it (this process:
//      the orchestrator and its threads; the container runtime's own
//      processes are reported apart).
//
//   build/tools/bench/bench-pool [--quick] [--pool-size N] [--rounds N]
//                                [--pools N] [--per-pool N] [--init PATH]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.hpp"
#include "nullspace/engine.hpp"

namespace fs = std::filesystem;
using namespace nullspace;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench-pool: " << what << "\n";
  std::exit(1);
}

template <class T>
T must(result<T> r, const std::string& what) {
  if (!r) die(what + ": " + r.error().message);
  return std::move(r.value());
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// A busybox machine whose start command is an idle shell, ready at once.
const char* idle_template = R"({"name":"idle","tags":["latest"],
  "builder":{"source":{"type":"image","image":"busybox"},"steps":[{"type":"run","cmd":"true"}],
  "start_cmd":"exec sleep 100000","ready":{"type":"file","path":"/bin/sh"}},
  "cpu_count":1,"memory_mb":128,"internet_access":false})";

// Stops every machine in `ids` at once and waits for all of them.
void stop_all(engine& eng, const std::vector<std::string>& ids) {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = ids.size();
  for (auto& id : ids)
    eng.stop_machine_async(parse_machine_id(id).value(), default_tenant(),
                           [&](result<machine_view>) {
                             std::lock_guard lk(mu);
                             if (--left == 0) cv.notify_all();
                           });
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return left == 0; });
}

machine_request from(const std::string& pool, const std::string& mode) {
  machine_request r;
  r.warm_pool = pool;
  r.warm_pool_mode = mode;
  return r;
}

pool_spec spec(const std::string& name, uint32_t min, uint32_t max) {
  pool_spec s;
  s.template_ref = "idle";
  s.name = name;
  s.min_ready = min;
  s.max_ready = max;
  return s;
}

void set_min_ready(engine& eng, const std::string& pool, uint32_t n) {
  pool_update u;
  u.min_ready = n;
  must(eng.update_pool(pool, u), "update " + pool);
}

// `settle`: how long the filled pool is left alone before a round is timed. A
// machine that has just become ready looks at its container every 200 ms,
// backing off to every 2 s while it is quiet; a pool in service holds machines
// that have been ready for a while, so the rounds are timed at that pace, not
// in the burst of status polls right after a refill of the whole pool.
void checkouts(engine& eng, uint32_t pool_size, int rounds, bool refill,
               std::chrono::milliseconds settle) {
  must(eng.create_pool(spec("checkout", pool_size, pool_size)), "create pool");
  std::vector<double> ms, anchor;
  for (int round = 0; round < rounds; ++round) {
    set_min_ready(eng, "checkout", pool_size);
    must(eng.wait_until_pool_ready("checkout", pool_size, 10min), "fill the pool");
    if (!refill) set_min_ready(eng, "checkout", 0);  // the ready ones stay (within max_ready)
    std::this_thread::sleep_for(settle);
    std::vector<std::string> taken;
    for (uint32_t i = 0; i < pool_size; ++i) {
      auto t0 = clock_type::now();
      auto m = eng.create_machine(from("checkout", "require"));
      ms.push_back(ms_since(t0));
      if (!m) die("checkout: " + m.error().message);
      if (m->record.checkout.result != "hit") die("checkout was " + m->record.checkout.result);
      taken.push_back(m->record.id);
      t0 = clock_type::now();
      must(eng.get_pool("checkout"), "get the pool");
      anchor.push_back(ms_since(t0));
    }
    stop_all(eng, taken);
  }
  must(eng.delete_pool("checkout"), "delete pool");
  std::printf(
      "checkout of a ready machine (embedded, %zu checkouts, %s, pool rested %lld ms): p50 %.3f "
      "ms  "
      "p99 %.3f ms  max %.3f ms; anchor get_pool: p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
      ms.size(), refill ? "refill running" : "no refill beside",
      static_cast<long long>(settle.count()), percentile(ms, 0.5), percentile(ms, 0.99),
      percentile(ms, 1.0), percentile(anchor, 0.5), percentile(anchor, 0.99),
      percentile(anchor, 1.0));
  nullspace::bench::report(
      std::string("warm-pool checkout p99, embedded, ") + (refill ? "refill running" : "no refill"),
      percentile(ms, 0.99), "ms", "get_pool p99", percentile(anchor, 0.99));
}

void hit_against_cold(engine& eng, int rounds) {
  must(eng.create_pool(spec("hits", 1, 1)), "create pool");
  std::vector<double> hit, cold;
  for (int i = 0; i < rounds; ++i) {
    must(eng.wait_until_pool_ready("hits", 1, 10min), "fill the pool");
    auto t0 = clock_type::now();
    auto h = must(eng.create_machine(from("hits", "prefer")), "hit");
    hit.push_back(ms_since(t0));
    if (h.record.checkout.result != "hit") die("expected a hit, got " + h.record.checkout.result);
    t0 = clock_type::now();
    auto c = must(eng.create_machine(from("hits", "bypass")), "cold");
    cold.push_back(ms_since(t0));
    stop_all(eng, {h.record.id, c.record.id});
  }
  must(eng.delete_pool("hits"), "delete pool");
  auto h50 = percentile(hit, 0.5), c50 = percentile(cold, 0.5);
  std::printf(
      "create served by a pool hit: median %.3f ms; cold create of the same template: "
      "median %.1f ms (%d each): %.0fx\n",
      h50, c50, rounds, c50 / std::max(h50, 1e-6));
  nullspace::bench::report("create served by a pool hit, median", h50, "ms",
                           "cold create of the same template", c50);
}

void refill_at_once(engine& eng, uint32_t pools, uint32_t per_pool) {
  auto cpu0 = cpu_seconds(RUSAGE_SELF), kids0 = cpu_seconds(RUSAGE_CHILDREN);
  auto t0 = clock_type::now();
  for (uint32_t i = 0; i < pools; ++i)
    must(eng.create_pool(spec("many-" + std::to_string(i), per_pool, per_pool)), "create pool");
  for (uint32_t i = 0; i < pools; ++i)
    must(eng.wait_until_pool_ready("many-" + std::to_string(i), per_pool, 30min), "fill pools");
  auto wall = ms_since(t0) / 1000;
  auto cpu = cpu_seconds(RUSAGE_SELF) - cpu0, kids = cpu_seconds(RUSAGE_CHILDREN) - kids0;
  std::printf(
      "%u pools x %u ready machines from empty: all ready in %.1f s; engine CPU %.1f s "
      "(%.0f%% of one core), runtime processes %.1f s\n",
      pools, per_pool, wall, cpu, 100 * cpu / wall, kids);
  nullspace::bench::report(
      std::to_string(pools) + " pools x " + std::to_string(per_pool) + " machines ready from empty",
      wall, "s");
  for (uint32_t i = 0; i < pools; ++i)
    must(eng.delete_pool("many-" + std::to_string(i)), "delete pool");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"warm pool checkout, hit against cold create, and many pools refilling"};
  bool quick = false;
  uint32_t pool_size = 100, pools = 50, per_pool = 4;
  int rounds = 100, hit_rounds = 10;
  int settle_ms = 3000;
  std::string init, data;
  app.add_flag("--quick", quick, "a few machines: checks the benchmark works");
  app.add_option("--pool-size", pool_size, "ready machines checked out per round");
  app.add_option("--rounds", rounds, "checkout rounds");
  app.add_option("--settle-ms", settle_ms, "how long a filled pool rests before a round is timed");
  app.add_option("--pools", pools, "pools refilling at once");
  app.add_option("--per-pool", per_pool, "ready machines per pool refilling at once");
  app.add_option("--init", init,
                 "nullspace-init (default: $NULLSPACE_INIT, else next to nullspaced)");
  app.add_option("--data-dir", data, "where the engine keeps its data (default: a temp dir)");
  CLI11_PARSE(app, argc, argv);
  if (quick) pool_size = 3, rounds = 2, hit_rounds = 2, pools = 2, per_pool = 2, settle_ms = 0;

  auto tmp = fs::temp_directory_path() / ("bench-pool-" + std::to_string(getpid()));
  engine_options o;
  o.data_dir = data.empty() ? (tmp / "data").string() : data;
  o.isolation_mode = isolation::sandbox;
  if (init.empty())
    if (auto* env = std::getenv("NULLSPACE_INIT")) init = env;
  o.machines.init_binary = init.empty() ? "" : fs::absolute(init).string();
  o.machines.network_range = "10.74.0.0/16";  // the bench's own: tests use 10.75-10.88
  o.machines.max_machines = o.machines.max_machines_per_tenant =
      std::max<uint32_t>(pool_size, pools * per_pool) + 16;
  {
    auto eng = must(engine::open(o), "open the engine");
    auto b = must(eng->submit(idle_template), "submit the template");
    auto done = must(eng->wait_until_terminal(b.id(), 10min), "build the template");
    if (done.record.status != build_status::ready) die("the template did not build");
    checkouts(*eng, pool_size, rounds, false, std::chrono::milliseconds(settle_ms));
    checkouts(*eng, pool_size, rounds, true, std::chrono::milliseconds(settle_ms));
    hit_against_cold(*eng, hit_rounds);
    refill_at_once(*eng, pools, per_pool);
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
}
