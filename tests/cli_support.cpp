#include "tests/cli_support.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

extern char** environ;

namespace nullspace::test {
namespace {

// The environment of a child: ours without the CLI's own settings, plus `extra`.
std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("NULLSPACE_SERVER=") || v.starts_with("NULLSPACE_API_URL=") ||
        v.starts_with("NULLSPACE_API_KEY="))
      continue;
    env.emplace_back(v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

const char* cli_binary() {
  const char* bin = std::getenv("NULLSPACE_CLI");
  REQUIRE(bin);
  return bin;
}

}  // namespace

cli_process::cli_process(const std::vector<std::string>& args, const run_options& o) {
  int out[2], err[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  auto in = o.stdin_file.empty() ? std::string("/dev/null") : o.stdin_file;
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  std::vector<std::string> argv_s{cli_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  auto env_s = child_env(o.env);
  auto argv = c_strings(argv_s);
  auto envp = c_strings(env_s);
  REQUIRE(posix_spawn(&pid_, argv_s[0].c_str(), &fa, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
}

cli_process::~cli_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool cli_process::read_until(std::string_view needle) {
  while (true) {
    if (out_.find(needle) != std::string::npos) return true;
    if (!pump()) return out_.find(needle) != std::string::npos;
  }
}

cli_result cli_process::finish() {
  while (pump()) {
  }
  int st = 0;
  REQUIRE(waitpid(pid_, &st, 0) == pid_);
  pid_ = -1;
  cli_result r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = out_;
  r.err = err_;
  return r;
}

bool cli_process::pump() {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  int open_fds = (out_fd_ >= 0) + (err_fd_ >= 0);
  if (open_fds == 0) return false;
  // 10 minutes: a hang fails the test, nothing healthy comes near it.
  int n = poll(fds, 2, 600000);
  REQUIRE(n > 0);
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

cli_result run_cli(const std::vector<std::string>& args, const run_options& o) {
  cli_process p(args, o);
  return p.finish();
}

server_process::server_process(const temp_dir& dir, bool sandbox, std::vector<std::string> extra,
                               uint16_t port)
    : data_(dir.sub("data")), err_(dir.sub("daemon.err")) {
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  std::vector<std::string> args{
      bin,   "--listen",    "127.0.0.1:" + std::to_string(port), "--data-dir",
      data_, "--isolation", sandbox ? "sandbox" : "host"};
  if (sandbox)
    if (auto* images = std::getenv("NULLSPACE_TEST_IMAGES")) {
      args.push_back("--images-dir");
      args.push_back(images);
    }
  args.insert(args.end(), extra.begin(), extra.end());
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  auto env_s = child_env({});
  auto argv = c_strings(args);
  auto envp = c_strings(env_s);
  REQUIRE(posix_spawn(&pid_, bin, &fa, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  out_fd_ = p[0];
  std::string line;
  char c;
  while (read(out_fd_, &c, 1) == 1) {
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (line.starts_with("listening on http://127.0.0.1:")) {
      port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      break;
    }
    line.clear();
  }
  INFO("nullspaced's stderr:\n" << read_file(err_));
  REQUIRE(port_ != 0);
}

int server_process::stop() {
  if (pid_ <= 0) return 0;
  kill(pid_, SIGTERM);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  close(out_fd_);
  return report_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), err_);
}

cli_result ns(const server_process& d, std::vector<std::string> args, const run_options& o) {
  args.insert(args.begin(), {"--server", d.url()});
  return run_cli(args, o);
}

// (No std::regex: under the sanitizers GCC 12 warns inside libstdc++'s.)
std::string build_id(const std::string& text) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  for (auto at = text.find("tb_"); at != std::string::npos; at = text.find("tb_", at + 1)) {
    auto end = at + 3;
    while (end < text.size() && hex(text[end])) ++end;
    if (end - at - 3 >= 8) return text.substr(at, end - at);
  }
  return "";
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

std::string row(const std::string& table, const std::string& key) {
  for (auto& l : lines_of(table))
    if (l.starts_with(key + " ")) {
      auto v = l.find_first_not_of(' ', key.size());
      return v == std::string::npos ? "" : l.substr(v);
    }
  return "<no row " + key + ">";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

bool parses_as_json(const std::string& text) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  return p.parse(text).get(e) == simdjson::SUCCESS;
}

uint16_t closed_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace nullspace::test
