#include "runtime/machine/machine_bundle.hpp"

#include <signal.h>

#include <charconv>
#include <map>

#include "runtime/process/process_runner.hpp"
#include "runtime/sandbox/oci_config.hpp"

namespace nullspace::runtime {

std::vector<std::string> machine_env(const template_config& config) {
  std::vector<std::string> out;
  std::map<std::string, size_t> at;  // name -> index in out
  auto set = [&](const std::string& name, const std::string& value) {
    auto entry = name + "=" + value;
    if (auto it = at.find(name); it != at.end())
      out[it->second] = std::move(entry);
    else {
      at.emplace(name, out.size());
      out.push_back(std::move(entry));
    }
  };
  for (auto& kv : config.env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (auto& [k, v] : config.runtime_envs) set(k, v);
  if (!at.contains("PATH")) out.insert(out.begin(), default_path_env);
  return out;
}

int signal_number(const std::string& name) {
  if (name.empty()) return 0;
  int n = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
  if (ec == std::errc{} && p == name.data() + name.size()) return n >= 1 && n <= 64 ? n : 0;
  static const std::map<std::string, int> table{
      {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},       {"SIGQUIT", SIGQUIT},
      {"SIGILL", SIGILL},       {"SIGTRAP", SIGTRAP},     {"SIGABRT", SIGABRT},
      {"SIGBUS", SIGBUS},       {"SIGFPE", SIGFPE},       {"SIGKILL", SIGKILL},
      {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV},     {"SIGUSR2", SIGUSR2},
      {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM},
      {"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD},     {"SIGCONT", SIGCONT},
      {"SIGSTOP", SIGSTOP},     {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN},
      {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},       {"SIGXCPU", SIGXCPU},
      {"SIGXFSZ", SIGXFSZ},     {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF},
      {"SIGWINCH", SIGWINCH},   {"SIGIO", SIGIO},         {"SIGPWR", SIGPWR},
      {"SIGSYS", SIGSYS}};
  if (auto it = table.find(name); it != table.end()) return it->second;
  for (auto [prefix, base] : {std::pair{"SIGRTMIN", SIGRTMIN}, {"SIGRTMAX", SIGRTMAX}}) {
    std::string_view rest(name);
    if (!rest.starts_with(prefix)) continue;
    rest.remove_prefix(std::string_view(prefix).size());
    if (rest.empty()) return base;
    int off = 0;
    char op = rest[0];
    rest.remove_prefix(1);
    auto [q, e2] = std::from_chars(rest.data(), rest.data() + rest.size(), off);
    if (e2 != std::errc{} || q != rest.data() + rest.size()) return 0;
    int v = (op == '+' ? base + off : op == '-' ? base - off : 0);
    return v >= SIGRTMIN && v <= SIGRTMAX ? v : 0;
  }
  return 0;
}

std::string machine_config_json(const machine_spec& spec, const machine_bundle_paths& paths) {
  sandbox_spec s;
  s.rootfs = paths.rootfs;
  s.args = {machine_init_path, "--output-fd", std::to_string(init_output_fd), "--status-fd",
            std::to_string(init_status_fd)};
  if (!spec.envs.empty()) s.args.insert(s.args.end(), {"--env-fd", std::to_string(init_env_fd)});
  if (!spec.config.start_cmd.empty()) {
    s.args.insert(s.args.end(), {"--user", std::to_string(spec.config.uid) + ":" +
                                               std::to_string(spec.config.gid)});
    if (auto sig = signal_number(spec.config.stop_signal); sig > 0 && sig != SIGTERM)
      s.args.insert(s.args.end(), {"--stop-signal", std::to_string(sig)});
    s.args.insert(s.args.end(), {"--", "/bin/sh", "-c", spec.config.start_cmd});
  }
  s.env = machine_env(spec.config);
  s.cwd = spec.config.workdir.empty() ? "/" : spec.config.workdir;
  s.uid = 0;  // init; the start command runs as the template's user
  s.gid = 0;
  std::string host = spec.id;
  for (auto& c : host)
    if (c == '_') c = '-';
  s.hostname = host;
  s.network = spec.resources.internet_access;
  s.netns_path = paths.netns;
  s.resolv_conf = paths.resolv_conf;
  s.cpu_count = spec.resources.cpu_count;
  s.memory_bytes = uint64_t{spec.resources.memory_mb} << 20;
  s.cgroups_path = paths.cgroup;
  s.readonly_binds.emplace_back(paths.init_binary, machine_init_path);
  s.tmp_tmpfs = false;  // a machine's /tmp is on its disk, like a VM's
  return oci_config_json(s);
}

}  // namespace nullspace::runtime
