// nullspace-chaos: the crash harness (docs/RELIABILITY.md, "Crash harness").
// Runs build/nullspaced under load and kill -9s it at moments drawn from the
// seed, restarting it on the same data dir, and checks after each restart,
// from the clients' own records, that nothing acknowledged or shown to a
// client was lost or changed.
//
// Two daemons, because the executor is a daemon-wide setting: one with the
// host executor (the build load: >= 200 concurrent builds printing thousands
// of lines, an SSE follower per build, pollers) and, when this host can run
// containers, one with the sandbox (a few sandboxed builds, machines, a warm
// pool). Both are killed in every cycle.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "tools/chaos/clients.hpp"
#include "tools/chaos/daemon.hpp"
#include "tools/chaos/records.hpp"
#include "tools/chaos/traces.hpp"

namespace fs = std::filesystem;
using namespace nullspace::chaos;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  uint64_t seed = 0;
  int cycles = 0;
  int builds = 200;  // concurrent host-executor builds at the start of each cycle
  int lines = 0;     // lines each of them prints, twice (default: 1000 ci, 2000 long)
  std::string mode = "ci";
  std::string daemon_path, data_dir, init_path;
  std::string network_range = "10.71.0.0/16";
  bool sandbox = true;
  int kill_min_ms = 300, kill_max_ms = 4000;
};

enum { host_daemon = 0, sandbox_daemon = 1 };

std::string fmt_ms(clock_type::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

class harness {
 public:
  explicit harness(options o) : o_(std::move(o)), rng_(o_.seed) {}
  int run();

 private:
  bool start_all();
  void kill_all();
  void setup_sandbox();
  void run_load(int cycle);
  void check_after_restart(int cycle);
  void check_submits();
  void check_logs(bool all);
  void check_machines();
  void check_traces(const std::string& when);
  void drain_and_finish();
  uint16_t port(int d) const { return d == host_daemon ? host_->port() : sandbox_->port(); }
  bool fail_if_violated(const std::string& when);

  options o_;
  std::mt19937_64 rng_;
  records recs_;
  violations v_;
  std::unique_ptr<daemon_child> host_, sandbox_;
  std::vector<size_t> cycle_submits_;  // submits of the cycle just ended
  std::set<std::string> settled_;      // verified terminal after a restart: sampled later
  std::string pool_id_;
  uint64_t entries_checked_ = 0, kills_ = 0;
  clock_type::time_point t0_ = clock_type::now();
};

bool harness::start_all() {
  // Recovery re-queues every build that was running; the daemon answers once
  // it has (a generous bound: the data dir of a long run holds many builds).
  if (!host_->start(120000)) {
    v_.add("the host-executor daemon did not come up on its data dir (see its log)");
    return false;
  }
  if (sandbox_ && !sandbox_->start(120000)) {
    v_.add("the sandbox daemon did not come up on its data dir (see its log)");
    return false;
  }
  return true;
}

void harness::kill_all() {
  host_->kill9();
  if (sandbox_) sandbox_->kill9();
  ++kills_;
}

// A busybox template whose machines idle, and a warm pool of it.
void harness::setup_sandbox() {
  auto tmpl =
      R"({"name":"idle","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
    "steps":[{"type":"run","cmd":"true"}],"start_cmd":"exec sleep 3600"},"cpu_count":1,"memory_mb":128})";
  auto b = request(port(sandbox_daemon), "POST", "/v1/builds", tmpl);
  auto id = json_string(b.body, "build.id");
  if (b.status != 202 || id.empty())
    return v_.add("sandbox: the template build was refused: " + std::to_string(b.status) + " " +
                  b.body);
  for (;;) {
    auto s = request(port(sandbox_daemon), "GET", "/v1/builds/" + id + "?limit=0");
    auto st = json_string(s.body, "build.status");
    if (st == "ready") break;
    if (s.status != 200 || st == "error" || st == "cancelled")
      return v_.add("sandbox: the template build ended " + st);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // waiting on a build, not a check
  }
  auto p = request(port(sandbox_daemon), "POST", "/v1/warm-pools",
                   R"({"template":"idle","name":"chaos","min_ready":1,"max_ready":2})");
  pool_id_ = json_string(p.body, "warm_pool.id");
  if (p.status != 201 || pool_id_.empty()) v_.add("sandbox: the warm pool was refused");
}

