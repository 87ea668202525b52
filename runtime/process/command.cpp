#include "runtime/process/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "runtime/process/process_tree.hpp"
#include "runtime/process/spawn_count.hpp"

extern char** environ;

namespace nullspace::runtime {

namespace {

// Reads the pipe until EOF or `deadline` (none: until EOF); false at the deadline.
bool read_until(int fd, command_output& out, size_t max_output,
                std::optional<std::chrono::steady_clock::time_point> deadline) {
  char buf[8192];
  for (;;) {
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return false;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    size_t room = max_output - std::min(max_output, out.output.size());
    out.output.append(buf, std::min<size_t>(room, static_cast<size_t>(n)));
  }
}

result<command_output> run(const std::vector<std::string>& argv, size_t max_output,
                           std::optional<std::chrono::milliseconds> timeout) {
  if (argv.empty()) return make_error(errc::internal, "run_command: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(errc::internal, std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return make_error(errc::unavailable, "cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  note_process_started();
  command_output out;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  if (!read_until(fds[0], out, max_output, deadline)) {
    // Not reaped yet, so `pid` is still ours: the tree below it goes first.
    out.timed_out = true;
    // The program is continued to reap what was killed below it (an OCI
    // runtime's exec must, or its killed command is left a zombie in the
    // container) and exit; it is killed too if it has not within a second.
    kill_descendants(pid);
    read_until(fds[0], out, max_output, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  ::close(fds[0]);
  int status = 0;
  if (out.timed_out && ::waitpid(pid, &status, WNOHANG) == 0) ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_status = WIFEXITED(status) && !out.timed_out ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

result<command_output> run_command(const std::vector<std::string>& argv, size_t max_output) {
  return run(argv, max_output, std::nullopt);
}

result<command_output> run_command_within(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout, size_t max_output) {
  return run(argv, max_output, timeout);
}

std::vector<std::string> last_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return lines;
}

}  // namespace nullspace::runtime
