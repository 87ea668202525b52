#include "runtime/sandbox/oci_config.hpp"

#include <algorithm>

#include "storage/common/json_writer.hpp"

namespace nullspace::runtime {
namespace {

void mount(json::writer& w, std::string_view dest, std::string_view type, std::string_view source,
           const std::vector<std::string_view>& options) {
  w.begin_object().field("destination", dest).field("type", type).field("source", source);
  w.key("options").begin_array();
  for (auto o : options) w.value(o);
  w.end_array().end_object();
}

// How many names `path` has ("/a/b/" and "/a//b" have 2).
size_t path_depth(std::string_view path) {
  size_t n = 0;
  for (size_t i = 0; i < path.size(); ++i)
    if (path[i] != '/' && (i == 0 || path[i - 1] == '/')) ++n;
  return n;
}

// Paths a step must not read or write even as root (the usual container masks).
constexpr const char* masked_paths[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware"};
constexpr const char* readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                          "/proc/sysrq-trigger"};

// What root inside the sandbox keeps: enough to install packages and chown
// files, not enough to load modules, mount, or reach the host.
constexpr const char* capabilities[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",  "CAP_FSETID",           "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID",       "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_MKNOD",  "CAP_AUDIT_WRITE",  "CAP_SETFCAP"};

}  // namespace

std::string oci_config_json(const sandbox_spec& s) {
  json::writer w;
  w.begin_object();
  w.field("ociVersion", "1.0.2");

  w.key("process").begin_object();
  w.field("terminal", false);
  w.key("user").begin_object().field("uid", s.uid).field("gid", s.gid).end_object();
  w.key("args").begin_array();
  for (auto& a : s.args) w.value(a);
  w.end_array();
  w.key("env").begin_array();
  for (auto& e : s.env) w.value(e);
  w.end_array();
  w.field("cwd", s.cwd.empty() ? std::string("/") : s.cwd);
  w.key("capabilities").begin_object();
  for (auto set : {"bounding", "effective", "permitted"}) {
    w.key(set).begin_array();
    for (auto c : capabilities) w.value(c);
    w.end_array();
  }
  w.end_object();
  // No rlimits: the step inherits the runtime's (raising them past the host's
  // hard limits fails the container start).
  w.field("noNewPrivileges", false);  // setuid binaries (su, sudo) keep working for USER steps
  w.end_object();

  w.key("root").begin_object().field("path", s.rootfs).field("readonly", false).end_object();
  w.field("hostname", s.hostname);

  w.key("mounts").begin_array();
  mount(w, "/proc", "proc", "proc", {});
  mount(w, "/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"});
  mount(w, "/dev/pts", "devpts", "devpts",
        {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
  mount(w, "/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});
  mount(w, "/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"});
  mount(w, "/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"});
  if (s.tmp_tmpfs) mount(w, "/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"});
  // The step's own mounts, a parent before what is mounted inside it: the
  // runtime mounts in this order, so a mount made before its parent's would
  // be hidden under it (a tmpfs or bind inside a cache mount's target).
  struct step_mount {
    std::string target, type, source;
    std::vector<std::string_view> options;  // literals
  };
  std::vector<step_mount> mounts;
  if (s.network && !s.resolv_conf.empty())
    mounts.push_back({"/etc/resolv.conf", "bind", s.resolv_conf, {"rbind", "ro"}});
  if (!s.secrets_dir.empty())
    mounts.push_back(
        {"/run/secrets", "bind", s.secrets_dir, {"rbind", "ro", "nosuid", "nodev", "noexec"}});
  for (auto& [id, target] : s.secret_files)
    mounts.push_back(
        {target, "bind", s.secrets_dir + "/" + id, {"rbind", "ro", "nosuid", "nodev", "noexec"}});
  for (auto& target : s.tmpfs)
    mounts.push_back({target, "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=755"}});
  for (auto& [source, target] : s.readonly_binds)
    mounts.push_back({target, "bind", source, {"bind", "ro", "nosuid", "nodev"}});
  for (auto& [source, target] : s.writable_binds)
    mounts.push_back({target, "bind", source, {"bind", "rw", "nosuid", "nodev"}});
  std::stable_sort(mounts.begin(), mounts.end(), [](const step_mount& a, const step_mount& b) {
    return path_depth(a.target) < path_depth(b.target);
  });
  for (auto& m : mounts) mount(w, m.target, m.type, m.source, m.options);
  w.end_array();

  w.key("linux").begin_object();
  if (!s.cgroups_path.empty()) w.field("cgroupsPath", s.cgroups_path);
  w.key("resources").begin_object();
  w.key("devices").begin_array();
  w.begin_object().field("allow", false).field("access", "rwm").end_object();
  w.end_array();
  if (s.memory_bytes > 0)
    w.key("memory")
        .begin_object()
        .field("limit", s.memory_bytes)
        .field("swap", s.memory_bytes)
        .end_object();
  if (s.cpu_count > 0)
    w.key("cpu")
        .begin_object()
        .field("quota", int64_t{100000} * s.cpu_count)
        .field("period", uint64_t{100000})
        .end_object();
  if (s.pids_limit > 0) w.key("pids").begin_object().field("limit", s.pids_limit).end_object();
  w.end_object();
  w.key("namespaces").begin_array();
  for (auto ns : {"pid", "ipc", "uts", "mount"}) w.begin_object().field("type", ns).end_object();
  if (!s.netns_path.empty())
    w.begin_object().field("type", "network").field("path", s.netns_path).end_object();
  else if (!s.network)
    w.begin_object().field("type", "network").end_object();
  w.end_array();
  w.key("maskedPaths").begin_array();
  for (auto p : masked_paths) w.value(p);
  w.end_array();
  w.key("readonlyPaths").begin_array();
  for (auto p : readonly_paths) w.value(p);
  w.end_array();
  w.end_object();

  w.end_object();
  return std::move(w).str();
}

std::vector<std::string> sandbox_spec::mount_targets() const {
  std::vector<std::string> out;
  if (network && !resolv_conf.empty()) out.push_back("/etc/resolv.conf");
  if (!secrets_dir.empty()) out.push_back("/run/secrets");
  for (auto& f : secret_files) out.push_back(f.second);
  out.insert(out.end(), tmpfs.begin(), tmpfs.end());
  for (auto& b : readonly_binds) out.push_back(b.second);
  for (auto& b : writable_binds) out.push_back(b.second);
  return out;
}

}  // namespace nullspace::runtime
