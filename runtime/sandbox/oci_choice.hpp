// Which OCI runtime runs containers here, for build steps and machines alike:
// crun when it is installed and can run containers on this host (it starts a
// container in about half runc's time), else runc.
//
// crun 1.8 refuses every container on a cgroup v1 host whose cgroup v2
// hierarchy (/sys/fs/cgroup/unified) has a controller ("cgroups in hybrid mode
// not supported, drop all controllers from cgroupv2"): the check comes before
// its cgroup manager is chosen, so no flag (--cgroup-manager=disabled either)
// gets past it. Hosts whose init leaves a controller such as hugetlb on v2 are
// like that; mounting that controller's v1 hierarchy (as systemd's hybrid
// layout does) or booting with the unified hierarchy makes crun usable.
#pragma once

#include <string>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// Absolute path of the runtime for `preference`: "crun", "runc", "" (crun
// when it works here, else runc) or the absolute path of an executable named
// crun or runc (one installed elsewhere). invalid_argument for another name;
// unavailable when the one asked for (or either, for "") cannot be used, with
// the reason.
result<std::string> choose_oci_runtime(const std::string& preference);

// Whether crun's cgroup check passes on this host (see above).
bool crun_can_run_here();

}  // namespace nullspace::runtime
