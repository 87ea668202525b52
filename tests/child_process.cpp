#include "tests/child_process.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace nullspace::test {
namespace {

std::string name_of(std::string_view kv) {
  return std::string(kv.substr(0, kv.find('=')));
}

std::vector<std::string> child_env(const spawn_options& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    auto name = name_of(*e);
    bool dropped = false;
    for (auto& u : o.unset) dropped = dropped || u == name;
    for (auto& kv : o.env) dropped = dropped || name_of(kv) == name;
    if (!dropped) env.emplace_back(*e);
  }
  env.insert(env.end(), o.env.begin(), o.env.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

child_process::child_process(std::vector<std::string> argv, const spawn_options& o) {
  REQUIRE(!argv.empty());
  int out[2], err[2] = {-1, -1};
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  if (o.stderr_file.empty()) REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (o.stderr_file.empty())
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  else
    posix_spawn_file_actions_addopen(&fa, 2, o.stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  auto env = child_env(o);
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  int rc = posix_spawnp(&pid_, argv[0].c_str(), &fa, nullptr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  out_fd_ = out[0];
  if (err[1] >= 0) close(err[1]);
  err_fd_ = err[0];
  INFO("spawning " << argv[0]);
  REQUIRE(rc == 0);
}

child_process::~child_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool child_process::pump() {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (out_fd_ < 0 && err_fd_ < 0) return false;
  int n = poll(fds, 2, 600000);
  REQUIRE(n > 0);  // ten minutes without a byte or an end: a hang
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    auto got = read(fds[i].fd, buf, sizeof buf);
    if (got > 0) {
      (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(got));
    } else {
      close(fds[i].fd);
      (i == 0 ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

std::string child_process::line_starting(std::string_view prefix) {
  for (;;) {
    for (auto nl = out_.find('\n', scanned_); nl != std::string::npos;
         nl = out_.find('\n', scanned_)) {
      auto line = out_.substr(scanned_, nl - scanned_);
      scanned_ = nl + 1;
      if (line.starts_with(prefix)) return line;
    }
    if (out_fd_ < 0) return {};
    if (!pump()) return {};
  }
}

int child_process::finish() {
  while (pump()) {
  }
  if (pid_ <= 0) return -1;
  int st = 0;
  REQUIRE(waitpid(pid_, &st, 0) == pid_);
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int child_process::terminate() {
  if (pid_ > 0) kill(pid_, SIGTERM);
  return finish();
}

uint16_t listening_port(child_process& daemon) {
  constexpr std::string_view prefix = "listening on http://127.0.0.1:";
  auto line = daemon.line_starting(prefix);
  if (line.empty()) return 0;
  return static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
}

}  // namespace nullspace::test
