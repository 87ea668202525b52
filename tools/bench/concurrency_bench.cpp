// Concurrent trivial sandboxed builds: does a build's overhead stay flat as more
// run at once? (needs root, runc, busybox-static)
//
// For each concurrency N (default 1, 2, 5, 20, 50, 200), in rounds, interleaved:
//   - engine: N builds of one `run: true` step on the busybox base (skip_cache),
//     submitted at once from N threads, with N executor slots; each build's
//     latency is submit -> ready (the caller's clock);
//   - anchor: N `runc run` of `sh -c true` by hand at once, each on its own
//     bundle made the same way (our config.json writer, an overlay over the
//     busybox layer, mounted before the clock starts); latency = runc's run.
// Per N: median latency of each, the overhead (engine median - anchor median),
// and the overhead against N = 1's. Wall time per round gives builds/s.
//
//   sudo build/tools/bench/bench-concurrency [--levels 1,2,5,20,50,200]
//        [--min-samples 20] [--quick]
//
// --quick (what CI runs): levels 1,4, a few seconds; without root it exits 77.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.hpp"
#include "nullspace/engine.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/process/command.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/sandbox/oci_config.hpp"
#include "runtime/sandbox/overlay.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

const std::string build_json =
    R"({"name":"conc","skip_cache":true,"builder":{"source":{"type":"image","image":"busybox"},)"
    R"("steps":[{"type":"run","cmd":"true"}]}})";

struct round_result {
  std::vector<double> latencies;  // ms, one per build or run
  double wall_ms = 0;             // first start to last end
  size_t failed = 0;
};

// N builds at once through the engine.
round_result engine_round(nullspace::engine& eng, size_t n) {
  round_result r;
  r.latencies.resize(n);
  std::vector<clock_type::time_point> ends(n);
  std::atomic<size_t> failed{0};
  std::latch go(static_cast<std::ptrdiff_t>(n) + 1);
  std::vector<std::thread> threads;
  clock_type::time_point t0;
  for (size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      auto t = clock_type::now();
      auto b = eng.submit(build_json);
      bool ok = false;
      if (b) {
        auto done = eng.wait_until_terminal(b->id(), std::chrono::minutes(10));
        ok = done && done->record.status == nullspace::build_status::ready;
        if (!ok && done && done->record.failure)
          std::cerr << "build failed: " << done->record.failure->message << "\n";
      } else {
        std::cerr << "submit refused: " << b.error().message << "\n";
      }
      ends[i] = clock_type::now();
      r.latencies[i] = ms_between(t, ends[i]);
      if (!ok) failed.fetch_add(1);
    });
  t0 = clock_type::now();
  go.arrive_and_wait();
  for (auto& t : threads) t.join();
  r.wall_ms = ms_between(t0, *std::max_element(ends.begin(), ends.end()));
  r.failed = failed.load();
  return r;
}

struct by_hand {
  std::string runc_root;
  std::vector<std::string> bundles;  // one per concurrent run, mounted
};

// N `runc run` at once, each on its own bundle.
round_result hand_round(const by_hand& h, size_t n, size_t& seq) {
  round_result r;
  r.latencies.resize(n);
  std::vector<clock_type::time_point> ends(n);
  std::atomic<size_t> failed{0};
  std::latch go(static_cast<std::ptrdiff_t>(n) + 1);
  std::vector<std::thread> threads;
  size_t first = seq;
  seq += n;
  for (size_t i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      auto t = clock_type::now();
      auto out =
          nullspace::runtime::run_command({"runc", "--root", h.runc_root, "run", "--bundle",
                                           h.bundles[i], "conc-" + std::to_string(first + i)});
      ends[i] = clock_type::now();
      r.latencies[i] = ms_between(t, ends[i]);
      if (!out || out->exit_status != 0) {
        if (failed.fetch_add(1) == 0)
          std::cerr << "runc run by hand failed: " << (out ? out->output : out.error().message)
                    << "\n";
      }
    });
  auto t0 = clock_type::now();
  go.arrive_and_wait();
  for (auto& t : threads) t.join();
  r.wall_ms = ms_between(t0, *std::max_element(ends.begin(), ends.end()));
  r.failed = failed.load();
  return r;
}

by_hand make_bundles(const std::string& tmp, const std::vector<std::string>& layers, size_t n) {
  by_hand h;
  h.runc_root = tmp + "/runc";
  for (size_t i = 0; i < n; ++i) {
    auto b = tmp + "/bundles/" + std::to_string(i);
    for (auto d : {"/rootfs", "/upper", "/work"}) fs::create_directories(b + d);
    if (!nullspace::runtime::mount_overlay(layers, b + "/upper", b + "/work", b + "/rootfs")) {
      std::cerr << "cannot mount a bench rootfs\n";
      std::exit(1);
    }
    nullspace::runtime::sandbox_spec spec;
    spec.rootfs = b + "/rootfs";
    spec.args = {"/bin/sh", "-c", "true"};
    spec.env = {nullspace::runtime::default_path_env};
    spec.cgroups_path = "/nullspace-bench/conc-" + std::to_string(i);
    std::ofstream(b + "/config.json") << nullspace::runtime::oci_config_json(spec);
    h.bundles.push_back(b);
  }
  return h;
}