void harness::run_load(int cycle) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // Followers of every build still live (resuming after what they saw).
  auto follow_from = [this](const std::string& id) {
    auto seen = recs_.build(id);
    uint64_t n = 0;
    while (n < seen.hashes.size() && seen.hashes[n]) ++n;
    return n;
  };
  for (int d : {host_daemon, sandbox_daemon}) {
    if (d == sandbox_daemon && !sandbox_) continue;
    for (auto& id : recs_.live_builds(d))
      threads.emplace_back([this, &stop, p = port(d), id, from = follow_from(id)] {
        follow(p, recs_, v_, id, from, stop);
      });
  }
  // New builds up to o_.builds live ones, each followed once acknowledged.
  cycle_submits_.clear();
  int live = static_cast<int>(recs_.live_builds(host_daemon).size());
  auto body = [this](const std::string& name) {
    auto l = std::to_string(o_.lines);
    return R"({"name":")" + name +
           R"(","builder":{"source":{"type":"image","image":"busybox"},"steps":[)" +
           R"({"type":"run","cmd":"seq 1 )" + l +
           R"( | sed 's/$/ of a chaos build, printed as fast as the shell can/'"},)" +
           R"({"type":"run","cmd":"sleep 1"},)" + R"({"type":"run","cmd":"seq 1 )" + l +
           R"( | sed 's/^/after the pause /'"}]}})";
  };
  for (int i = live; i < o_.builds; ++i) {
    auto name = "chaos-c" + std::to_string(cycle) + "-" + std::to_string(i);
    cycle_submits_.push_back(recs_.add_submit(
        {host_daemon, name, "k-" + name + "-" + std::to_string(o_.seed), body(name), ""}));
  }
  if (sandbox_)
    for (int i = 0; i < 2; ++i) {
      auto name = "chaos-sandbox-c" + std::to_string(cycle) + "-" + std::to_string(i);
      cycle_submits_.push_back(recs_.add_submit(
          {sandbox_daemon, name, "k-" + name + "-" + std::to_string(o_.seed), body(name), ""}));
    }
  std::atomic<size_t> next{0};
  auto submits = cycle_submits_;
  std::mutex followers_mtx;
  std::vector<std::thread> followers;  // of the builds submitted now
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([this, &stop, &next, &submits, &followers_mtx, &followers] {
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= submits.size() || stop) return;
        auto s = recs_.submit_at(submits[i]);
        auto p = port(s.daemon);
        if (!submit(p, recs_, submits[i])) continue;
        auto id = recs_.submit_at(submits[i]).id;
        std::lock_guard<std::mutex> g(followers_mtx);
        followers.emplace_back([this, &stop, p, id] { follow(p, recs_, v_, id, 0, stop); });
      }
    });
  // Pollers: random live builds, from a little before what was seen.
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([this, &stop, t, cycle] {
      std::mt19937_64 r(o_.seed * 7919 + static_cast<uint64_t>(cycle * 16 + t));
      while (!stop) {
        auto d = (sandbox_ && r() % 8 == 0) ? sandbox_daemon : host_daemon;
        auto ids = recs_.live_builds(d);
        if (ids.empty()) {
          std::this_thread::yield();
          continue;
        }
        auto id = ids[r() % ids.size()];
        auto n = recs_.build(id).hashes.size();
        uint64_t from = n > 200 ? n - 200 + r() % 200 : 0;
        if (!poll_once(port(d), recs_, v_, id, from)) std::this_thread::yield();
      }
    });
  // Machines: a cold create with a key, one through the pool, a delete.
  if (sandbox_ && !pool_id_.empty())
    threads.emplace_back([this, cycle] {
      auto sp = port(sandbox_daemon);
      for (int k = 0; k < 2; ++k) {
        auto key =
            "m-" + std::to_string(o_.seed) + "-" + std::to_string(cycle) + "-" + std::to_string(k);
        auto body = R"({"template":"idle","labels":{"key":")" + key + R"("},"timeout_ms":600000)" +
                    std::string(k ? R"(,"warm_pool":"chaos"})" : "}");
        auto i = recs_.add_machine({key, body, "", false});
        auto r = request(sp, "POST", "/v1/machines", body, key);
        if (r.status != 201) continue;
        recs_.machine_created(i, json_string(r.body, "machine.id"));
      }
      auto ms = recs_.machines();
      size_t alive = 0;
      for (auto& m : ms) alive += !m.id.empty() && !m.deleted;
      for (size_t i = 0; i < ms.size() && alive > 3; ++i)
        if (!ms[i].id.empty() && !ms[i].deleted) {
          auto r = request(sp, "DELETE", "/v1/machines/" + ms[i].id);
          if (r.status != 200) break;
          recs_.machine_deleted(i);
          --alive;
        }
    });
  // The kill, at moments drawn from the seed.
  std::uniform_int_distribution<int> when(o_.kill_min_ms, o_.kill_max_ms);
  int host_at = when(rng_), sandbox_at = when(rng_);
  std::printf("cycle %d: %zu submits, kill -9 host daemon at %d ms, sandbox daemon at %d ms\n",
              cycle, cycle_submits_.size(), host_at, sandbox_at);
  std::fflush(stdout);
  auto start = clock_type::now();
  auto first = std::min(host_at, sandbox_ ? sandbox_at : host_at);
  std::this_thread::sleep_until(start + std::chrono::milliseconds(first));  // the fault's moment
  if (host_at <= first) host_->kill9();
  if (sandbox_ && sandbox_at <= first) sandbox_->kill9();
  std::this_thread::sleep_until(start + std::chrono::milliseconds(std::max(host_at, sandbox_at)));
  kill_all();
  stop = true;
  for (auto& t : threads) t.join();  // the submitters first: no follower is added after
  for (auto& t : followers) t.join();
}

