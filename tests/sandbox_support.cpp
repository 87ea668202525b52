#include "tests/sandbox_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/context/build_context.hpp"

namespace nullspace::test {

std::string sandbox_unavailable() {
  if (::geteuid() != 0) return "sandboxed builds need root";
  for (auto p : {"/usr/sbin/runc", "/usr/bin/runc", "/usr/bin/crun"})
    if (::access(p, X_OK) == 0) return ::access("/bin/busybox", X_OK) == 0 ? "" : "no /bin/busybox";
  return "no OCI runtime (runc/crun) installed";
}

engine_options sandbox_options(const temp_dir& dir, bool shared_images) {
  engine_options o;
  o.data_dir = dir.sub("data");
  o.isolation_mode = isolation::sandbox;
  // Machines: the init the build made, and the engine tests' own address range (the driver tests
  // use 10.87, a daemon on the same host never hands out the same /30).
  if (auto* init = std::getenv("NULLSPACE_INIT")) o.machines.init_binary = init;
  o.machines.network_range = "10.86.0.0/16";
  if (auto* images = std::getenv("NULLSPACE_TEST_IMAGES"); shared_images && images)
    o.images_dir = images;
  return o;
}

std::unique_ptr<engine> open_sandbox(const temp_dir& dir, bool shared_images) {
  return open_sandbox(sandbox_options(dir, shared_images));
}

std::unique_ptr<engine> open_sandbox(const engine_options& o) {
  auto e = engine::open(o);
  if (!e.ok()) FAIL(e.error().message);
  return std::move(e.value());
}

std::string upload_context(engine& eng, const std::string& tar) {
  auto stored = eng.upload_context(tar);
  REQUIRE(stored.ok());
  return stored->id;
}

build_view build(engine& eng, const std::string& json) {
  auto b = eng.submit(json);
  if (!b.ok()) FAIL(b.error().message);
  auto done = eng.wait_until_terminal(b->id(), generous);
  REQUIRE(done.ok());
  return done.value();
}

std::vector<log_entry> entries(engine& eng, const std::string& id) {
  auto st = eng.get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 1000000);
  REQUIRE(st.ok());
  std::vector<log_entry> out;
  for (auto& r : st->logs) out.push_back(*storage::decode_log_entry(r.json));
  return out;
}

std::vector<std::string> output(engine& eng, const std::string& id) {
  std::vector<std::string> out;
  for (auto& e : entries(eng, id))
    if (e.kind == "log" && e.phase == "step") out.push_back(e.message);
  return out;
}

bool contains(const std::vector<std::string>& lines, std::string_view needle) {
  for (auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

std::string failure(const build_view& b) {
  return b.record.failure ? b.record.failure->code + ": " + b.record.failure->message : "";
}

int mounts_under(const std::string& dir) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, point, rest;
  int n = 0;
  while (in >> dev >> point && std::getline(in, rest))
    if (point.starts_with(dir)) ++n;
  return n;
}

std::vector<long> step_pids(const std::string& build_id) {
  std::vector<long> pids;
  std::error_code ec;
  for (auto& c :
       std::filesystem::directory_iterator("/sys/fs/cgroup/pids/nullspace/" + build_id, ec))
    if (c.is_directory()) {
      std::istringstream in(read_file(c.path().string() + "/cgroup.procs"));
      for (long pid; in >> pid;) pids.push_back(pid);
    }
  return pids;
}

}  // namespace nullspace::test
