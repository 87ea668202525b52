// Container machine costs, each next to its baseline in the same run (needs
// root, runc or crun, busybox-static, e2fsprogs and nullspace-init):
//
//   1. a machine's disk: mkfs.ext4 of a sparse image against copying the data
//      extents of a blank one made before (what the driver does);
//   2. create-to-ready of a busybox machine whose start command touches its
//      ready file: container_driver::start + file probes until ready (with
//      loopback only and with a NAT'd veth; another machine of the artifact
//      runs, so its image is mounted), against `<runtime> run --detach` by
//      hand of a bundle over the same rootfs.ext4 (mounted once, read-only,
//      /tmp a tmpfs) until the same file appears;
//   3. `true` in a running machine: container_driver::exec until on_exit,
//      against `<runtime> exec` of the same container by hand.
//
//   build/tools/bench/bench-machine [--quick] [--rounds N] [--init PATH] [--runtime crun|runc]
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "bench_report.hpp"
#include "runtime/artifact/rootfs_artifact.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/machine/container_driver.hpp"
#include "runtime/machine/machine_disk.hpp"
#include "runtime/process/command.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/sandbox/oci_choice.hpp"
#include "runtime/sandbox/oci_config.hpp"
#include "runtime/sandbox/overlay.hpp"

extern char** environ;

namespace fs = std::filesystem;
namespace rt = nullspace::runtime;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The fastest run: the cost without the host's scheduling noise.
double best(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench-machine: " << what << "\n";
  std::exit(1);
}

void disk_costs(const std::string& tmp, int rounds) {
  const uint64_t bytes = rt::disk_image_bytes(1024);
  std::vector<double> mkfs, copy;
  for (int i = 0; i < rounds; ++i) {
    auto blank = tmp + "/blank-" + std::to_string(i);  // empty: the first image runs mkfs
    auto t0 = clock_type::now();
    if (auto r = rt::make_blank_disk(blank, tmp + "/mkfs.ext4", bytes); !r) die(r.error().message);
    mkfs.push_back(ms_since(t0));
    t0 = clock_type::now();
    if (auto r = rt::make_blank_disk(blank, tmp + "/copy.ext4", bytes); !r) die(r.error().message);
    copy.push_back(ms_since(t0));
    fs::remove(tmp + "/mkfs.ext4");
    fs::remove(tmp + "/copy.ext4");
    fs::remove_all(blank);
  }
  std::printf(
      "machine disk (1 GB free): mkfs.ext4 %.2f ms, copy of a blank image %.2f ms "
      "(medians of %d)\n",
      median(mkfs), median(copy), rounds);
  nullspace::bench::report("machine disk (copy of a blank image)", median(copy), "ms", "mkfs.ext4",
                           median(mkfs));
}

bool wait_ready(rt::machine_driver& d, const std::string& id, const rt::ready_check& check) {
  auto deadline = clock_type::now() + std::chrono::seconds(60);
  while (clock_type::now() < deadline)
    if (d.probe_ready(id, check).ready) return true;
  return false;
}

// One machine through the driver: start() until its ready file is seen.
double driver_start(rt::container_driver& d, const rt::artifact_info& art,
                    const rt::template_config& config, const std::string& id, bool internet) {
  rt::ready_check ready;
  ready.type = rt::ready_type::file;
  ready.path = "/tmp/ready";
  rt::machine_spec spec;
  spec.id = id;
  spec.artifact_id = art.id;
  spec.artifact_dir = art.dir;
  spec.config = config;
  spec.resources.internet_access = internet;
  auto t0 = clock_type::now();
  auto placed = d.start(spec);
  if (!placed) die(placed.error().message);
  if (!wait_ready(d, spec.id, ready)) die("a machine never became ready");
  return ms_since(t0);
}

double driver_exec_true(rt::container_driver& d, const std::string& id) {
  std::promise<rt::command_exit> done;
  rt::command_callbacks cb;
  cb.on_exit = [&](rt::command_exit ex) { done.set_value(std::move(ex)); };
  rt::command_spec cmd;
  cmd.argv = {"true"};
  auto t0 = clock_type::now();
  auto h = d.exec(id, cmd, std::move(cb));
  if (!h) die(h.error().message);
  auto ex = done.get_future().get();
  auto ms = ms_since(t0);
  if (ex.exit_code != 0) die("true failed in the machine");
  return ms;
}