void harness::check_submits() {
  // Every acknowledged submit exists; a retry of each (acknowledged or not)
  // with its key is the same build, and its template has exactly one build.
  auto all = recs_.submits();
  for (auto i : cycle_submits_) {
    auto& s = all[i];
    auto p = port(s.daemon);
    if (!s.id.empty()) {
      auto g = request(p, "GET", "/v1/builds/" + s.id + "?limit=0");
      if (g.status != 200)
        v_.add("submit " + s.key + ": acknowledged as " + s.id + ", now " +
               std::to_string(g.status));
    }
    auto r = request(p, "POST", "/v1/builds", s.body, s.key);
    auto id = json_string(r.body, "build.id");
    if (r.status != 202 || id.empty()) {
      v_.add("submit " + s.key + ": its retry answered " + std::to_string(r.status) + " " + r.body);
      continue;
    }
    if (!s.id.empty() && id != s.id)
      v_.add("submit " + s.key + ": acknowledged as " + s.id + ", its retry made " + id);
    if (s.id.empty()) recs_.acknowledge(i, id);
    auto list = request(p, "GET", "/v1/templates/" + s.name + "/builds?limit=10");
    size_t n = 0;
    for (size_t at = 0; (at = list.body.find("\"id\":\"tb_", at)) != std::string::npos; ++at) ++n;
    if (n != 1)
      v_.add("submit " + s.key + ": " + std::to_string(n) + " builds of " + s.name +
             " where one was submitted");
  }
}

