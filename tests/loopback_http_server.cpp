#include "tests/loopback_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include <catch2/catch.hpp>

namespace nullspace::test {

loopback_http_server::loopback_http_server(
    std::function<std::string(const std::string& head)> answer)
    : answer_(std::move(answer)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd_, 16) == 0);
  REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

loopback_http_server::~loopback_http_server() {
  ::shutdown(fd_, SHUT_RDWR);  // ends the accept
  thread_.join();
  ::close(fd_);
}

std::string loopback_http_server::host() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string loopback_http_server::path_of(const std::string& head) {
  auto start = head.find(' ');
  if (start == std::string::npos) return "";
  ++start;
  return head.substr(start, head.find(' ', start) - start);
}

std::string loopback_http_server::reply(const std::string& status, const std::string& body,
                                        const std::string& extra) {
  return "HTTP/1.1 " + status + "\r\nConnection: close\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string loopback_http_server::reply_chunked(const std::string& body, size_t chunk) {
  std::string out = "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (size_t at = 0; at < body.size(); at += chunk) {
    auto part = body.substr(at, chunk);
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

std::string loopback_http_server::reply_until_close(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body;
}

void loopback_http_server::serve() {
  for (;;) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    auto response = answer_(head);
    for (size_t done = 0; done < response.size();) {
      // The client may hang up first (a download over its cap): no SIGPIPE.
      auto n = ::send(c, response.data() + done, response.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(c);
  }
}

}  // namespace nullspace::test
