#include "tools/chaos/traces.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nullspace::chaos {
namespace fs = std::filesystem;
namespace {

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

// The id in `rel` (a path below DATA) if it is a machine's or a build's.
void attribute(const std::string& rel, const std::string& what, host_traces& t) {
  auto part = [&](size_t i) {
    std::stringstream ss(rel);
    std::string s;
    for (size_t k = 0; k <= i && std::getline(ss, s, '/'); ++k) {
    }
    return s;
  };
  if (rel.starts_with("machines/.artifacts/") || rel.starts_with("artifacts/")) return;  // shared
  if (rel.starts_with("machines/.disks/")) {
    auto f = part(2);
    t.machines[f.substr(0, f.find(".ext4"))].push_back(what);
  } else if (rel.starts_with("machines/") && !part(1).starts_with(".")) {
    t.machines[part(1)].push_back(what);
  } else if (rel.starts_with("work/")) {
    t.builds[part(1)].push_back(what);
  } else {
    t.unattributed.push_back(what);
  }
}

}  // namespace

host_traces scan_traces(const std::string& data_dir, const std::set<std::string>& known_machines,
                        const std::set<std::string>& known_builds) {
  host_traces t;
  std::error_code ec;
  auto prefix = data_dir + "/";
  // Mounts under DATA (roots, disks, network namespace files, step overlays).
  {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string f;
      for (int i = 0; i < 5 && ss >> f; ++i) {
      }
      if (f.starts_with(prefix)) attribute(f.substr(prefix.size()), "mount " + f, t);
    }
  }
  // Loop devices backed by files under DATA.
  for (fs::directory_iterator it("/sys/block", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!name.starts_with("loop")) continue;
    auto backing = first_line(it->path() / "loop" / "backing_file");
    if (backing.starts_with(prefix))
      attribute(backing.substr(prefix.size()), "loop " + name + " -> " + backing, t);
  }
  // Machine dirs and disk images.
  for (fs::directory_iterator it(data_dir + "/machines", ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!name.starts_with(".")) t.machines[name].push_back("dir " + it->path().string());
  }
  for (fs::directory_iterator it(data_dir + "/machines/.disks", ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.ends_with(".ext4"))
      t.machines[name.substr(0, name.size() - 5)].push_back("disk " + it->path().string());
  }
  // OCI runtime state: machines' containers (nsm-<id>) and build steps' (ns-<build>-s<n>).
  for (fs::directory_iterator it(data_dir + "/machines/.runtime", ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.starts_with("nsm-")) t.machines[name.substr(4)].push_back("container " + name);
  }
  for (fs::directory_iterator it(data_dir + "/run/oci", ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.starts_with("ns-")) {
      auto rest = name.substr(3);
      t.builds[rest.substr(0, rest.rfind("-s"))].push_back("container " + name);
    }
  }
  // Host-wide: cgroups (every v1 controller) and veths, of the ids we know.
  for (fs::directory_iterator it("/sys/fs/cgroup", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    for (auto& id : known_machines)
      if (fs::exists(it->path() / "nullspace-machines" / id, e2))
        t.machines[id].push_back("cgroup " + (it->path() / "nullspace-machines" / id).string());
    for (auto& id : known_builds)
      if (fs::exists(it->path() / "nullspace" / id, e2))
        t.builds[id].push_back("cgroup " + (it->path() / "nullspace" / id).string());
  }
  for (fs::directory_iterator it("/sys/class/net", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!name.starts_with("nsv")) continue;
    auto alias = first_line(it->path() / "ifalias");
    if (known_machines.count(alias)) t.machines[alias].push_back("veth " + name);
  }
  return t;
}

}  // namespace nullspace::chaos