void harness::check_logs(bool all) {
  // Every build not yet settled, and a sample of the settled ones.
  for (int d : {host_daemon, sandbox_daemon}) {
    if (d == sandbox_daemon && !sandbox_) continue;
    auto ids = recs_.builds(d);
    std::vector<std::string> todo;
    for (auto& id : ids)
      if (all || !settled_.count(id) || rng_() % 16 == 0) todo.push_back(id);
    std::vector<std::thread> ts;
    std::atomic<size_t> next{0};
    std::mutex mtx;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, d] {
        for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
          auto r = verify_log(port(d), recs_, v_, todo[i]);
          std::lock_guard<std::mutex> g(mtx);
          if (!r.answered) {
            v_.add("build " + todo[i] + ": its log replay did not complete");
            continue;
          }
          entries_checked_ += r.entries;
          if (r.terminal) settled_.insert(todo[i]);
          // Progress: a live build's log must grow from one restart to the
          // next (recovery re-queues it and it runs again).
          auto seen = recs_.build(todo[i]);
          if (!r.terminal) {
            int still = r.entries == seen.last_next_offset ? seen.still + 1 : 0;
            if (still >= 3)
              v_.add("build " + todo[i] + ": stuck, no new entry over 3 restarts (" +
                     std::to_string(r.entries) + " entries)");
            recs_.set_progress(todo[i], r.entries, "live", still);
          }
        }
      });
    for (auto& t : ts) t.join();
  }
}

void harness::check_machines() {
  if (!sandbox_) return;
  auto sp = port(sandbox_daemon);
  auto ms = recs_.machines();
  for (size_t i = 0; i < ms.size(); ++i) {
    auto& m = ms[i];
    if (!m.id.empty() && !m.deleted) {
      auto g = request(sp, "GET", "/v1/machines/" + m.id);
      if (g.status != 200)
        v_.add("machine " + m.id + ": acknowledged, now " + std::to_string(g.status));
    }
    if (m.deleted) continue;
    // The create again with its key: the same machine, never a second one.
    auto r = request(sp, "POST", "/v1/machines", m.body, m.key);
    auto id = json_string(r.body, "machine.id");
    if (r.status == 201 && !id.empty()) {
      if (!m.id.empty() && id != m.id)
        v_.add("machine create " + m.key + ": acknowledged as " + m.id + ", its retry made " + id);
      if (m.id.empty()) recs_.machine_created(i, id);
    } else if (r.status != 429 && r.status != 503) {
      v_.add("machine create " + m.key + ": its retry answered " + std::to_string(r.status) + " " +
             r.body);
    }
    auto list = request(sp, "GET", "/v1/machines?label=key%3D" + m.key + "&limit=10");
    size_t n = 0;
    for (size_t at = 0; (at = list.body.find("\"id\":\"m_", at)) != std::string::npos; ++at) ++n;
    if (n > 1)
      v_.add("machine create " + m.key + ": " + std::to_string(n) + " machines of one key");
  }
}

