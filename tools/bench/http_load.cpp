// A closed-loop HTTP/1.1 load client for the Python benchmarks: C connections
// on keep-alive sockets, each with one request in flight, until N requests
// have been answered. One thread, epoll, no library: a Python client with 64
// threads tops out below what nullspaced answers, so it would measure itself.
//
//   build/tools/bench/bench-http-load --port P --count N [--connections C]
//       (--get PATH | --post PATH --body-file F | --post-paths F [--body JSON])
//       [--expect STATUS] [--ids-out FILE]
//
// --post-paths: one request per line of F (a path each, e.g. a cancel per
// build), in order; --count defaults to the number of lines. --ids-out writes
// the first "id":"…" of every answer's body, one a line, in answer order.
// Prints one JSON object: requests, seconds, per_s, p50_ms, p99_ms, max_ms,
// and the count of answers by status. Exits 1 if any answer was not --expect.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "loopback.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench-http-load: %s\n", msg.c_str());
  std::exit(1);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct options {
  int port = 0;
  size_t count = 0;
  size_t connections = 64;
  std::string method = "GET";
  std::string path;                // --get / --post
  std::vector<std::string> paths;  // --post-paths
  std::string body;
  int expect = 0;
  std::string ids_out;
};

options parse(int argc, char** argv) {
  options o;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) die(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  bool body_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port") {
      o.port = std::atoi(need(i).c_str());
    } else if (a == "--count") {
      o.count = std::strtoull(need(i).c_str(), nullptr, 10);
    } else if (a == "--connections") {
      o.connections = std::strtoull(need(i).c_str(), nullptr, 10);
    } else if (a == "--get") {
      o.path = need(i);
    } else if (a == "--post") {
      o.method = "POST";
      o.path = need(i);
    } else if (a == "--body-file") {
      o.body = slurp(need(i));
      body_given = true;
    } else if (a == "--body") {
      o.body = need(i);
      body_given = true;
    } else if (a == "--post-paths") {
      o.method = "POST";
      std::istringstream in(slurp(need(i)));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) o.paths.push_back(line);
    } else if (a == "--expect") {
      o.expect = std::atoi(need(i).c_str());
    } else if (a == "--ids-out") {
      o.ids_out = need(i);
    } else {
      die("unknown argument " + a);
    }
  }
  if (o.port <= 0) die("--port is required");
  if (o.path.empty() && o.paths.empty()) die("one of --get, --post, --post-paths is required");
  if (o.count == 0) o.count = o.paths.size();
  if (o.count == 0) die("--count is required");
  if (!o.paths.empty() && o.count > o.paths.size())
    die("--count exceeds the lines of --post-paths");
  if (o.method == "POST" && !body_given) o.body = "{}";
  o.connections = std::max<size_t>(1, std::min(o.connections, o.count));
  return o;
}

struct connection {
  int fd = -1;
  std::string out;  // the request being sent
  size_t sent = 0;
  std::string in;  // the answer so far
  clock_type::time_point started;
  bool busy = false;
};

int connect_to(int port) {
  int fd = nullspace::bench::connect_loopback(port);
  if (fd < 0) die(std::string("connect: ") + std::strerror(errno));
  return fd;
}

std::string request_text(const options& o, const std::string& path) {
  std::string r = o.method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (o.method == "POST")
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(o.body.size()) +
         "\r\n\r\n" + o.body;
  else
    r += "\r\n";
  return r;
}

// The length of a complete answer at the front of `in`, or 0 if it is not all
// here yet; `status` and `body` are set once it is.
size_t complete_answer(const std::string& in, int& status, std::string_view& body) {
  auto he = in.find("\r\n\r\n");
  if (he == std::string::npos) return 0;
  if (in.size() < 12 || in.compare(0, 5, "HTTP/") != 0) die("not an HTTP answer: " + in);
  status = std::atoi(in.c_str() + 9);
  size_t length = 0;
  std::string_view head(in.data(), he);
  for (size_t p = head.find("\r\n"); p != std::string_view::npos; p = head.find("\r\n", p + 2)) {
    auto line = head.substr(p + 2, head.find("\r\n", p + 2) - (p + 2));
    if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
      length = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
    if (line.size() > 18 && strncasecmp(line.data(), "transfer-encoding:", 18) == 0)
      die("chunked answers are not supported here");
  }
  if (in.size() < he + 4 + length) return 0;
  body = std::string_view(in).substr(he + 4, length);
  return he + 4 + length;
}

std::string first_id(std::string_view body) {
  auto p = body.find("\"id\":\"");
  if (p == std::string_view::npos) return {};
  p += 6;
  auto e = body.find('"', p);
  return std::string(body.substr(p, e - p));
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<connection> conns(o.connections);
  std::vector<double> latencies;
  latencies.reserve(o.count);
  std::vector<std::string> ids;
  std::map<int, size_t> by_status;
  size_t issued = 0, answered = 0;

  auto issue = [&](connection& c) {
    if (issued >= o.count) {
      c.busy = false;
      return;
    }
    c.out = request_text(o, o.paths.empty() ? o.path : o.paths[issued]);
    ++issued;
    c.sent = 0;
    c.busy = true;
    c.started = clock_type::now();
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) die(std::string("send: ") + std::strerror(errno));
    if (n > 0) c.sent = static_cast<size_t>(n);
    if (c.sent < c.out.size()) die("a request did not fit the socket buffer");
  };

  auto t0 = clock_type::now();
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = connect_to(o.port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) die("epoll_ctl");
    issue(conns[i]);
  }
  std::vector<epoll_event> events(conns.size());
  char buf[1 << 16];
  while (answered < o.count) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 60'000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("no answer for 60 s (" + std::to_string(answered) + " answered)");
    for (int k = 0; k < n; ++k) {
      auto& c = conns[events[k].data.u64];
      ssize_t got = recv(c.fd, buf, sizeof buf, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0)
        die("the server closed a connection after " + std::to_string(answered) + " answers");
      c.in.append(buf, static_cast<size_t>(got));
      int status = 0;
      std::string_view body;
      while (size_t len = complete_answer(c.in, status, body)) {
        if (!c.busy) die("an answer nobody asked for");
        latencies.push_back(
            std::chrono::duration<double, std::milli>(clock_type::now() - c.started).count());
        ++by_status[status];
        if (o.expect && status != o.expect && by_status[status] == 1)
          std::fprintf(stderr, "bench-http-load: answered %d: %.*s\n", status,
                       static_cast<int>(std::min<size_t>(body.size(), 300)), body.data());
        if (!o.ids_out.empty()) ids.push_back(first_id(body));
        ++answered;
        c.in.erase(0, len);
        issue(c);
      }
    }
  }
  double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  for (auto& c : conns) close(c.fd);
  close(ep);

  if (!o.ids_out.empty()) {
    std::ofstream out(o.ids_out);
    for (auto& id : ids) out << id << "\n";
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * latencies.size()))];
  };
  std::printf(
      "{\"requests\":%zu,\"connections\":%zu,\"seconds\":%.3f,\"per_s\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"status\":{",
      answered, conns.size(), seconds, static_cast<double>(answered) / seconds, pct(0.5), pct(0.99),
      latencies.back());
  bool first = true;
  for (auto& [s, count] : by_status) {
    std::printf("%s\"%d\":%zu", first ? "" : ",", s, count);
    first = false;
  }
  std::printf("}}\n");
  bool bad = o.expect && (by_status.size() != 1 || by_status.begin()->first != o.expect);
  return bad ? 1 : 0;
}
