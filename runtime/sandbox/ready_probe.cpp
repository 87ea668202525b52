#include "runtime/sandbox/ready_probe.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace nullspace::runtime {

namespace {

constexpr int probe_timeout_ms = 2000;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Runs `fn` on this thread inside the network namespace of `pid`, then
// returns the thread to its own. setns(CLONE_NEWNET) changes only the calling
// thread, and sockets keep the namespace they were created in.
template <class Fn>
probe_result in_netns(pid_t pid, Fn fn) {
  fd_guard target{
      ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC)};
  fd_guard own{::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)};
  if (target.fd < 0 || own.fd < 0) return {false, "the start command is not running"};
  if (::setns(target.fd, CLONE_NEWNET) != 0)
    return {false, std::string("cannot enter the sandbox's network: ") + std::strerror(errno)};
  auto r = fn();
  ::setns(own.fd, CLONE_NEWNET);
  return r;
}

probe_result probe_port(uint16_t port) {
  fd_guard s{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return {false, std::strerror(errno)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    return {true, "port " + std::to_string(port) + " accepts connections"};
  if (errno != EINPROGRESS) return {false, std::strerror(errno)};
  pollfd p{s.fd, POLLOUT, 0};
  if (::poll(&p, 1, probe_timeout_ms) != 1) return {false, "connect timed out"};
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return {false, std::strerror(err)};
  return {true, "port " + std::to_string(port) + " accepts connections"};
}

size_t discard(char*, size_t size, size_t n, void*) {
  return size * n;
}

probe_result probe_url(const std::string& url) {
  CURL* c = ::curl_easy_init();
  if (!c) return {false, "cannot start an HTTP client"};
  ::curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  ::curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  ::curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(probe_timeout_ms));
  ::curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  ::curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // A service's own certificate at build time is rarely one the host trusts:
  // readiness is about answering, not about who answers.
  ::curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  ::curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  auto rc = ::curl_easy_perform(c);
  long status = 0;
  ::curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  ::curl_easy_cleanup(c);
  if (rc != CURLE_OK) return {false, ::curl_easy_strerror(rc)};
  auto seen = "HTTP " + std::to_string(status);
  return {status >= 200 && status < 400, seen};
}

probe_result probe_file(const std::string& path, pid_t pid) {
  fd_guard root{
      ::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (root.fd < 0) return {false, "the start command is not running"};
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  fd_guard f{static_cast<int>(::syscall(SYS_openat2, root.fd, path.c_str(), &how, sizeof how))};
  if (f.fd < 0) return {false, path + ": " + std::strerror(errno)};
  return {true, path + " exists"};
}

}  // namespace

probe_result probe_ready(const ready_check& check, pid_t container_pid) {
  switch (check.type) {
    case ready_type::port:
      return in_netns(container_pid, [&] { return probe_port(static_cast<uint16_t>(check.port)); });
    case ready_type::url:
      return in_netns(container_pid, [&] { return probe_url(check.url); });
    case ready_type::file:
      return probe_file(check.path, container_pid);
    default:
      return {false, "not a probe check"};
  }
}

std::string describe(const ready_check& check) {
  switch (check.type) {
    case ready_type::port:
      return "port " + std::to_string(check.port);
    case ready_type::url:
      return "url " + check.url;
    case ready_type::file:
      return "file " + check.path;
    case ready_type::command:
      return "command " + check.cmd;
    default:
      return "none";
  }
}

}  // namespace nullspace::runtime