// Runs argv to completion with stdio on /dev/null (a detached container
// inherits the runtime's stdio: a pipe would never reach EOF). Its exit status.
int run_quietly(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd : {0, 1, 2})
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The same runtime by hand: a bundle over the artifact's image (mounted once,
// read-only; /tmp a tmpfs; a fresh network namespace made by the runtime).
class by_hand {
 public:
  by_hand(const std::string& tmp, std::string runtime, const rt::artifact_info& art,
          const std::string& start_cmd)
      : runtime_(std::move(runtime)), bundle_(tmp + "/by-hand"), state_(tmp + "/by-hand-state") {
    fs::create_directories(bundle_ + "/rootfs");
    if (auto m = rt::mount_ext4_image(art.image_path(), bundle_ + "/rootfs", true); !m)
      die(m.error().message);
    rt::sandbox_spec spec;
    spec.rootfs = bundle_ + "/rootfs";
    spec.args = {"/bin/sh", "-c", start_cmd};
    spec.env = {rt::default_path_env};
    spec.network = false;
    spec.cgroups_path = "/nullspace-bench/by-hand";
    std::ofstream(bundle_ + "/config.json") << rt::oci_config_json(spec);
  }
  ~by_hand() {
    rt::unmount_quietly(bundle_ + "/rootfs");
    for (auto ctl :
         {"memory", "cpu", "pids", "freezer", "devices", "blkio", "cpuset", "cpuacct", "systemd"})
      ::rmdir((std::string("/sys/fs/cgroup/") + ctl + "/nullspace-bench").c_str());
  }

  // `run --detach` until the start command's ready file is there.
  double start(int i) {
    auto name = "bench-hand-" + std::to_string(i);
    auto pid_file = bundle_ + "/pid";
    auto t0 = clock_type::now();
    if (run_quietly({runtime_, "--root", state_, "run", "--detach", "--pid-file", pid_file,
                     "--bundle", bundle_, name}) != 0)
      die("run --detach by hand failed");
    std::string pid;
    std::ifstream(pid_file) >> pid;
    auto ready = "/proc/" + pid + "/root/tmp/ready";
    auto deadline = clock_type::now() + std::chrono::seconds(60);
    while (::access(ready.c_str(), F_OK) != 0)
      if (clock_type::now() > deadline) die("the container by hand never became ready");
    auto ms = ms_since(t0);
    run_quietly({runtime_, "--root", state_, "delete", "--force", name});
    return ms;
  }

 private:
  std::string runtime_, bundle_, state_;
};

