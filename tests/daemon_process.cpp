#include "tests/daemon_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "catch2/catch.hpp"
#include "tests/test_support.hpp"

extern char** environ;

namespace nullspace::test {

daemon_process::daemon_process(const std::vector<std::string>& args, const std::string& err_file,
                               const std::vector<std::string>& extra_env) {
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  err_path = err_file;
  int p[2];
  REQUIRE(pipe(p) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  std::vector<std::string> argv_s{bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  REQUIRE(posix_spawn(&pid, bin, &fa, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  out_fd = p[0];
}

uint16_t daemon_process::port() {
  std::string out;
  char c;
  while (read(out_fd, &c, 1) == 1) {
    if (c != '\n') {
      out.push_back(c);
      continue;
    }
    if (out.starts_with("listening on http://127.0.0.1:"))
      return static_cast<uint16_t>(std::stoi(out.substr(out.rfind(':') + 1)));
    out.clear();
  }
  return 0;
}

int daemon_process::wait_exit() {
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  pid = -1;
  return report_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), err_path);
}

daemon_process::~daemon_process() {
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  if (out_fd >= 0) close(out_fd);
}

}  // namespace nullspace::test
