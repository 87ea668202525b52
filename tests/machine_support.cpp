#include "tests/machine_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "runtime/image/image_store.hpp"
#include "runtime/machine/machine_cgroups.hpp"
#include "runtime/machine/machine_disk.hpp"
#include "runtime/machine/machine_layout.hpp"
#include "runtime/process/process_runner.hpp"
#include "storage/common/sha256.hpp"
#include "tests/sandbox_support.hpp"

namespace nullspace::test {
namespace fs = std::filesystem;

namespace {

constexpr auto hang_bound = std::chrono::seconds(120);  // catches a hang; not a timing assertion

runtime::process_runner& shared_runner() {
  static runtime::process_runner runner;
  return runner;
}

std::string images_dir(const temp_dir& dir) {
  auto* shared = std::getenv("NULLSPACE_TEST_IMAGES");
  return shared && *shared ? std::string(shared) : dir.sub("images");
}

}  // namespace

std::vector<std::string> daemon_machine_flags(const char* range) {
  std::vector<std::string> flags{"--machine-network-range", range};
  if (auto* init = std::getenv("NULLSPACE_INIT")) {
    flags.push_back("--machine-init");
    flags.push_back(init);
  }
  return flags;
}

std::string machines_unavailable() {
  if (::geteuid() != 0) return "container machines need root";
  bool runtime = false;
  for (auto p : {"/usr/sbin/runc", "/usr/bin/runc", "/usr/bin/crun"})
    runtime = runtime || ::access(p, X_OK) == 0;
  if (!runtime) return "no OCI runtime (runc/crun) installed";
  if (::access("/dev/loop-control", R_OK | W_OK) != 0) return "no loop devices (/dev/loop-control)";
  if (::access("/bin/busybox", X_OK) != 0) return "no /bin/busybox";
  if (::access("/usr/sbin/mkfs.ext4", X_OK) != 0 && ::access("/sbin/mkfs.ext4", X_OK) != 0)
    return "no mkfs.ext4 (e2fsprogs)";
  auto* init = std::getenv("NULLSPACE_INIT");
  if (!init || ::access(init, X_OK) != 0) return "NULLSPACE_INIT does not name nullspace-init";
  return "";
}

std::unique_ptr<runtime::container_driver> open_driver(const std::string& data_dir) {
  runtime::container_driver_options o;
  o.data_dir = data_dir;
  o.init_binary = std::getenv("NULLSPACE_INIT");
  o.network_range = test_machine_range;
  all_test_data_dirs().insert(data_dir);
  auto d = runtime::container_driver::open(o);
  if (!d) FAIL(d.error().message);
  return std::move(d.value());
}

std::optional<runtime::artifact_info> make_test_artifact(
    const temp_dir& dir, const std::string& image, const std::map<std::string, std::string>& files,
    const runtime::template_config& config, uint32_t disk_mb) {
  auto images = images_dir(dir);
  auto catalog_file = image;  // the store's file name for it: "python:3.11" -> "python-3.11"
  std::replace(catalog_file.begin(), catalog_file.end(), ':', '-');
  if (image != "busybox" && !fs::exists(images + "/catalog/" + catalog_file + ".json"))
    return std::nullopt;
  runtime::image_store store(images, shared_runner());
  auto base = store.make(image);
  if (!base) FAIL(base.error().message);

  sha256 h;
  h.update_field(base->digest).update_field(config.json()).update_field(std::to_string(disk_mb));
  for (auto& [path, content] : files) h.update_field(path).update_field(content);
  auto id = h.hex_digest();

  auto layer = dir.sub("layer-" + id.substr(0, 12));
  fs::create_directories(layer);
  for (auto& [path, content] : files) {
    if (path.ends_with("/")) {
      fs::create_directories(layer + path);
      continue;
    }
    fs::create_directories(fs::path(layer + path).parent_path());
    write_file(layer + path, content);
  }
  runtime::template_config c = config;
  if (c.env.empty()) c.env = base->env;
  runtime::artifact_spec spec;
  spec.id = id;
  spec.layers = {layer};
  spec.layers.insert(spec.layers.end(), base->layers.begin(), base->layers.end());
  spec.disk_mb = disk_mb;
  spec.config_json = c.json();
  spec.artifacts_dir = dir.sub("data/artifacts");
  spec.mount_dir = dir.sub("merge-" + id.substr(0, 12));
  auto made = runtime::make_rootfs_artifact(spec);
  if (!made) FAIL(made.error().message);
  return made.value();
}

std::string new_machine_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  char buf[32];
  std::snprintf(buf, sizeof buf, "m_t%012llx",
                static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  all_test_machine_ids().insert(buf);
  return buf;
}

runtime::machine_spec spec_for(const std::string& id, const runtime::artifact_info& artifact) {
  runtime::machine_spec s;
  s.id = id;
  s.artifact_id = artifact.id;
  s.artifact_dir = artifact.dir;
  auto stored = runtime::parse_template_config(read_file(artifact.dir + "/config.json"));
  REQUIRE(stored.ok());
  s.config = stored.value();
  return s;
}

exec_output run_in(runtime::machine_driver& d, const std::string& id, runtime::command_spec spec) {
  struct shared {
    std::mutex mu;
    exec_output r;
    std::promise<void> done;
  };
  auto s = std::make_shared<shared>();
  runtime::command_callbacks cb;
  cb.on_output = [s](runtime::command_stream stream, std::string_view data) {
    std::lock_guard lock(s->mu);
    (stream == runtime::command_stream::out ? s->r.out : s->r.err).append(data);
  };
  cb.on_exit = [s](runtime::command_exit ex) {
    {
      std::lock_guard lock(s->mu);
      s->r.exit = std::move(ex);
    }
    s->done.set_value();
  };
  auto done = s->done.get_future();
  auto h = d.exec(id, spec, std::move(cb));
  if (!h) FAIL(h.error().message);
  REQUIRE(done.wait_for(hang_bound) == std::future_status::ready);
  std::lock_guard lock(s->mu);
  return s->r;
}

exec_output sh(runtime::machine_driver& d, const std::string& id, const std::string& script) {
  runtime::command_spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return run_in(d, id, std::move(spec));
}

void eventually(const std::function<bool()>& done, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + hang_bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("never happened: " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a condition
  }
}

host_traces traces(const std::string& data_dir, const std::set<std::string>& ids) {
  host_traces t;
  t.mounts = mounts_under(data_dir);
  t.loops = runtime::loops_under(data_dir);
  for (auto& id : ids) {
    t.cgroups += runtime::machine_cgroup_dirs(id);
    if (fs::exists("/sys/class/net/" + runtime::machine_layout::veth(id))) ++t.links;
  }
  std::error_code ec;
  auto machines = data_dir + "/machines";
  for (fs::directory_iterator it(machines + "/.runtime", ec), end; !ec && it != end;
       it.increment(ec))
    ++t.containers;
  ec.clear();
  for (fs::directory_iterator it(machines, ec), end; !ec && it != end; it.increment(ec))
    if (runtime::valid_machine_id(it->path().filename().string())) ++t.machine_dirs;
  ec.clear();
  for (fs::directory_iterator it(machines + "/.disks", ec), end; !ec && it != end; it.increment(ec))
    ++t.disks;
  return t;
}

std::string describe(const host_traces& t) {
  return "mounts " + std::to_string(t.mounts) + ", loop devices " + std::to_string(t.loops) +
         ", cgroup dirs " + std::to_string(t.cgroups) + ", veths " + std::to_string(t.links) +
         ", runtime containers " + std::to_string(t.containers) + ", machine dirs " +
         std::to_string(t.machine_dirs) + ", disk images " + std::to_string(t.disks);
}

void check_no_traces(const std::string& data_dir, const std::set<std::string>& ids) {
  host_traces left;
  eventually(
      [&] {
        left = traces(data_dir, ids);
        return left == host_traces{};
      },
      "nothing of the machines is left on the host");
  INFO(describe(left));
  CHECK(left == host_traces{});
}

machine_guard::~machine_guard() {
  for (auto& id : ids_) d_->destroy(id);
}

std::set<std::string>& all_test_machine_ids() {
  static std::set<std::string> ids;
  return ids;
}

std::set<std::string>& all_test_data_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}

}  // namespace nullspace::test
