#include "runtime/machine/container_driver.hpp"
#include "runtime/machine/listening_ports.hpp"

#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <set>

#include "runtime/machine/machine_bundle.hpp"
#include "runtime/machine/machine_cgroups.hpp"
#include "runtime/machine/machine_disk.hpp"
#include "runtime/machine/machine_files.hpp"
#include "runtime/machine/machine_users.hpp"
#include "runtime/machine/process_info.hpp"
#include "runtime/process/command.hpp"
#include "runtime/sandbox/oci_choice.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "runtime/sandbox/probe_tally.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

constexpr size_t status_width = 64;                   // nullspace-init's record
constexpr size_t max_output_read = 16 << 20;          // per read_start_output
constexpr uint32_t default_disk_mb = 1024;            // artifact without disk_mb
constexpr auto kill_wait = std::chrono::seconds(10);  // after SIGKILL, for the kernel

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string default_init_binary() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : (self.parent_path() / "nullspace-init").string();
}

uint32_t artifact_disk_mb(const std::string& artifact_dir) {
  auto text = read_text_file(artifact_dir + "/artifact.json");
  simdjson::dom::parser parser;
  simdjson::padded_string json(text);
  simdjson::dom::object o;
  if (text.empty() || parser.parse(json).get(o) != simdjson::SUCCESS) return 0;
  return static_cast<uint32_t>(storage::jr::u64(o, "disk_mb"));
}

// nullspace-init's status record: "running <pid>", "exited <status>",
// "signaled <signal>", "none" (no start command), or "starting": ours, until
// init has started the command (which counts as running).
void read_start_status(const std::string& path, machine_status& st) {
  auto text = read_text_file(path);
  char word[16] = {};
  long long value = 0;
  if (std::sscanf(text.c_str(), "%15s %lld", word, &value) < 1) return;
  std::string w = word;
  if (w == "running" || w == "starting")
    st.start_running = true;
  else if (w == "exited")
    st.start_exit_status = value;
  else if (w == "signaled")
    st.start_signal = static_cast<int>(value);
}

bool write_status_record(int fd, const std::string& text) {
  std::string line(status_width, ' ');
  line.replace(0, std::min(text.size(), status_width - 1), text.substr(0, status_width - 1));
  line.back() = '\n';
  return ::pwrite(fd, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size());
}

error machine_error(const std::string& id, const std::string& what, const error& e) {
  return make_error(e.code, "machine " + id + ": " + what + ": " + e.message);
}

}  // namespace