void harness::check_traces(const std::string& when) {
  if (!sandbox_) return;
  auto sp = port(sandbox_daemon);
  // What the daemon says is alive, read BEFORE the scan: anything of an
  // object that had ended by then is a leak; recovery may still be tidying
  // up, so a trace gets until the deadline to go.
  auto deadline = clock_type::now() + std::chrono::seconds(60);
  std::string last;
  for (;;) {
    std::set<std::string> alive_m, ended_m, known_b, live_b;
    auto list = request(sp, "GET", "/v1/machines?limit=500");
    for (auto& m : recs_.machines())
      if (!m.id.empty()) ended_m.insert(m.id);
    for (size_t at = 0; (at = list.body.find("\"id\":\"m_", at)) != std::string::npos; ++at) {
      auto id = list.body.substr(at + 6, list.body.find('"', at + 6) - at - 6);
      auto st_at = list.body.find("\"state\":\"", at);
      auto st = list.body.substr(st_at + 9, list.body.find('"', st_at + 9) - st_at - 9);
      if (st != "stopped" && st != "failed") {
        alive_m.insert(id);
        ended_m.erase(id);
      }
    }
    for (auto& id : recs_.builds(sandbox_daemon)) {
      known_b.insert(id);
      if (!recs_.build(id).terminal) live_b.insert(id);
    }
    auto t = scan_traces(o_.data_dir + "/sandbox", ended_m, known_b);
    std::string found;
    for (auto& [id, what] : t.machines)
      if (!alive_m.count(id)) found += "machine " + id + ": " + what.front() + "; ";
    for (auto& [id, what] : t.builds)
      if (!live_b.count(id)) found += "build " + id + ": " + what.front() + "; ";
    for (auto& u : t.unattributed) found += u + "; ";
    if (found.empty()) return;
    last = found;
    if (clock_type::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // recovery's own pace
  }
  v_.add("traces " + when + " (60 s after the daemon answered): " + last);
}

void harness::check_after_restart(int cycle) {
  auto t = clock_type::now();
  check_submits();
  check_logs(false);
  check_machines();
  check_traces("after restart " + std::to_string(cycle));
  std::printf("  checked in %s: %llu entries replayed so far, %llu seen by clients\n",
              fmt_ms(clock_type::now() - t).c_str(),
              static_cast<unsigned long long>(entries_checked_),
              static_cast<unsigned long long>(recs_.entries_seen()));
  std::fflush(stdout);
}

void harness::drain_and_finish() {
  // No more kills: every build must end, within a deadline derived from the
  // workload (each build runs its steps once more at most).
  auto all_builds = recs_.builds(host_daemon);
  auto sb = sandbox_ ? recs_.builds(sandbox_daemon) : std::vector<std::string>{};
  // A floor of 10,000 committed lines a second over all builds (this 2-core
  // host shared with other builds commits several times that), plus start-up.
  auto lines_total = static_cast<int64_t>(all_builds.size() + sb.size()) * o_.lines * 2;
  auto budget = std::chrono::seconds(120) + std::chrono::milliseconds(lines_total / 10);
  auto deadline = clock_type::now() + budget;
  for (int d : {host_daemon, sandbox_daemon}) {
    if (d == sandbox_daemon && !sandbox_) continue;
    for (auto& id : recs_.live_builds(d)) {
      for (;;) {
        auto s = request(port(d), "GET", "/v1/builds/" + id + "?limit=0");
        auto st = json_string(s.body, "build.status");
        if (st == "ready" || st == "error" || st == "cancelled") break;
        if (clock_type::now() > deadline) {
          v_.add("build " + id + ": still " + st + " after the drain deadline (" + fmt_ms(budget) +
                 ")");
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the build's own pace
      }
    }
  }
  check_logs(true);
  if (sandbox_) {
    // Machines and the pool go; then nothing of them may be left.
    auto sp = port(sandbox_daemon);
    if (!pool_id_.empty()) request(sp, "DELETE", "/v1/warm-pools/" + pool_id_);
    auto list = request(sp, "GET", "/v1/machines?limit=500");
    for (size_t at = 0; (at = list.body.find("\"id\":\"m_", at)) != std::string::npos; ++at) {
      auto id = list.body.substr(at + 6, list.body.find('"', at + 6) - at - 6);
      request(sp, "DELETE", "/v1/machines/" + id);
    }
  }
  int h = host_->terminate(30000);
  if (h != 0)
    v_.add("the host daemon's SIGTERM exit was " + std::to_string(h) + " (want 0 within 30 s)");
  if (sandbox_) {
    check_traces("at the end");
    int s = sandbox_->terminate(30000);
    if (s != 0) v_.add("the sandbox daemon's SIGTERM exit was " + std::to_string(s));
  }
}

bool harness::fail_if_violated(const std::string& when) {
  if (v_.empty()) return false;
  auto all = v_.all();
  std::printf("FAILED %s (seed %llu): %zu violated invariant(s)\n", when.c_str(),
              static_cast<unsigned long long>(o_.seed), all.size());
  for (size_t i = 0; i < all.size() && i < 50; ++i) std::printf("  - %s\n", all[i].c_str());
  std::printf("replay: nullspace-chaos --seed %llu --cycles %d --builds %d --lines %d --mode %s\n",
              static_cast<unsigned long long>(o_.seed), o_.cycles, o_.builds, o_.lines,
              o_.mode.c_str());
  return true;
}

int harness::run() {
  std::vector<std::string> common{
      "--listen",     "127.0.0.1:0", "--executor-slots", std::to_string(o_.builds + 16),
      "--max-queued", "100000",      "--log-level",      "warn"};
  auto host_args = common;
  host_args.insert(host_args.end(), {"--data-dir", o_.data_dir + "/host", "--isolation", "host"});
  host_ = std::make_unique<daemon_child>(o_.daemon_path, host_args, o_.data_dir + "/host.log");
  if (o_.sandbox) {
    auto args = common;
    args.insert(args.end(), {"--data-dir", o_.data_dir + "/sandbox", "--isolation", "sandbox",
                             "--machine-network-range", o_.network_range});
    if (!o_.init_path.empty()) {
      args.push_back("--machine-init");
      args.push_back(o_.init_path);
    }
    sandbox_ = std::make_unique<daemon_child>(o_.daemon_path, args, o_.data_dir + "/sandbox.log");
  }
  if (!start_all()) {
    fail_if_violated("at the first start");
    return 1;
  }
  if (sandbox_) setup_sandbox();
  if (fail_if_violated("setting up")) return 1;
  for (int c = 0; c < o_.cycles; ++c) {
    run_load(c);
    if (!start_all()) break;
    check_after_restart(c);
    if (fail_if_violated("after restart " + std::to_string(c))) return 1;
  }
  if (v_.empty()) drain_and_finish();
  if (fail_if_violated("at the end")) return 1;
  std::printf(
      "PASSED seed %llu: %d cycles, %llu kills, %zu builds (%zu submits), %zu machines, "
      "%llu distinct entries seen by clients (%llu looks), %llu entries replayed and checked, "
      "lost 0, in %s\n",
      static_cast<unsigned long long>(o_.seed), o_.cycles, static_cast<unsigned long long>(kills_),
      recs_.builds(host_daemon).size() + (sandbox_ ? recs_.builds(sandbox_daemon).size() : 0),
      recs_.submits().size(), recs_.machines().size(),
      static_cast<unsigned long long>(recs_.entries_seen()),
      static_cast<unsigned long long>(recs_.looks()),
      static_cast<unsigned long long>(entries_checked_), fmt_ms(clock_type::now() - t0_).c_str());
  return 0;
}

bool can_run_machines() {
  if (geteuid() != 0) return false;
  for (auto p : {"/usr/sbin/runc", "/usr/bin/runc"})
    if (access(p, X_OK) == 0) return access("/dev/loop-control", R_OK | W_OK) == 0;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"nullspace-chaos: kill -9 nullspaced under load and check what clients saw"};
  app.add_option("--seed", o.seed, "random seed (default: from the clock; printed first)");
  app.add_option("--cycles", o.cycles, "kill/restart cycles (default: 10 ci, 60 long)");
  app.add_option("--builds", o.builds, "concurrent host-executor builds per cycle");
  app.add_option("--lines", o.lines, "lines each build prints per step (2 steps)");
  app.add_option("--mode", o.mode, "ci (about 2 minutes) or long")
      ->check(CLI::IsMember({"ci", "long"}));
  app.add_option("--daemon", o.daemon_path, "the nullspaced binary")->required();
  app.add_option("--data-dir", o.data_dir, "where the daemons' data dirs go (emptied first)")
      ->required();
  app.add_option("--machine-init", o.init_path, "nullspace-init (machines)");
  app.add_option("--machine-network-range", o.network_range, "the machines' address range");
  bool no_sandbox = false;
  app.add_flag("--no-sandbox", no_sandbox, "host-executor daemon only");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0)
    o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (o.cycles == 0) o.cycles = o.mode == "ci" ? 10 : 60;
  if (o.lines == 0) o.lines = o.mode == "ci" ? 1000 : 2000;
  if (o.mode == "long") o.kill_max_ms = 8000;
  o.sandbox = !no_sandbox && can_run_machines();
  std::printf("seed %llu\n", static_cast<unsigned long long>(o.seed));
  std::printf("mode %s: %d cycles, %d builds x %d lines x 2 steps, sandbox daemon: %s\n",
              o.mode.c_str(), o.cycles, o.builds, o.lines, o.sandbox ? "yes" : "no");
  std::fflush(stdout);
  std::error_code ec;
  o.data_dir = fs::absolute(o.data_dir).string();
  fs::remove_all(o.data_dir, ec);
  fs::create_directories(o.data_dir, ec);
  return harness(std::move(o)).run();
}
