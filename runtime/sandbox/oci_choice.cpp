#include "runtime/sandbox/oci_choice.hpp"

#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "storage/common/file_text.hpp"

namespace nullspace::runtime {
namespace {

std::string installed(const std::string& name) {
  for (auto dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    auto p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

}  // namespace

bool crun_can_run_here() {
  // crun's own test: cgroup v1 (a tmpfs at /sys/fs/cgroup) with a cgroup2
  // mount at /sys/fs/cgroup/unified is "hybrid", refused while that v2
  // hierarchy has any controller.
  struct statfs root {
  }, unified{};
  if (::statfs("/sys/fs/cgroup", &root) != 0 || root.f_type != TMPFS_MAGIC) return true;
  if (::statfs("/sys/fs/cgroup/unified", &unified) != 0 || unified.f_type != CGROUP2_SUPER_MAGIC)
    return true;
  auto controllers = read_text_file("/sys/fs/cgroup/unified/cgroup.controllers");
  return controllers.find_first_not_of(" \n") == std::string::npos;
}

result<std::string> choose_oci_runtime(const std::string& preference) {
  static constexpr const char* crun_refused =
      "crun cannot run containers on this host (cgroup v1 with a controller on cgroup v2: "
      "hybrid mode); use runc";
  // An absolute path names its runtime by its file name.
  bool path = preference.starts_with('/');
  auto name = path ? preference.substr(preference.rfind('/') + 1) : preference;
  if (!preference.empty() && name != "crun" && name != "runc")
    return make_error(errc::invalid_argument,
                      "the OCI runtime must be crun or runc, not " + preference);
  if (path) {
    if (::access(preference.c_str(), X_OK) != 0)
      return make_error(errc::unavailable, preference + " is not an executable");
    if (name == "crun" && !crun_can_run_here()) return make_error(errc::unavailable, crun_refused);
    return preference;
  }
  auto crun = installed("crun"), runc = installed("runc");
  if (preference == "crun" || (preference.empty() && !crun.empty())) {
    if (!crun.empty() && crun_can_run_here()) return crun;
    if (preference == "crun")
      return make_error(errc::unavailable, crun.empty() ? "crun is not installed" : crun_refused);
  }
  if (!runc.empty()) return runc;
  return make_error(errc::unavailable,
                    "no usable OCI runtime: install Debian's runc package (or crun, on a host "
                    "where it can run containers)");
}

}  // namespace nullspace::runtime
