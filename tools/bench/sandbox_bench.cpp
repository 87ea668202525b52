// Sandbox costs, each next to its baseline in the same run (needs root, runc or
// crun, busybox-static, e2fsprogs):
//
//   1. per-step overhead: builds of N trivial `run` steps (skip_cache) through
//      the engine, per step (whole build over N, and the marginal cost of a
//      step next to a 1-step build), against `run` of the same kind of bundle
//      by hand with the same runtime binary (crun when it works here, else
//      runc; config.json from the same writer, rootfs = an overlay over the
//      busybox layer), interleaved; with the processes the engine started per
//      step;
//   2. a fully cached rebuild of a 10-step template through the HTTP API:
//      POST /v1/builds, then GET ?wait_ms= until the build is terminal;
//   3. ext4 artifact creation (mkfs.ext4 -d + digest) in MB/s of file data,
//      for the busybox layer and for python:3.11 when --images-dir has it.
//
//   build/tools/bench/bench-sandbox [--steps N] [--rounds N] [--rebuilds N]
//                                   [--oci-runtime crun|runc] [--images-dir DIR] [--quick]
//
// --quick (what CI runs): 3 steps, 3 rebuilds, a few seconds; without root it
// exits 77 (skipped). Any build or measurement that fails makes the exit 1.
#include <curl/curl.h>
#include <simdjson.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "api/api_server.hpp"
#include "bench_report.hpp"
#include "nullspace/engine.hpp"
#include "runtime/artifact/rootfs_artifact.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/process/command.hpp"
#include "runtime/process/spawn_count.hpp"
#include "runtime/sandbox/oci_choice.hpp"
#include "runtime/sandbox/oci_config.hpp"
#include "runtime/sandbox/overlay.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

bool g_failed = false;  // something did not work: exit 1 at the end

