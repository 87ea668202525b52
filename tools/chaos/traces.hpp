// What machines and sandboxed builds leave on the host, by the id they belong
// to: machine dirs, disk images, OCI runtime state, mounts and loop devices
// under the data dir, cgroups and veths. The harness compares these with
// what the daemon says is alive: anything of an ended or unknown object is a
// leak.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nullspace::chaos {

struct host_traces {
  std::map<std::string, std::vector<std::string>> machines;  // id -> what is left of it
  std::map<std::string, std::vector<std::string>> builds;    // build id -> what is left
  std::vector<std::string> unattributed;  // mounts / loops under DATA that name no object
};

// Scans DATA (`data_dir`, absolute). `known_machines` / `known_builds` are
// also looked up in the host-wide places (cgroups, veths), which other users
// of the host share.
host_traces scan_traces(const std::string& data_dir, const std::set<std::string>& known_machines,
                        const std::set<std::string>& known_builds);

}  // namespace nullspace::chaos
