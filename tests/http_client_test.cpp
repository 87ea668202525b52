// The test-suite's HTTP client against a canned in-test server: every body
// framing, pipelining, bytes split across writes, SSE and NDJSON streams.
#include "catch2/catch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/http_client.hpp"

using namespace nullspace::test;

namespace {

// Bounded like the client's waits, so a broken test cannot hang the server.
bool wait_until(int fd, short events) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      bytes.remove_prefix(static_cast<size_t>(n));
    else if ((errno != EAGAIN && errno != EINTR) || !wait_until(fd, POLLOUT))
      return false;
  }
  return true;
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (auto at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Accepts one connection, reads until `requests` request heads arrived,
// writes each canned piece with its own send(), then half-closes and reads
// on until the client hangs up, so it never resets a connection with
// unread bytes. Joined on destruction: destroy (or close) the client first.
class canned_server {
 public:
  explicit canned_server(std::vector<std::string> writes, size_t requests = 1)
      : writes_(std::move(writes)), requests_(requests) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 1) == 0);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~canned_server() {
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  canned_server(const canned_server&) = delete;
  canned_server& operator=(const canned_server&) = delete;

  uint16_t port() const { return port_; }
  // Everything the client sent; waits for the client to hang up.
  const std::string& received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  void serve() {
    if (!wait_until(listen_fd_, POLLIN)) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    // Each write its own segment, so the client really sees the splits.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bool open = true;
    while (open && count_of(received_, "\r\n\r\n") < requests_) open = read_some(fd);
    for (auto& w : writes_)
      if (open) open = send_all(fd, w);
    ::shutdown(fd, SHUT_WR);
    while (open) open = read_some(fd);
    ::close(fd);
  }

  bool read_some(int fd) {
    char buf[4096];
    if (!wait_until(fd, POLLIN)) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::vector<std::string> writes_;
  size_t requests_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string received_;
  std::thread thread_;
};

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

std::vector<std::string> byte_by_byte(std::string_view bytes) {
  std::vector<std::string> out;
  for (char c : bytes) out.emplace_back(1, c);
  return out;
}

const std::string get_a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string get_b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";

// Chunk extensions, upper-case hex, a trailer, then a second response that
// only parses if the trailer section was consumed exactly.
const std::string chunked_then_next =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;ext=1\r\nhello\r\n"
    "B ; name=\"v\"\r\n, chunked!!\r\n"
    "0\r\nX-Trailer: t\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";

}  // namespace

TEST_CASE("Content-Length body, headers in order, request framing", "[http_client]") {
  canned_server srv(
      {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Dup: 1\r\n"
       "x-dup: 2\r\nContent-Length:  11 \r\n\r\nhello world"});
  http_connection c(srv.port());
  REQUIRE(c.connected());
  REQUIRE(c.send_request("GET", "/x?y=1", {}, {{"X-Tenant", "acme"}}));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.reason == "OK");
  CHECK(r.body == "hello world");
  REQUIRE(r.headers.size() == 4);
  CHECK(r.headers[0] == std::pair<std::string, std::string>("content-type", "text/plain"));
  CHECK(r.headers[2] == std::pair<std::string, std::string>("x-dup", "2"));
  CHECK(r.header("X-DUP") == "1");
  CHECK(r.header("content-length") == "11");
  CHECK(r.header("missing").empty());
  c.close();
  // A GET without a body carries no Content-Length.
  CHECK(srv.received() == "GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                              "\r\nX-Tenant: acme\r\n\r\n");
}

TEST_CASE("http_post sends Content-Length and the body", "[http_client]") {
  canned_server srv({"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"});
  auto r = http_post(srv.port(), "/builds", "{\"a\":1}", {{"Content-Type", "application/json"}});
  CHECK(r.status == 201);
  CHECK(r.reason == "Created");
  CHECK(r.body.empty());
  CHECK(srv.received() == "POST /builds HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                              "\r\nContent-Length: 7\r\nContent-Type: application/json\r\n\r\n"
                              "{\"a\":1}");
}

TEST_CASE("caller's framing headers replace the added ones", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"});
  {
    http_connection c(srv.port());
    REQUIRE(c.send_request("POST", "/p", {}, {{"host", "h"}, {"Transfer-Encoding", "chunked"}}));
    CHECK(c.read_response().status == 200);
  }
  CHECK(srv.received() == "POST /p HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("chunked body with extensions and trailers", "[http_client]") {
  canned_server srv({chunked_then_next}, 2);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_b));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "hello, chunked!!");
  auto next = c.read_response();
  CHECK(next.status == 200);
  CHECK(next.body == "next");
}

TEST_CASE("a body without length ends when the server closes", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ", "close"});
  http_connection c(srv.port());
  REQUIRE(c.send_request("GET", "/"));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "until close");
  CHECK(c.peer_closed());
  CHECK(c.read_response().status == 0);
}

TEST_CASE("two pipelined responses in one write", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo"},
                    2);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_b));
  auto first = c.read_response();
  auto second = c.read_response();
  CHECK(first.status == 200);
  CHECK(first.body == "one");
  CHECK(second.status == 404);
  CHECK(second.reason == "Not Found");
  CHECK(second.body == "two");
}

TEST_CASE("a response to HEAD has no body despite Content-Length", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
                    2);
  http_connection c(srv.port());
  REQUIRE(c.send_request("HEAD", "/a"));
  REQUIRE(c.send_request("GET", "/a"));
  auto head = c.read_response();
  CHECK(head.header("content-length") == "5");
  CHECK(head.body.empty());
  CHECK(c.read_response().body == "hello");
}

