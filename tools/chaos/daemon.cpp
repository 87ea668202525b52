#include "tools/chaos/daemon.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

extern char** environ;

namespace nullspace::chaos {

daemon_child::daemon_child(std::string binary, std::vector<std::string> args, std::string log_path)
    : binary_(std::move(binary)), log_path_(std::move(log_path)), args_(std::move(args)) {}

daemon_child::~daemon_child() {
  if (pid_ > 0) kill9();
}

uint16_t daemon_child::start(int start_ms) {
  // stdout goes to a file, not a pipe: a pipe closed after the `listening
  // on` line would kill the daemon with SIGPIPE on its next write there.
  auto out_path = log_path_ + ".stdout";
  int out = open(out_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_addopen(&fa, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> argv{binary_.data()};
  for (auto& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary_.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    close(out);
    return 0;
  }
  pid_ = pid;
  // "listening on http://127.0.0.1:PORT"
  port_ = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(start_ms);
  while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
    char buf[512];
    auto n = pread(out, buf, sizeof buf - 1, 0);
    std::string seen(buf, n > 0 ? static_cast<size_t>(n) : 0);
    auto at = seen.find("listening on ");
    auto nl = at == std::string::npos ? std::string::npos : seen.find('\n', at);
    if (nl != std::string::npos) {
      auto colon = seen.rfind(':', nl);
      port_ = static_cast<uint16_t>(std::stoi(seen.substr(colon + 1, nl - colon - 1)));
      break;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;  // it exited during start-up
      break;
    }
    usleep(20000);  // waiting for a child's start-up line
  }
  close(out);
  return port_;
}

void daemon_child::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

int daemon_child::terminate(int deadline_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  int st = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    usleep(20000);  // polling a child's exit, not synchronising a test
  }
  kill9();
  return -1;
}

}  // namespace nullspace::chaos