void failed(const std::string& what) {
  std::cerr << "bench-sandbox: " << what << "\n";
  g_failed = true;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

size_t collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

std::string http(const std::string& method, const std::string& url, const std::string& body = "") {
  std::string out;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  curl_slist* headers = nullptr;
  if (method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return out;
}

std::string field(const std::string& json, const char* a, const char* b) {
  simdjson::dom::parser p;
  std::string_view v;
  if (p.parse(json)[a][b].get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

std::string steps_json(size_t n, const std::string& cmd) {
  std::string s = "[";
  for (size_t i = 0; i < n; ++i)
    s += std::string(i ? "," : "") + R"({"type":"run","cmd":")" + cmd + " " + std::to_string(i) +
         "\"}";
  return s + "]";
}

std::string request(const std::string& steps, const std::string& extra = "") {
  return R"({"name":"bench","builder":{"source":{"type":"image","image":"busybox"},"steps":)" +
         steps + "}" + extra + "}";
}

// One build of `steps` trivial steps, nothing from the cache; its wall time.
double timed_build(nullspace::engine& eng, size_t steps) {
  auto t0 = clock_type::now();
  auto b = eng.submit(request(steps_json(steps, "true"), R"(,"skip_cache":true)"));
  if (!b) {
    std::cerr << "bench build refused: " << b.error().message << "\n";
    std::exit(1);
  }
  auto done = eng.wait_until_terminal(b->id(), std::chrono::minutes(10));
  if (!done || done->record.status != nullspace::build_status::ready) {
    std::cerr << "bench build failed"
              << (done && done->record.failure ? ": " + done->record.failure->message : "") << "\n";
    std::exit(1);
  }
  return ms_since(t0);
}

void per_step(nullspace::engine& eng, const std::string& tmp, const std::string& runtime,
              size_t steps, size_t rounds) {
  // By hand: the same kind of bundle (our config.json writer, an overlay over
  // the busybox layer), the same runtime binary, `run` to exit.
  nullspace::runtime::process_runner runner;
  nullspace::runtime::image_store images(tmp + "/data/images", runner);
  auto img = images.make("busybox");
  auto bundle = tmp + "/bundle";
  for (auto d : {"/rootfs", "/upper", "/work"}) fs::create_directories(bundle + d);
  if (!nullspace::runtime::mount_overlay({img->layers}, bundle + "/upper", bundle + "/work",
                                         bundle + "/rootfs")) {
    std::cerr << "cannot mount the bench rootfs\n";
    std::exit(1);
  }
  nullspace::runtime::sandbox_spec spec;
  spec.rootfs = bundle + "/rootfs";
  spec.args = {"/bin/sh", "-c", "true"};
  spec.env = {nullspace::runtime::default_path_env};
  spec.cgroups_path = "/nullspace-bench/by-hand";
  std::ofstream(bundle + "/config.json") << nullspace::runtime::oci_config_json(spec);
  // By hand again, as a step asks it of the runtime: a fresh overlay for every
  // run (its own empty upper dir, mounted volatile), the build's memory and CPU
  // limits (the engine's defaults), a cgroup below the build's, `--pid-file`.
  // Only the run is timed, not the mount and unmount. (A fresh overlay alone
  // cost nothing measurable; the limits and the cgroup about 1 ms.)
  auto fresh = tmp + "/bundle-fresh";
  fs::create_directories(fresh + "/rootfs");
  spec.rootfs = fresh + "/rootfs";
  spec.memory_bytes = uint64_t{1024} << 20;
  spec.cpu_count = 2;
  spec.cgroups_path = "/nullspace-bench/fresh/s0";
  std::ofstream(fresh + "/config.json") << nullspace::runtime::oci_config_json(spec);
  size_t runs = 0;
  auto run_by_hand = [&](const std::string& dir, bool pid_file) {
    std::vector<std::string> argv{runtime, "--root", tmp + "/by-hand", "run", "--bundle", dir};
    if (pid_file) argv.insert(argv.end(), {"--pid-file", dir + "/container.pid"});
    argv.push_back("bench-" + std::to_string(runs++));
    auto t0 = clock_type::now();
    auto r = nullspace::runtime::run_command(argv);
    auto ms = ms_since(t0);
    if (!r || r->exit_status != 0)
      failed("run by hand failed: " + (r ? r->output : r.error().message));
    return ms;
  };
  auto by_hand = [&] { return run_by_hand(bundle, false); };
  auto by_hand_fresh = [&] {
    std::error_code ec;
    for (auto d : {"/upper", "/work"}) {
      fs::remove_all(fresh + d, ec);
      fs::create_directories(fresh + d);
    }
    if (!nullspace::runtime::mount_overlay({img->layers}, fresh + "/upper", fresh + "/work",
                                           fresh + "/rootfs", true))
      failed("cannot mount a fresh bench rootfs");
    auto ms = run_by_hand(fresh, true);
    nullspace::runtime::unmount_quietly(fresh + "/rootfs");
    return ms;
  };
  // Interleaved, so both see the same load: a build of `steps` steps, a build
  // of one step, `steps` runs by hand. The engine's figure per step is the
  // build's time over its steps; its marginal cost per step leaves out what a
  // build costs once (submit, base, cleanup and layer sync, artifact lookup,
  // terminal record): (T(steps) - T(1)) / (steps - 1).
  std::vector<double> whole, marginal, hand, hand_fresh;
  uint64_t processes = 0;
  for (size_t round = 0; round < rounds; ++round) {
    auto p0 = nullspace::runtime::processes_started();
    auto tn = timed_build(eng, steps);
    processes += nullspace::runtime::processes_started() - p0;
    auto t1 = timed_build(eng, 1);
    whole.push_back(tn / static_cast<double>(steps));
    if (steps > 1) marginal.push_back((tn - t1) / static_cast<double>(steps - 1));
    for (size_t i = 0; i < steps; ++i) hand.push_back(by_hand());
    for (size_t i = 0; i < steps; ++i) hand_fresh.push_back(by_hand_fresh());
  }
  nullspace::runtime::unmount_quietly(bundle + "/rootfs");
  // The runtime removes a container's own cgroup, not the parents named in
  // cgroupsPath: the bench's, in every v1 controller, go here.
  std::error_code ec;
  for (fs::directory_iterator it("/sys/fs/cgroup", ec), end; !ec && it != end; it.increment(ec))
    for (auto sub : {"/nullspace-bench/fresh", "/nullspace-bench/by-hand", "/nullspace-bench"})
      ::rmdir((it->path().string() + sub).c_str());
  auto name = fs::path(runtime).filename().string();
  auto h = median(hand);
  std::printf(
      "per-step (%s): engine %.1f ms/step whole build, %.1f ms marginal (median of %zu builds of "
      "%zu steps); %s run by hand %.1f ms (median of %zu, fastest %.1f) -> %.2fx whole, %.2fx "
      "marginal; %.2f processes per step\n",
      name.c_str(), median(whole), median(marginal), rounds, steps, name.c_str(), h, hand.size(),
      *std::min_element(hand.begin(), hand.end()), median(whole) / h, median(marginal) / h,
      static_cast<double>(processes) / static_cast<double>(steps * rounds));
  nullspace::bench::report("sandboxed trivial step (whole build / steps)", median(whole), "ms",
                           name + " run by hand", h);
  nullspace::bench::report("sandboxed trivial step (marginal)", median(marginal), "ms",
                           name + " run by hand", h);
  auto hf = median(hand_fresh);
  std::printf(
      "per-step (%s), by hand as a step asks it (fresh overlay, limits, pid file): %.1f ms (median "
      "of %zu, fastest %.1f) -> "
      "engine %.2fx whole, %.2fx marginal\n",
      name.c_str(), hf, hand_fresh.size(), *std::min_element(hand_fresh.begin(), hand_fresh.end()),
      median(whole) / hf, median(marginal) / hf);
  nullspace::bench::report("sandboxed trivial step (whole build / steps)", median(whole), "ms",
                           name + " run by hand as a step", hf);
}

void cached_rebuild(nullspace::engine& eng, size_t rebuilds) {
  nullspace::api::api_options ao;
  ao.port = 0;
  auto srv = nullspace::api::api_server::start(eng, ao);
  auto base = "http://127.0.0.1:" + std::to_string(srv.value()->port());
  std::string steps = R"([{"type":"run","cmd":"echo 1 > /a"},{"type":"env","envs":{"A":"1"}},)"
                      R"({"type":"run","cmd":"echo 2 > /b"},{"type":"workdir","path":"/srv"},)"
                      R"({"type":"run","cmd":"echo 3 > c"},{"type":"env","envs":{"B":"2"}},)"
                      R"({"type":"run","cmd":"echo 4 > d"},{"type":"user","name":"nobody"},)"
                      R"({"type":"run","cmd":"echo 5 > /tmp/e"},{"type":"env","envs":{"C":"3"}}])";
  auto body = request(steps);
  auto until_terminal = [&](const std::string& posted) {
    auto id = field(posted, "build", "id");
    std::string st;
    for (uint64_t off = 0;;) {
      auto got = http("GET", base + "/v1/builds/" + id + "?offset=" + std::to_string(off) +
                                 "&limit=1000&wait_ms=10000");
      st = field(got, "build", "status");
      if (st == "ready" || st == "error" || st == "cancelled") return st;
      simdjson::dom::parser p;
      uint64_t next = 0;
      if (p.parse(got)["next_offset"].get(next) == simdjson::SUCCESS) off = next;
    }
  };
  auto first = until_terminal(http("POST", base + "/v1/builds", body));  // fills the cache
  if (first != "ready") failed("the first 10-step build ended " + first);
  std::vector<double> times;
  auto p0 = nullspace::runtime::processes_started();
  for (size_t i = 0; i < rebuilds; ++i) {
    auto t0 = clock_type::now();
    auto st = until_terminal(http("POST", base + "/v1/builds", body));
    times.push_back(ms_since(t0));
    if (st != "ready") failed("a cached rebuild ended " + st);
  }
  std::sort(times.begin(), times.end());
  std::printf(
      "cached 10-step rebuild via HTTP (first build %s): median %.1f ms, p90 %.1f ms, "
      "max %.1f ms over %zu rebuilds, %llu processes started\n",
      first.c_str(), median(times), times[times.size() * 9 / 10], times.back(), times.size(),
      static_cast<unsigned long long>(nullspace::runtime::processes_started() - p0));
  nullspace::bench::report("cached 10-step rebuild via HTTP, median", median(times), "ms");
}

void ext4_rate(const std::string& tmp, const std::string& name, const std::string& layer) {
  nullspace::runtime::artifact_spec spec;
  spec.layers = {layer};
  spec.config_json = "{}";
  spec.artifacts_dir = tmp + "/artifacts";
  spec.mount_dir = tmp + "/artifact-root";
  std::vector<double> rates;
  uint64_t used = 0;
  for (int i = 0; i < 3; ++i) {
    spec.id = name + "-" + std::to_string(i);
    auto t0 = clock_type::now();
    auto a = nullspace::runtime::make_rootfs_artifact(spec);
    auto ms = ms_since(t0);
    if (!a) {
      failed("artifact failed: " + a.error().message);
      return;
    }
    used = a->used_bytes;
    rates.push_back(static_cast<double>(a->used_bytes) / (1 << 20) / (ms / 1000));
    nullspace::runtime::remove_tree(a->dir);
  }
  std::printf("ext4 artifact of %s (%.0f MB of files): median %.0f MB/s (3 runs)\n", name.c_str(),
              static_cast<double>(used) / (1 << 20), median(rates));
  nullspace::bench::report("ext4 artifact of " + name, median(rates), "MB/s");
}

}  // namespace

int main(int argc, char** argv) {
  size_t steps = 10, rebuilds = 20, rounds = 5;
  std::string images_dir, runtime_pref;
  bool quick = false;
  CLI::App app{"sandbox benchmarks (root)"};
  app.add_option("--steps", steps, "trivial steps per build for the per-step overhead");
  app.add_option("--rounds", rounds, "builds of --steps steps (each with a 1-step build)");
  app.add_option("--rebuilds", rebuilds, "cached rebuilds to time");
  app.add_option("--oci-runtime", runtime_pref,
                 "crun or runc for the engine and by hand (default: the engine's own choice)");
  app.add_option("--images-dir", images_dir, "where python:3.11 may already be made");
  app.add_flag("--quick", quick, "3 steps and 3 rebuilds (CI); exit 77 without root");
  CLI11_PARSE(app, argc, argv);
  if (quick) steps = rebuilds = rounds = 3;
  if (::geteuid() != 0) {
    std::cerr << "bench-sandbox needs root" << (quick ? ": skipped" : "") << "\n";
    return quick ? 77 : 1;  // 77: meson's "skipped"
  }
  char tmpl[] = "/tmp/nullspace-bench-XXXXXX";
  std::string tmp = ::mkdtemp(tmpl);
  {
    nullspace::engine_options o;
    o.data_dir = tmp + "/data";
    o.isolation_mode = nullspace::isolation::sandbox;
    o.oci_runtime = runtime_pref;
    auto runtime = nullspace::runtime::choose_oci_runtime(runtime_pref);  // as the engine does
    if (!runtime) {
      std::cerr << runtime.error().message << "\n";
      return 1;
    }
    auto eng = nullspace::engine::open(o);
    if (!eng) {
      std::cerr << eng.error().message << "\n";
      return 1;
    }
    per_step(*eng.value(), tmp, *runtime, steps, rounds);
    cached_rebuild(*eng.value(), rebuilds);
    nullspace::runtime::process_runner runner;
    auto bb = nullspace::runtime::image_store(tmp + "/data/images", runner).make("busybox");
    ext4_rate(tmp, "busybox", bb->layers.front());
    if (!images_dir.empty()) {
      nullspace::runtime::image_store shared(images_dir, runner);
      // Only if made already: the benchmark does not debootstrap.
      if (fs::exists(images_dir + "/catalog/python-3.11.json"))
        if (auto py = shared.make("python:3.11")) ext4_rate(tmp, "python:3.11", py->layers.front());
    }
  }
  nullspace::runtime::remove_tree(tmp);
  return g_failed ? 1 : 0;
}
