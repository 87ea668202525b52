#include "runtime/machine/machine_runtime.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/process/command.hpp"
#include "runtime/process/spawn_count.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

std::string last_output(const std::string& text) {
  std::string out;
  for (auto& l : last_lines(text, 4)) out += (out.empty() ? "" : "; ") + l;
  return out;
}

}  // namespace

machine_runtime::machine_runtime(std::string binary, std::string state_root)
    : binary_(std::move(binary)), state_root_(std::move(state_root)) {}

result<pid_t> machine_runtime::run_detached(const std::string& container, const std::string& bundle,
                                            const std::string& log,
                                            const std::vector<int>& fds) const {
  auto pid_file = bundle + "/init.pid";
  ::unlink(pid_file.c_str());
  unique_fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log_fd)
    return make_error(errc::internal, "cannot create " + log + ": " + std::strerror(errno));
  // Moved above the numbers they go to, so no dup2 overwrites another source.
  std::vector<unique_fd> high;
  for (int fd : fds) high.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 64));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 2);
  for (size_t i = 0; i < high.size(); ++i)
    posix_spawn_file_actions_adddup2(&actions, high[i].get(), 3 + static_cast<int>(i));
  std::vector<std::string> argv{binary_,      "--root", state_root_, "run", "--detach",
                                "--pid-file", pid_file, "--bundle",  bundle};
  if (!fds.empty()) argv.insert(argv.end() - 4, {"--preserve-fds", std::to_string(fds.size())});
  argv.push_back(container);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::string path_env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char* env[] = {path_env.data(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, binary_.c_str(), &actions, nullptr, args.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return make_error(errc::unavailable, "cannot start " + binary_ + ": " + std::strerror(rc));
  note_process_started();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(errc::internal, "the OCI runtime could not start the container: " +
                                          last_output(read_text_file(log)));
  auto text = read_text_file(pid_file);
  pid_t init = static_cast<pid_t>(std::atol(text.c_str()));
  if (init <= 0)
    return make_error(errc::internal, "the OCI runtime did not report the container's pid");
  return init;
}

std::vector<std::string> machine_runtime::exec_argv(const std::string& container, uint32_t uid,
                                                    uint32_t gid, const std::string& cwd,
                                                    const std::vector<std::string>& env,
                                                    const std::vector<std::string>& argv) const {
  std::vector<std::string> out{binary_, "--root", state_root_,
                               "exec",  "--user", std::to_string(uid) + ":" + std::to_string(gid),
                               "--cwd", cwd};
  for (auto& e : env) out.insert(out.end(), {"--env", e});
  out.push_back(container);
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

result<bool> machine_runtime::simple(const std::string& verb, const std::string& container) const {
  auto r = run_command({binary_, "--root", state_root_, verb, container});
  if (!r) return r.error();
  if (r->exit_status != 0)
    return make_error(errc::internal, "the OCI runtime could not " + verb +
                                          " the container: " + last_output(r->output));
  return true;
}

result<bool> machine_runtime::pause(const std::string& container) const {
  return simple("pause", container);
}

result<bool> machine_runtime::resume(const std::string& container) const {
  return simple("resume", container);
}

void machine_runtime::remove(const std::string& container) const {
  // Quietly: a container that is already gone is what we want.
  (void)run_command({binary_, "--root", state_root_, "delete", "--force", container});
}

std::vector<std::string> machine_runtime::containers() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(state_root_, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) out.push_back(it->path().filename().string());
  return out;
}

}  // namespace nullspace::runtime