std::vector<size_t> parse_levels(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(std::stoul(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string levels_arg = "1,2,5,20,50,200";
  size_t min_samples = 20;
  bool quick = false;
  CLI::App app{"concurrent trivial sandboxed builds against runc run by hand (root)"};
  app.add_option("--levels", levels_arg, "concurrencies, comma-separated");
  app.add_option("--min-samples", min_samples, "builds per level at least (rounds of N)");
  app.add_flag("--quick", quick, "levels 1,4 and 4 samples (CI); exit 77 without root");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    levels_arg = "1,4";
    min_samples = 4;
  }
  auto levels = parse_levels(levels_arg);
  if (levels.empty()) return 1;
  if (::geteuid() != 0) {
    std::cerr << "bench-concurrency needs root" << (quick ? ": skipped" : "") << "\n";
    return quick ? 77 : 1;  // 77: meson's "skipped"
  }
  size_t top = *std::max_element(levels.begin(), levels.end());
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  std::printf("load average %.1f, %u cores\n", load, std::thread::hardware_concurrency());

  char tmpl[] = "/tmp/nullspace-conc-XXXXXX";
  std::string tmp = ::mkdtemp(tmpl);
  bool bad = false;
  {
    nullspace::engine_options o;
    o.data_dir = tmp + "/data";
    o.isolation_mode = nullspace::isolation::sandbox;
    o.executor_slots = static_cast<uint32_t>(top);
    o.max_queued = top * 2;
    auto eng = nullspace::engine::open(o);
    if (!eng) {
      std::cerr << eng.error().message << "\n";
      return 1;
    }
    // The busybox image is made by the first build: not measured.
    auto warm = engine_round(*eng.value(), 1);
    if (warm.failed) return 1;
    nullspace::runtime::process_runner runner;
    auto img = nullspace::runtime::image_store(tmp + "/data/images", runner).make("busybox");
    if (!img) {
      std::cerr << img.error().message << "\n";
      return 1;
    }
    auto hand = make_bundles(tmp, img->layers, top);
    size_t seq = 0;
    (void)hand_round(hand, 1, seq);  // runc's first start: not measured

    std::printf("%6s %7s | %12s %12s %12s | %12s %12s | %10s %8s | %9s %9s\n", "N", "samples",
                "engine p50", "engine p90", "engine max", "runc p50", "runc p90", "overhead",
                "vs N=1", "builds/s", "runc/s");
    double overhead_1 = 0;
    for (size_t n : levels) {
      std::vector<double> eng_lat, hand_lat;
      double eng_wall = 0, hand_wall = 0;
      size_t rounds = std::max<size_t>(1, (min_samples + n - 1) / n);
      for (size_t k = 0; k < rounds; ++k) {
        auto e = engine_round(*eng.value(), n);
        auto h = hand_round(hand, n, seq);
        if (e.failed || h.failed) bad = true;
        eng_lat.insert(eng_lat.end(), e.latencies.begin(), e.latencies.end());
        hand_lat.insert(hand_lat.end(), h.latencies.begin(), h.latencies.end());
        eng_wall += e.wall_ms;
        hand_wall += h.wall_ms;
      }
      double overhead = pct(eng_lat, 0.5) - pct(hand_lat, 0.5);
      if (n == levels.front()) overhead_1 = overhead;
      double total = static_cast<double>(n * rounds);
      std::printf(
          "%6zu %7zu | %9.1f ms %9.1f ms %9.1f ms | %9.1f ms %9.1f ms | %7.1f ms %7.2fx | "
          "%9.1f %9.1f\n",
          n, eng_lat.size(), pct(eng_lat, 0.5), pct(eng_lat, 0.9), pct(eng_lat, 1.0),
          pct(hand_lat, 0.5), pct(hand_lat, 0.9), overhead,
          overhead_1 > 0 ? overhead / overhead_1 : 0, total / (eng_wall / 1000),
          total / (hand_wall / 1000));
      nullspace::bench::report(
          "sandboxed trivial build, " + std::to_string(n) + " at once, p50", pct(eng_lat, 0.5),
          "ms", "runc run by hand, " + std::to_string(n) + " at once, p50", pct(hand_lat, 0.5));
      std::fflush(stdout);
    }
    for (auto& b : hand.bundles) nullspace::runtime::unmount_quietly(b + "/rootfs");
  }
  nullspace::runtime::remove_tree(tmp);
  return bad ? 1 : 0;
}