double exec_by_hand(const std::string& runtime, const std::string& state_root,
                    const std::string& container, const std::vector<std::string>& flags = {}) {
  std::vector<std::string> argv{runtime, "--root", state_root, "exec"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {container, "true"});
  auto t0 = clock_type::now();
  int status = run_quietly(argv);
  auto ms = ms_since(t0);
  if (status != 0) die("exec by hand failed");
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"container machine costs next to the OCI runtime by hand"};
  bool quick = false;
  int rounds = 10, execs = 40;
  std::string init, runtime_pref;
  app.add_flag("--quick", quick, "a few rounds: seconds, for CI");
  app.add_option("--rounds", rounds, "machines started per variant");
  app.add_option("--init", init, "nullspace-init (default: build/nullspace-init)");
  app.add_option("--runtime", runtime_pref, "crun or runc (default: crun when it works here)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    rounds = 2;
    execs = 5;
  }
  if (::geteuid() != 0) {
    std::printf("bench-machine: skipped (container machines need root)\n");
    return 0;
  }
  if (init.empty()) {
    auto self = fs::read_symlink("/proc/self/exe");
    init = (self.parent_path() / "../../nullspace-init").lexically_normal().string();
  }
  auto runtime = rt::choose_oci_runtime(runtime_pref);
  if (!runtime) die(runtime.error().message);

  char tmpl[] = "/tmp/nullspace-machine-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp failed");
  std::string tmp = tmpl;

  rt::process_runner runner;
  rt::image_store images(tmp + "/images", runner);
  auto busybox = images.make("busybox");
  if (!busybox) die(busybox.error().message);
  rt::template_config config;
  config.env = busybox->env;
  config.start_cmd = "touch /tmp/ready; exec sleep 100000";
  rt::artifact_spec as;
  as.id = "bench";
  as.layers = busybox->layers;
  as.config_json = config.json();
  as.artifacts_dir = tmp + "/artifacts";
  as.mount_dir = tmp + "/merge";
  auto art = rt::make_rootfs_artifact(as);
  if (!art) die(art.error().message);

  disk_costs(tmp, quick ? 2 : 5);

  rt::container_driver_options o;
  o.data_dir = tmp + "/data";
  o.oci_runtime = runtime_pref;
  o.init_binary = std::filesystem::absolute(init).string();  // the runtime reads it from the bundle
  auto driver = rt::container_driver::open(o);
  if (!driver) die(driver.error().message);
  auto& d = *driver.value();
  // The first machine of an artifact also mounts the artifact's image; later
  // ones share that mount (as the by-hand runs share theirs) while a machine
  // of the artifact runs: one is kept running meanwhile.
  auto first = driver_start(d, *art, config, "m_bench_first", false);
  // Interleaved, so that the host's load meets both sides alike.
  std::vector<double> loopback, nat, hand, exec_driver, exec_hand, exec_flags;
  {
    by_hand manual(tmp, d.runtime_binary(), *art, config.start_cmd);
    for (int i = 0; i < rounds; ++i) {
      auto a = "m_bench_a" + std::to_string(i), b = "m_bench_b" + std::to_string(i);
      loopback.push_back(driver_start(d, *art, config, a, false));
      d.destroy(a);
      hand.push_back(manual.start(i));
      nat.push_back(driver_start(d, *art, config, b, true));
      d.destroy(b);
    }
  }
  auto id = std::string("m_bench_first");
  auto container = rt::machine_layout::container_id(id);
  auto state = d.layout().runtime_root();
  for (int i = 0; i < execs; ++i) {
    exec_driver.push_back(driver_exec_true(d, id));
    exec_hand.push_back(exec_by_hand(d.runtime_binary(), state, container));
    // The flags the driver passes: the template's user and workdir.
    exec_flags.push_back(
        exec_by_hand(d.runtime_binary(), state, container, {"--user", "0:0", "--cwd", "/"}));
  }
  d.destroy(id);
  driver.value().reset();
  rt::remove_tree(tmp);

  auto name = fs::path(runtime.value()).filename().string();
  std::printf(
      "create-to-ready (busybox, start command touches the ready file), median (fastest) of %d "
      "interleaved:\n  driver %.1f (%.1f) ms loopback, %.1f (%.1f) ms NAT; %s run --detach by "
      "hand %.1f (%.1f) ms -> %.2fx (%.2fx) loopback, %.2fx (%.2fx) NAT; the artifact's first "
      "machine %.1f ms\n",
      rounds, median(loopback), best(loopback), median(nat), best(nat), name.c_str(), median(hand),
      best(hand), median(loopback) / median(hand), best(loopback) / best(hand),
      median(nat) / median(hand), best(nat) / best(hand), first);
  std::printf(
      "exec true, median (fastest) of %d interleaved:\n  driver %.1f (%.1f) ms, %s exec by hand "
      "%.1f (%.1f) ms, with --user and --cwd %.1f (%.1f) ms -> %+.1f (%+.1f) ms\n",
      execs, median(exec_driver), best(exec_driver), name.c_str(), median(exec_hand),
      best(exec_hand), median(exec_flags), best(exec_flags),
      median(exec_driver) - median(exec_hand), best(exec_driver) - best(exec_hand));
  using nullspace::bench::report;
  report("machine create-to-ready, loopback", median(loopback), "ms", name + " run --detach",
         median(hand));
  report("machine create-to-ready, NAT", median(nat), "ms", name + " run --detach", median(hand));
  report("exec true in a machine", median(exec_driver), "ms", name + " exec", median(exec_hand));
  return 0;
}