TEST_CASE("responses split byte by byte across writes", "[http_client]") {
  canned_server srv(byte_by_byte(chunked_then_next), 2);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_b));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("transfer-encoding") == "chunked");
  CHECK(r.body == "hello, chunked!!");
  CHECK(c.read_response().body == "next");
}

TEST_CASE("1xx, 204 and 304 responses have no body", "[http_client]") {
  canned_server srv({"HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 204 No Content\r\n\r\n"
                     "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
                    3);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_a + get_b));
  CHECK(c.read_response().status == 100);
  auto no_content = c.read_response();
  CHECK(no_content.status == 204);
  CHECK(no_content.body.empty());
  auto not_modified = c.read_response();
  CHECK(not_modified.status == 304);
  CHECK(not_modified.body.empty());
  auto ok = c.read_response();
  CHECK(ok.status == 200);
  CHECK(ok.body == "ok");
}

TEST_CASE("SSE events from a chunked or close-delimited stream", "[http_client]") {
  bool chunked = GENERATE(true, false);
  std::vector<std::string> body = {
      ": ping\n\n",
      "id: 1\nevent: log\ndata: first line\ndata: second line\n\n",
      "data: split ",
      "across writes\n\n",
      ": ping\nid: 3\r\ndata:no space\r\n\r\n",
      "data: a\n\ndata: b\n\n",
      "data: never finished\n",
  };
  std::vector<std::string> writes = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" +
                                     std::string(chunked ? "Transfer-Encoding: chunked\r\n" : "") +
                                     "\r\n"};
  for (auto& b : body) writes.push_back(chunked ? chunk(b) : b);
  if (chunked) writes.push_back("0\r\n\r\n");
  canned_server srv(writes);
  http_connection c(srv.port());
  REQUIRE(c.send_request("GET", "/events", {}, {{"Accept", "text/event-stream"}}));
  auto head = c.read_head();
  CHECK(head.status == 200);
  CHECK(head.header("content-type") == "text/event-stream");

  auto e = c.next_event();
  REQUIRE(e);
  CHECK(e->id == "1");
  CHECK(e->event == "log");
  CHECK(e->data == "first line\nsecond line");
  e = c.next_event();
  REQUIRE(e);
  CHECK(e->id.empty());
  CHECK(e->event.empty());
  CHECK(e->data == "split across writes");
  e = c.next_event();
  REQUIRE(e);
  CHECK(e->id == "3");
  CHECK(e->data == "no space");
  CHECK(c.comments_seen() == 2);
  e = c.next_event();
  REQUIRE(e);
  CHECK(e->data == "a");
  e = c.next_event();
  REQUIRE(e);
  CHECK(e->data == "b");
  CHECK_FALSE(c.next_event());
  CHECK_FALSE(c.next_event());
}

TEST_CASE("NDJSON lines from a chunked stream", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     chunk("{\"a\":1}\n{\"b\":"), chunk("2}\n"), chunk("{\"c\":3}\n\n"),
                     "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"},
                    2);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_b));
  CHECK(c.read_head().header("content-type") == "application/x-ndjson");
  CHECK(c.next_line() == "{\"a\":1}");
  CHECK(c.next_line() == "{\"b\":2}");
  CHECK(c.next_line() == "{\"c\":3}");
  CHECK(c.next_line() == "");
  CHECK_FALSE(c.next_line());
  // The stream's end leaves the connection at the next response.
  CHECK(c.read_response().body == "after");
}

TEST_CASE("read_head then read_body, and skipping an unread body", "[http_client]") {
  canned_server srv({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("skipped") +
                     "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrest"},
                    2);
  http_connection c(srv.port());
  REQUIRE(c.send_raw(get_a + get_b));
  CHECK(c.read_head().status == 200);
  auto second = c.read_head();  // skips the first body
  CHECK(second.header("content-length") == "4");
  CHECK(c.read_body() == "rest");
}

TEST_CASE("a large body arrives across many reads", "[http_client]") {
  std::string big(3 * 1024 * 1024 + 7, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i / 4096 % 26);
  canned_server srv(
      {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big});
  http_connection c(srv.port(), 4096);
  int rcvbuf = 0;
  socklen_t len = sizeof rcvbuf;
  REQUIRE(::getsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0);
  CHECK(rcvbuf <= 2 * 4096);  // Linux doubles the request for bookkeeping
  REQUIRE(c.send_request("GET", "/big"));
  CHECK(c.read_response().body == big);
}

TEST_CASE("a connection closed before a status line gives status 0", "[http_client]") {
  canned_server srv({});
  http_connection c(srv.port());
  REQUIRE(c.send_request("GET", "/"));
  auto r = c.read_response();
  CHECK(r.status == 0);
  CHECK(r.headers.empty());
  CHECK(c.peer_closed());
}

TEST_CASE("peer_closed keeps a pending response readable", "[http_client]") {
  canned_server srv(
      {"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", "bad"});
  http_connection c(srv.port());
  REQUIRE(c.send_raw("garbage\r\n\r\n"));
  CHECK(c.peer_closed());
  auto r = c.read_response();
  CHECK(r.status == 400);
  CHECK(r.body == "bad");
}

TEST_CASE("a refused connection is not connected", "[http_client]") {
  // Bound but not listening: connecting is refused, and the port stays ours.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  http_connection c(ntohs(addr.sin_port));
  CHECK_FALSE(c.connected());
  CHECK_THROWS_AS(http_get(ntohs(addr.sin_port), "/"), std::runtime_error);
  ::close(fd);
}
