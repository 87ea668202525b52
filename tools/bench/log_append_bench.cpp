// log_hub append throughput against a raw RocksDB WriteBatch loop, in one run.
//
// Workload: N concurrent builds, each appending 150-byte lines one at a time and
// waiting for each acknowledgement (durable) before its next line. The raw
// baseline is the ceiling group commit can reach for that workload: one thread
// writing WriteBatches holding one entry per build (N entries per batch), with
// the same store, column family and WriteOptions. Both write the same total of
// the same entries (the loop encodes them on its thread; with the hub, each
// sender encodes its own).
//
//   build/tools/bench/bench-log-append [--quick] [--case B-W-wal|B-W-sync]... [--hub-only] [DIR]
//
// --quick (what CI runs) writes a tenth of the entries. --case runs only the
// named rows (builds-in_flight-durability, e.g. 64-1-wal); --hub-only skips the
// raw baseline (for profiling the hub). DIR (default: a fresh temp dir) gets
// one store per row, each removed once measured; DIR itself is removed only
// when the benchmark made it. "entries per batch" is the hub's group commit: entries
// appended over WriteBatches written; "hub thread CPU µs per entry" is the
// time the scheduler ran the hub's thread (whatever else the host runs), over
// the entries.
#include <stdlib.h>
#include <caf/all.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "actors/hub/log_hub.hpp"
#include "bench_report.hpp"
#include "storage/log_entry.hpp"
#include "storage/store.hpp"

using namespace nullspace;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string line(150, 'x');

struct run_config {
  size_t builds;
  size_t per_build;
  bool sync;
  size_t window;  // appends a build keeps in flight (1 = wait for each ack)
};

