#include "runtime/machine/machine_cgroups.hpp"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "storage/common/file_text.hpp"
#include "runtime/machine/machine_layout.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

const std::string cgroup_root = "/sys/fs/cgroup";

std::string controller_dir(const std::string& controller, const std::string& id) {
  return cgroup_root + "/" + controller + machine_layout::cgroup(id);
}

template <class Fn>
void for_each_controller(Fn fn) {
  std::error_code ec;
  for (fs::directory_iterator it(cgroup_root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) fn(it->path().filename().string());
}

}  // namespace

uint64_t machine_oom_kills(const std::string& id) {
  std::ifstream in(controller_dir("memory", id) + "/memory.oom_control");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return 0;
}

bool machine_frozen(const std::string& id) {
  auto state = read_text_file(controller_dir("freezer", id) + "/freezer.state");
  return state.starts_with("FROZEN") || state.starts_with("FREEZING");
}

void kill_machine_processes(const std::string& id) {
  auto freezer = controller_dir("freezer", id);
  if (fs::exists(freezer)) write_text_file(freezer + "/freezer.state", "THAWED");
  for_each_controller([&](const std::string& controller) {
    std::ifstream in(controller_dir(controller, id) + "/cgroup.procs");
    pid_t pid;
    while (in >> pid) ::kill(pid, SIGKILL);
  });
}

void remove_machine_cgroups(const std::string& id) {
  for_each_controller([&](const std::string& controller) {
    auto dir = controller_dir(controller, id);
    std::error_code ec;
    // Children first: a runtime may have made sub-cgroups.
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) ::rmdir(it->path().c_str());
    ::rmdir(dir.c_str());
  });
}

int machine_cgroup_dirs(const std::string& id) {
  int n = 0;
  for_each_controller([&](const std::string& controller) {
    std::error_code ec;
    if (fs::is_directory(controller_dir(controller, id), ec)) ++n;
  });
  return n;
}

}  // namespace nullspace::runtime