namespace {

// The request's envs as "K=V" entries, checked: a name is non-empty without
// '=' or NUL, a value has no NUL (init reads them NUL-separated).
result<std::vector<std::string>> request_env(const env_list& envs) {
  std::vector<std::string> out;
  for (auto& [k, v] : envs) {
    if (k.empty() || k.find_first_of(std::string("=\0", 2)) != std::string::npos ||
        v.find('\0') != std::string::npos)
      return make_error(errc::invalid_argument, "not an environment variable: " + k, "envs");
    out.push_back(k + "=" + v);
  }
  return out;
}

// A memfd holding `env` NUL-separated, for init: memory, never a file on disk.
result<unique_fd> env_memfd(const std::vector<std::string>& env) {
  unique_fd fd(::memfd_create("nullspace-machine-env", MFD_CLOEXEC));
  if (!fd) return make_error(errc::internal, std::string("memfd_create: ") + std::strerror(errno));
  std::string data;
  for (auto& e : env) data.append(e).push_back('\0');
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return make_error(errc::internal, std::string("memfd write: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

// The request's envs of a running machine, read back from its init's
// environment (init re-executes itself with them): the entries named in `names`.
std::vector<std::string> env_of_init(pid_t init, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  if (names.empty()) return out;
  auto text = read_text_file("/proc/" + std::to_string(init) + "/environ");
  std::set<std::string_view> wanted(names.begin(), names.end());
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\0', at);
    if (end == std::string::npos) end = text.size();
    std::string_view entry(text.data() + at, end - at);
    auto eq = entry.find('=');
    if (eq != std::string_view::npos && wanted.contains(entry.substr(0, eq)))
      out.emplace_back(entry);
    at = end + 1;
  }
  return out;
}

}  // namespace

result<std::unique_ptr<container_driver>> container_driver::open(
    const container_driver_options& options) {
  if (::geteuid() != 0) return make_error(errc::unavailable, "container machines need root");
  if (options.data_dir.empty())
    return make_error(errc::invalid_argument, "no data dir for machines");
  if (!machine_network::valid_range(options.network_range))
    return make_error(errc::invalid_argument,
                      "machine network range must be an IPv4 a.b.c.d/n with n from 8 to 30, not " +
                          options.network_range);
  auto rt = choose_oci_runtime(options.oci_runtime);
  if (!rt) return rt.error();
  auto init = options.init_binary.empty() ? default_init_binary() : options.init_binary;
  if (init.empty() || ::access(init.c_str(), X_OK) != 0)
    return make_error(errc::unavailable, "the machine init binary is missing (" + init +
                                             "): it is built as nullspace-init next to nullspaced");
  std::unique_ptr<container_driver> d(new container_driver(options, *rt, init));
  std::error_code ec;
  for (auto dir : {d->layout_.machines_dir(), d->layout_.runtime_root(),
                   d->layout_.machines_dir() + "/.artifacts"}) {
    fs::create_directories(dir, ec);
    if (ec) return make_error(errc::internal, "cannot create " + dir + ": " + ec.message());
  }
  ::chmod(d->layout_.machines_dir().c_str(), 0700);
  // The machines on disk hold their artifacts' mounts; others are left over.
  std::map<std::string, int> per_artifact;
  for (fs::directory_iterator it(d->layout_.machines_dir(), ec), end; !ec && it != end;
       it.increment(ec)) {
    auto id = it->path().filename().string();
    if (!valid_machine_id(id)) continue;
    if (auto p = container_placement::parse(read_text_file(d->layout_.placement_file(id))))
      if (!p->artifact_id.empty()) ++per_artifact[p->artifact_id];
  }
  d->artifacts_.recount(per_artifact);
  return d;
}

container_driver::container_driver(const container_driver_options& options,
                                   std::string runtime_binary, std::string init_binary)
    : options_(options),
      layout_(options.data_dir),
      runtime_(std::move(runtime_binary), layout_.runtime_root()),
      init_binary_(std::move(init_binary)),
      artifacts_(layout_),
      network_(options.network_range) {}

container_driver::~container_driver() = default;

std::optional<container_placement> container_driver::known(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = machines_.find(id);
  if (it == machines_.end()) return std::nullopt;
  return it->second;
}

result<container_placement> container_driver::running(const std::string& id) {
  auto p = known(id);
  if (!p) return make_error(errc::not_found, "no machine " + id + " on this host");
  if (!process_alive(p->init_pid, p->init_start))
    return make_error(errc::failed_precondition, "machine " + id + " is not running");
  return *p;
}

result<int> container_driver::open_root(const std::string& id) {
  auto p = running(id);
  if (!p) return p.error();
  int fd = ::open(("/proc/" + std::to_string(p->init_pid) + "/root").c_str(),
                  O_PATH | O_DIRECTORY | O_CLOEXEC);
  // Checked after opening: the pid still names the machine's init.
  if (fd < 0 || process_start_time(p->init_pid) != p->init_start) {
    if (fd >= 0) ::close(fd);
    return make_error(errc::failed_precondition, "machine " + id + " is not running");
  }
  return fd;
}

// ---- start ---------------------------------------------------------------------

result<machine_placement> container_driver::start(const machine_spec& spec) {
  const auto& id = spec.id;
  if (!valid_machine_id(id))
    return make_error(errc::invalid_argument, "a machine id is 1 to 64 letters, digits, '_' or '-'",
                      "id");
  auto image = spec.artifact_dir + "/rootfs.ext4";
  if (!valid_artifact_id(spec.artifact_id) || ::access(image.c_str(), R_OK) != 0)
    return make_error(
        errc::failed_precondition,
        "machine " + id + ": its template's artifact has no root filesystem (" + image + ")");
  auto dir = layout_.dir(id);
  if (::mkdir(dir.c_str(), 0700) != 0)
    return errno == EEXIST
               ? make_error(errc::conflict, "machine " + id + " already exists on this host")
               : make_error(errc::internal, "cannot create " + dir + ": " + errno_text(errno));

  container_placement p;
  p.runtime = runtime_.binary();
  p.container = machine_layout::container_id(id);
  p.artifact_id = spec.artifact_id;
  p.user = spec.config.user;
  p.uid = spec.config.uid;
  p.gid = spec.config.gid;
  p.workdir = spec.config.workdir.empty() ? "/" : spec.config.workdir;
  p.memory_mb = spec.resources.memory_mb;
  p.cpu_count = spec.resources.cpu_count;
  p.disk_mb = spec.resources.disk_mb ? spec.resources.disk_mb : artifact_disk_mb(spec.artifact_dir);
  if (!p.disk_mb) p.disk_mb = default_disk_mb;

  auto lower = artifacts_.acquire(spec.artifact_id, image);
  if (!lower) {
    ::rmdir(dir.c_str());
    return machine_error(id, "cannot mount its template's root filesystem", lower.error());
  }
  auto placed = start_steps(spec, p);
  if (!placed) {
    // Until its placement file exists, the artifact reference is only ours.
    bool recorded = ::access(layout_.placement_file(id).c_str(), F_OK) == 0;
    destroy(id);
    if (!recorded) artifacts_.release(spec.artifact_id);
  }
  return placed;
}

result<machine_placement> container_driver::start_steps(const machine_spec& spec,
                                                        container_placement& p) {
  const auto& id = spec.id;
  // The network namespace is made meanwhile on a thread of its own; it is
  // bound into the machine's dir once its disk is mounted there.
  auto network = std::async(std::launch::async, [&] {
    return network_.create(id, machine_layout::veth(id), spec.resources.internet_access);
  });
  auto fail_network = [&](const error& e) -> result<machine_placement> {
    if (auto made = network.get()) network_.destroy(made->net.veth, "", made->net.slot);
    return e;
  };

  // The writable layer: an ext4 image of its own, so it cannot fill the host.
  std::error_code ec;
  fs::create_directories(layout_.disks_dir(), ec);
  auto disk = layout_.disk_image(id), dir = layout_.dir(id);
  ::unlink(disk.c_str());  // left by a crash (its dir is new: no machine uses it)
  if (auto made = make_blank_disk(layout_.blank_dir(), disk, disk_image_bytes(p.disk_mb)); !made)
    return fail_network(machine_error(id, "cannot make its disk", made.error()));
  if (auto m = mount_ext4_image(disk, dir, false); !m)
    return fail_network(machine_error(id, "cannot mount its disk", m.error()));
  ::chmod(dir.c_str(), 0700);
  auto rootfs = layout_.rootfs(id);
  ::mkdir(layout_.upper(id).c_str(), 0755);
  ::mkdir(layout_.work(id).c_str(), 0700);
  ::mkdir(rootfs.c_str(), 0755);
  ::mkdir(layout_.host_dir(id).c_str(), 0700);
  if (auto m = mount_overlay({layout_.artifact_mount(p.artifact_id)}, layout_.upper(id),
                             layout_.work(id), rootfs);
      !m)
    return fail_network(machine_error(id, "cannot mount its root filesystem", m.error()));
  {
    unique_fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (auto made = make_dirs_at(root.get(), p.workdir, 0, 0); !made)
      return fail_network(machine_error(id, "cannot create its workdir", made.error()));
  }

  machine_bundle_paths paths{rootfs, layout_.netns(id), init_binary_, options_.resolv_conf,
                             machine_layout::cgroup(id)};
  if (!write_text_file(layout_.bundle(id) + "/config.json", machine_config_json(spec, paths)))
    return fail_network(make_error(errc::internal, "machine " + id + ": cannot write its bundle"));
  unique_fd output(
      ::open(layout_.start_log(id).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  unique_fd status(::open(layout_.start_status(id).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  auto env = request_env(spec.envs);
  if (!env) return fail_network(env.error());
  unique_fd env_fd;
  if (!env->empty()) {
    auto made = env_memfd(*env);
    if (!made) return fail_network(machine_error(id, "cannot pass its envs", made.error()));
    env_fd = std::move(*made);
  }
  auto initial = spec.config.start_cmd.empty() ? "none" : "starting";
  if (!output || !status || !write_status_record(status.get(), initial))
    return fail_network(
        make_error(errc::internal, "machine " + id + ": cannot create its start output files"));

  auto net = network.get();
  if (!net) return machine_error(id, "cannot set up its network", net.error());
  p.internet = net->net.internet;
  p.slot = net->net.slot;
  p.veth = net->net.veth;
  p.host_ip = net->net.host_ip;
  p.guest_ip = net->net.guest_ip;
  if (auto bound = machine_network::bind(net->ns.get(), layout_.netns(id)); !bound) {
    network_.destroy(p.veth, "", p.slot);
    return machine_error(id, "cannot set up its network", bound.error());
  }

  // Leftover runtime state of this id (a crash during an earlier destroy).
  if (fs::exists(runtime_.state_root() + "/" + p.container)) runtime_.remove(p.container);
  std::vector<int> fds{output.get(), status.get()};
  if (env_fd) fds.push_back(env_fd.get());  // init_env_fd
  auto init = runtime_.run_detached(p.container, layout_.bundle(id), layout_.runtime_log(id), fds);
  if (!init) {
    network_.destroy(p.veth, "", p.slot);
    return machine_error(id, "cannot start", init.error());
  }
  p.init_pid = *init;
  p.init_start = process_start_time(*init);
  for (auto& [k, v] : spec.envs) p.env_names.push_back(k);
  p.request_env = std::move(*env);
  // From here on the placement file holds the machine's artifact reference:
  // destroy() releases it, whenever it runs.
  if (!write_text_file(layout_.placement_file(id), p.json())) {
    network_.destroy(p.veth, "", p.slot);
    return make_error(errc::internal, "machine " + id + ": cannot write its placement");
  }
  {
    std::lock_guard lock(mu_);
    machines_[id] = p;
    auto diag = std::make_shared<diag_socket>();
    diag->fd = std::move(net->sock_diag);
    diag_[id] = std::move(diag);
  }
  return machine_placement{"container", p.json()};
}

// ---- adopt, status -------------------------------------------------------------

result<machine_status> container_driver::adopt(const std::string& id, const machine_placement& mp) {
  if (!valid_machine_id(id)) return make_error(errc::invalid_argument, "not a machine id: " + id);
  if (mp.driver != "container")
    return make_error(errc::invalid_argument,
                      "machine " + id + " was placed by the " + mp.driver + " driver");
  auto p = container_placement::parse(mp.json);
  if (!p) return make_error(errc::invalid_argument, "machine " + id + ": unreadable placement");
  if (!fs::exists(layout_.dir(id)) || !process_alive(p->init_pid, p->init_start))
    return make_error(errc::not_found, "machine " + id + " is gone: its container no longer runs");
  p->request_env = env_of_init(p->init_pid, p->env_names);
  {
    std::lock_guard lock(mu_);
    machines_[id] = *p;
  }
  network_.adopt({p->internet, p->slot, p->veth, p->host_ip, p->guest_ip});
  return status(id);
}

machine_status container_driver::status(const std::string& id) {
  machine_status st;
  auto p = known(id);
  if (!p) return st;
  if (process_alive(p->init_pid, p->init_start))
    st.machine =
        machine_frozen(id) ? machine_status::state::paused : machine_status::state::running;
  read_start_status(layout_.start_status(id), st);
  if (st.machine == machine_status::state::gone) st.start_running = false;
  st.oom = machine_oom_kills(id) > 0;
  return st;
}

probe_result container_driver::probe_ready(const std::string& id, const ready_check& check) {
  auto p = running(id);
  if (!p) return {false, p.error().message};
  if (check.type != ready_type::command)
    return ::nullspace::runtime::probe_ready(check, p->init_pid);

  struct shared {
    std::mutex mu;
    std::string output;
    std::promise<command_exit> done;
  };
  auto s = std::make_shared<shared>();
  command_callbacks cb;
  cb.on_output = [s](command_stream, std::string_view data) {
    std::lock_guard lock(s->mu);
    s->output.append(data);
    if (s->output.size() > 8192) s->output.erase(0, s->output.size() - 8192);
  };
  cb.on_exit = [s](command_exit ex) { s->done.set_value(std::move(ex)); };
  auto answer = s->done.get_future();
  command_spec cmd;
  cmd.argv = {"/bin/sh", "-c", check.cmd};
  auto handle = exec(id, cmd, std::move(cb));
  if (!handle) return {false, handle.error().message};
  // HEALTHCHECK --timeout, else the driver's own bound; a kill ends the command's tree.
  auto timeout = command_probe_timeout(check, options_.command_probe_timeout);
  bool timed_out = answer.wait_for(timeout) != std::future_status::ready;
  if (timed_out) (*handle)->kill();
  auto ex = answer.get();
  std::string last;
  {
    std::lock_guard lock(s->mu);
    auto lines = last_lines(s->output, 1);
    if (!lines.empty()) last = ": " + lines.back();
  }
  if (timed_out)
    return {false, "the command did not finish within " + std::to_string(timeout.count()) +
                       " ms (killed)"};
  if (!ex.start_error.empty()) return {false, ex.start_error};
  return {ex.exit_code == 0, "exit status " + std::to_string(ex.exit_code) + last};
}

result<output_chunk> container_driver::read_start_output(const std::string& id, uint64_t from,
                                                         size_t max) {
  if (!known(id)) return make_error(errc::not_found, "no machine " + id + " on this host");
  unique_fd f(::open(layout_.start_log(id).c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return make_error(errc::not_found, "machine " + id + " has no start output");
  output_chunk out;
  out.offset = from;
  out.data.resize(std::min(max, max_output_read));
  size_t got = 0;
  while (got < out.data.size()) {
    auto n = ::pread(f.get(), out.data.data() + got, out.data.size() - got,
                     static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.data.resize(got);
  return out;
}

// ---- commands --------------------------------------------------------------------

result<std::shared_ptr<command_handle>> container_driver::exec(const std::string& id,
                                                               const command_spec& spec,
                                                               command_callbacks callbacks) {
  if (spec.argv.empty() || spec.argv[0].empty())
    return make_error(errc::invalid_argument, "a command needs a program to run", "cmd");
  auto p = running(id);
  if (!p) return p.error();
  if (machine_frozen(id))
    return make_error(errc::failed_precondition, "machine " + id + " is paused");
  uint32_t uid = p->uid, gid = p->gid;
  if (!spec.user.empty()) {
    auto root = open_root(id);
    if (!root) return root.error();
    unique_fd guard(*root);
    auto u = resolve_machine_user(guard.get(), spec.user);
    if (!u) return u.error();
    uid = u->uid;
    gid = u->gid;
  }
  auto cwd = spec.cwd.empty() ? p->workdir : spec.cwd;
  if (cwd.empty() || cwd[0] != '/')
    return make_error(errc::invalid_argument, "cwd must be an absolute path", "cwd");
  // The machine's envs, then the command's (a later value of a name wins).
  std::vector<std::string> env = p->request_env;
  for (auto& [k, v] : spec.envs) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
      return make_error(errc::invalid_argument, "not an environment variable name: " + k, "envs");
    env.push_back(k + "=" + v);
  }
  exec_job job;
  job.argv = runtime_.exec_argv(p->container, uid, gid, cwd, env, spec.argv);
  job.stdin_data = spec.stdin_data;
  job.callbacks = std::move(callbacks);
  auto oom_before = machine_oom_kills(id);
  job.amend_exit = [id, oom_before](command_exit& ex) {
    ex.oom = machine_oom_kills(id) > oom_before;
  };
  return exec_.run(std::move(job));
}

// ---- files -------------------------------------------------------------------------

result<std::string> container_driver::read_file(const std::string& id, const std::string& path,
                                                size_t max_bytes) {
  auto root = open_root(id);
  if (!root) return root.error();
  unique_fd guard(*root);
  return read_file_at(guard.get(), path, max_bytes);
}

result<file_entry> container_driver::write_file(const std::string& id, const file_write& w) {
  auto p = known(id);
  auto root = open_root(id);
  if (!root) return root.error();
  unique_fd guard(*root);
  return write_file_at(guard.get(), w, p ? p->uid : 0, p ? p->gid : 0);
}

result<std::vector<file_entry>> container_driver::list_dir(const std::string& id,
                                                           const std::string& path) {
  auto root = open_root(id);
  if (!root) return root.error();
  unique_fd guard(*root);
  return list_dir_at(guard.get(), path);
}

result<bool> container_driver::remove_path(const std::string& id, const std::string& path,
                                           bool recursive) {
  auto root = open_root(id);
  if (!root) return root.error();
  unique_fd guard(*root);
  return remove_path_at(guard.get(), path, recursive);
}

// ---- ports, pause, stop ------------------------------------------------------------

std::vector<uint16_t> container_driver::listening_ports(const std::string& id) {
  if (!running(id)) return {};
  std::shared_ptr<diag_socket> s;
  {
    std::lock_guard lock(mu_);
    auto& slot = diag_[id];
    if (!slot) slot = std::make_shared<diag_socket>();
    s = slot;
  }
  std::lock_guard lock(s->mu);
  if (!s->fd) {
    auto made = machine_network::socket_in(layout_.netns(id), [] { return open_sock_diag(); });
    if (!made) return {};
    s->fd.reset(*made);
  }
  auto ports = listening_tcp_ports(s->fd.get());
  if (!ports) {
    s->fd.reset();  // made again next time
    return {};
  }
  return std::move(*ports);
}

result<int> container_driver::connect_port(const std::string& id, uint16_t port) {
  auto p = running(id);
  if (!p) return p.error();
  return machine_network::connect(layout_.netns(id), port);
}

result<bool> container_driver::pause(const std::string& id) {
  auto p = running(id);
  if (!p) return p.error();
  if (machine_frozen(id)) return true;
  return runtime_.pause(p->container);
}

result<bool> container_driver::resume(const std::string& id) {
  auto p = running(id);
  if (!p) return p.error();
  if (!machine_frozen(id)) return true;
  return runtime_.resume(p->container);
}

result<bool> container_driver::stop(const std::string& id, std::chrono::milliseconds grace) {
  auto p = known(id);
  if (!p) p = container_placement::parse(read_text_file(layout_.placement_file(id)));
  if (p && process_alive(p->init_pid, p->init_start)) {
    // A frozen machine cannot act on SIGTERM.
    if (machine_frozen(id)) (void)runtime_.resume(p->container);  // best effort: then SIGKILL
    ::kill(p->init_pid, SIGTERM);  // init forwards it to every process
    if (!wait_process_exit(p->init_pid, p->init_start, grace)) {
      ::kill(p->init_pid, SIGKILL);  // ends the machine's PID namespace
      wait_process_exit(p->init_pid, p->init_start, kill_wait);
    }
  }
  destroy(id);
  return true;
}

// ---- destroy ---------------------------------------------------------------------------

void container_driver::destroy(const std::string& id) {
  if (!valid_machine_id(id)) return;
  std::optional<container_placement> p;
  {
    std::lock_guard lock(mu_);
    if (auto it = machines_.find(id); it != machines_.end()) {
      p = it->second;
      machines_.erase(it);
    }
    diag_.erase(id);
  }
  // The file holds the artifact reference: dropped first, released last, so
  // a destroy repeated after a crash never releases it twice.
  auto on_disk = container_placement::parse(read_text_file(layout_.placement_file(id)));
  ::unlink(layout_.placement_file(id).c_str());
  if (!p) p = on_disk;

  auto container = machine_layout::container_id(id);
  if (fs::exists(runtime_.state_root() + "/" + container)) runtime_.remove(container);
  kill_machine_processes(id);  // anything the runtime no longer knew about
  if (p && p->init_pid > 0) wait_process_exit(p->init_pid, p->init_start, kill_wait);

  // What is mounted on the disk before the disk; its loop device detaches
  // itself with its mount (autoclear).
  network_.destroy(machine_layout::veth(id), layout_.netns(id), p ? p->slot : -1);
  unmount_quietly(layout_.rootfs(id));
  remove_tree(layout_.dir(id));  // unmounts the disk (and anything left on it)
  ::unlink(layout_.disk_image(id).c_str());
  detach_loops_of(layout_.disk_image(id));
  remove_machine_cgroups(id);
  if (on_disk && !on_disk->artifact_id.empty()) artifacts_.release(on_disk->artifact_id);
}

std::vector<std::string> container_driver::host_machines() {
  std::set<std::string> ids;
  std::error_code ec;
  for (fs::directory_iterator it(layout_.machines_dir(), ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (valid_machine_id(name)) ids.insert(name);
  }
  ec.clear();
  for (fs::directory_iterator it(layout_.disks_dir(), ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.ends_with(".ext4") && valid_machine_id(name.substr(0, name.size() - 5)))
      ids.insert(name.substr(0, name.size() - 5));
  }
  ec.clear();
  for (auto& c : runtime_.containers())
    if (c.starts_with("nsm-") && valid_machine_id(c.substr(4))) ids.insert(c.substr(4));
  return {ids.begin(), ids.end()};
}

}  // namespace nullspace::runtime