std::string fresh_dir(const std::string& base, const std::string& name) {
  auto dir = base + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

double raw_rocksdb(const std::string& dir, const run_config& rc) {
  auto s = storage::store::open(dir, {.sync = rc.sync});
  if (!s) throw std::runtime_error(s.error().message);
  auto& db = *s.value();
  storage::log_entry e;
  e.message = line;
  std::vector<std::string> ids;
  for (size_t b = 0; b < rc.builds; ++b) ids.push_back("tb_bench" + std::to_string(b));
  auto start = clock_type::now();
  for (size_t i = 0; i < rc.per_build; ++i) {
    storage::write_batch wb;
    for (auto& id : ids) {
      e.offset = i;
      // The same encoding work as the hub's senders do (on their threads).
      db.put_log(wb, id, i, storage::encode_log_entry(e));
    }
    if (!db.write(wb)) throw std::runtime_error("raw write failed");
  }
  std::chrono::duration<double> secs = clock_type::now() - start;
  return static_cast<double>(rc.builds * rc.per_build) / secs.count();
}

struct driver_state {
  actors::log_hub_actor hub;
  std::string id;
  size_t count = 0, sent = 0, acked = 0, window = 1;
  std::shared_ptr<std::atomic<size_t>> left;
  std::shared_ptr<std::promise<void>> all_done;
};

using driver_ptr = caf::stateful_actor<driver_state>*;

// Keeps up to `window` appends in flight; each ack sends the next line.
// Captures only `self` (a handle in a self-referencing closure would keep the
// hub alive forever).
void append_more(driver_ptr self) {
  auto& st = self->state;
  while (st.sent < st.count && st.sent - st.acked < st.window) {
    ++st.sent;
    actors::append_request req;
    req.build_id = st.id;
    storage::log_entry e;
    e.message = line;
    req.add(std::move(e));
    self->request(st.hub, caf::infinite, actors::append_atom::value, std::move(req))
        .then([=](uint64_t) {
          ++self->state.acked;
          append_more(self);
        });
  }
  if (st.acked == st.count) {
    if (st.left->fetch_sub(1) == 1) st.all_done->set_value();
    st.hub = nullptr;
    self->quit();
  }
}

// One simulated build appending its lines one entry per append.
caf::behavior driver(driver_ptr self, driver_state init) {
  self->state = std::move(init);
  append_more(self);
  return {[](int) {}};
}

struct hub_result {
  double rate = 0;
  double per_batch = 0;  // entries per WriteBatch
  double hub_us = 0;     // the hub thread's CPU time per entry
};

// CPU time (ns) of this process's threads named `name`, from the scheduler's
// own accounting (/proc/self/task/*/schedstat): what a thread cost, whatever
// else the host runs. The hub is the benchmark's only detached actor.
uint64_t thread_cpu_ns(const std::string& name) {
  uint64_t total = 0;
  for (auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    std::getline(comm, n);
    if (n != name) continue;
    std::ifstream stat(task.path() / "schedstat");
    uint64_t ns = 0;
    stat >> ns;
    total += ns;
  }
  return total;
}

hub_result hub_run(const std::string& dir, const run_config& rc) {
  auto s = storage::store::open(dir, {.sync = rc.sync});
  if (!s) throw std::runtime_error(s.error().message);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("scheduler.policy", caf::atom("sharing"));  // as the engine does
  hub_result out;
  {
    caf::actor_system sys{cfg};
    auto hub = actors::spawn_log_hub(sys, s.value().get());
    auto left = std::make_shared<std::atomic<size_t>>(rc.builds);
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    auto start = clock_type::now();
    for (size_t b = 0; b < rc.builds; ++b)
      sys.spawn(driver, driver_state{hub, "tb_bench" + std::to_string(b), rc.per_build, 0, 0,
                                     rc.window, left, done});
    fut.wait();
    std::chrono::duration<double> secs = clock_type::now() - start;
    auto entries = static_cast<double>(rc.builds * rc.per_build);
    out.rate = entries / secs.count();
    out.hub_us = static_cast<double>(thread_cpu_ns("caf.actor")) / 1000.0 / entries;
    caf::scoped_actor self{sys};
    self->request(hub, caf::infinite, actors::stats_atom::value)
        .receive(
            [&](const actors::hub_stats& hs) {
              if (hs.batches_written)
                out.per_batch = static_cast<double>(hs.entries_appended) /
                                static_cast<double>(hs.batches_written);
            },
            [](caf::error&) {});
    caf::anon_send_exit(hub, caf::exit_reason::user_shutdown);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, hub_only = false;
  std::vector<std::string> only;
  std::string base;
  CLI::App app{"log_hub append throughput against a raw RocksDB WriteBatch loop"};
  app.add_flag("--quick", quick, "a tenth of the entries (what CI runs)");
  app.add_option("--case", only,
                 "only this row (repeatable): builds-in_flight-durability, e.g. 64-1-wal")
      ->allow_extra_args(false);
  app.add_flag("--hub-only", hub_only, "skip the raw baseline (for profiling the hub)");
  app.add_option("dir", base,
                 "where the stores go (default: a fresh temp dir); the benchmark removes only "
                 "the stores it made, and the dir only if it made it");
  CLI11_PARSE(app, argc, argv);
  bool made_base = false;
  if (base.empty()) {  // a fixed name would collide with another run
    char tmpl[] = "/tmp/nullspace-bench-log-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    base = tmpl;
    made_base = true;
  }
  const size_t scale = quick ? 10 : 1;
  std::vector<run_config> runs;
  for (size_t window : {size_t{1}, size_t{16}})
    for (bool sync : {false, true})
      for (size_t builds : {size_t{1}, size_t{64}, size_t{1024}}) {
        size_t total = sync && window == 1 && builds == 1 ? 2000 : sync ? 40000 : 200000;
        runs.push_back({builds, std::max<size_t>(total / scale / builds, 5), sync, window});
      }
  std::printf(
      "| builds | in flight per build | durability | entries | log_hub entries/s | entries per "
      "batch | hub thread CPU µs per entry | raw RocksDB entries/s | ratio |\n");
  std::printf("|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (auto& rc : runs) {
    auto tag =
        std::to_string(rc.builds) + "-" + std::to_string(rc.window) + (rc.sync ? "-sync" : "-wal");
    if (!only.empty() && std::find(only.begin(), only.end(), tag) == only.end()) continue;
    double raw = 0;
    if (!hub_only) {
      auto dir = fresh_dir(base, "raw-" + tag);
      raw = raw_rocksdb(dir, rc);
      std::filesystem::remove_all(dir);
    }
    auto dir = fresh_dir(base, "hub-" + tag);
    auto hub = hub_run(dir, rc);
    std::filesystem::remove_all(dir);
    std::printf("| %zu | %zu | %s | %zu | %.0f | %.1f | %.2f | %.0f | %.2f |\n", rc.builds,
                rc.window, rc.sync ? "WAL + fsync" : "WAL", rc.builds * rc.per_build, hub.rate,
                hub.per_batch, hub.hub_us, raw, raw > 0 ? hub.rate / raw : 0.0);
    nullspace::bench::report("log append, " + std::to_string(rc.builds) + " builds, " +
                                 std::to_string(rc.window) + " in flight, " +
                                 (rc.sync ? "WAL + fsync" : "WAL"),
                             hub.rate, "entries/s", raw > 0 ? "raw RocksDB" : "", raw);
    std::fflush(stdout);
  }
  if (made_base) std::filesystem::remove_all(base);
}
