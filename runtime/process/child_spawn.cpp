#include "runtime/process/child_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "runtime/process/spawn_count.hpp"

namespace nullspace::runtime {

namespace {

// execvp's search, done here against the child's PATH rather than ours (as
// execvp in a forked child would): "" if nothing executable is found.
std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string_view path = "/bin:/usr/bin";  // execvp's default without PATH
  for (auto& e : env)
    if (e.starts_with("PATH=")) path = std::string_view(e).substr(5);
  while (true) {
    auto colon = path.find(':');
    auto dir = path.substr(0, colon);
    auto candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string_view::npos) return "";
    path.remove_prefix(colon + 1);
  }
}

// A connected pair: [0] read end (ours), [1] write end (the child's).
bool output_pair(bool socket, int fds[2]) {
  if (socket) return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0;
  return ::pipe2(fds, O_CLOEXEC) == 0;
}

}  // namespace

void child_process::close_all() {
  for (int* fd : {&pidfd, &in, &out[0], &out[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

child_process spawn_child(const child_options& o) {
  child_process out;
  if (o.argv.empty()) {
    out.error = EINVAL;
    return out;
  }
  auto file = find_executable(o.argv[0], o.env);
  if (file.empty()) {
    out.error = ENOENT;
    return out;
  }
  int in[2] = {-1, -1}, so[2] = {-1, -1}, se[2] = {-1, -1};
  if ((o.input && ::pipe2(in, O_CLOEXEC) != 0) || !output_pair(o.socket_output, so) ||
      !output_pair(o.socket_output, se)) {
    out.error = errno;
    for (int fd : {in[0], in[1], so[0], so[1], se[0], se[1]})
      if (fd >= 0) ::close(fd);
    return out;
  }
  std::vector<char*> args, env;
  for (auto& a : o.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : o.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (o.input)
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, so[1], 1);
  posix_spawn_file_actions_adddup2(&actions, se[1], 2);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, o.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (o.own_session) {
    flags |= POSIX_SPAWN_SETSID;
  } else {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  int rc = ::posix_spawn(&out.pid, file.c_str(), &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : {in[0], so[1], se[1]})
    if (fd >= 0) ::close(fd);
  out.in = in[1];
  out.out = {so[0], se[0]};
  if (rc != 0) {
    out.pid = 0;
    out.error = rc;
    out.close_all();
    return out;
  }
  note_process_started();
  out.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, out.pid, 0));
  if (out.pidfd < 0) {  // started, but cannot be watched: end it
    out.error = errno;
    end_child(out);
  }
  return out;
}

void end_child(child_process& c) {
  if (c.pid > 0) {
    ::kill(-c.pid, SIGKILL);
    while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    c.pid = 0;
  }
  c.close_all();
}

}  // namespace nullspace::runtime
