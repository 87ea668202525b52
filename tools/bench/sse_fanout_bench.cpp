// SSE fan-out: F concurrent `follow=true` followers of one build that prints N
// lines, against a nullspaced it spawns itself.
//
//   build/tools/bench/sse-fanout-bench [--followers F] [--lines N] [--server PATH]
//                                      [--batch B] [--timeout-s T] [--keep] [--quick]
//
// --quick (what CI runs): 20 followers, 2000 lines, a few seconds.
//
// 1. Starts the server (--isolation host: the step must see the FIFO on this
//    host, and a sandbox would only add a base image to wait for) on a temp
//    data dir, creates a build whose step is
//    `cat FIFO >/dev/null; seq 1 N` (it blocks until the FIFO is opened for
//    writing), waits until the step header entry is in the log.
// 2. Reads the server's VmRSS (0 followers), connects F followers (in batches
//    of B, each batch read until every follower got the step header entry, so
//    all are live and idle), reads VmRSS again → RSS per idle follower.
// 3. Opens and closes the FIFO (release), reads every socket (epoll,
//    non-blocking) until every follower got `event: end`. Reports events
//    delivered, wall time release → last end, events/s, and checks that every
//    follower got the same contiguous ids 0..k-1.
//
// POSIX sockets + epoll only; single-threaded client.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_report.hpp"
#include "child_process.hpp"
#include "loopback.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sse-fanout-bench: %s\n", msg.c_str());
  std::exit(1);
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// ---------------------------------------------------------------- server ----

pid_t g_server = -1;
std::string g_tmp;
bool g_keep = false;

void cleanup() {
  if (g_server > 0) {
    kill(g_server, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(g_server, nullptr, WNOHANG) == g_server) {
        g_server = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_server > 0) {
      kill(g_server, SIGKILL);
      waitpid(g_server, nullptr, 0);
      g_server = -1;
    }
  }
  if (!g_tmp.empty() && !g_keep) {
    std::string cmd = "rm -rf '" + g_tmp + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_tmp.c_str());
  }
}

void on_signal(int) {
  cleanup();
  _exit(130);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long read_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// utime + stime of a process, seconds.
double read_cpu_s(pid_t pid) {
  std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream in(s.substr(rp + 2));
  std::string f;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15; ++i) {  // fields 3.. after "pid (comm)"
    in >> f;
    if (i == 14) ut = std::strtoull(f.c_str(), nullptr, 10);
    if (i == 15) st = std::strtoull(f.c_str(), nullptr, 10);
  }
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

int start_server(const std::string& path, const std::string& data_dir) {
  std::string out = g_tmp + "/server.out", err = g_tmp + "/server.err";
  pid_t pid =
      nullspace::bench::spawn_logged({path, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                                      "--isolation", "host", "--log-level", "warn"},
                                     out, err);
  if (pid < 0) die("fork failed");
  g_server = pid;
  auto t0 = clock_type::now();
  while (seconds_since(t0) < 15) {
    std::string s = slurp(out);
    auto p = s.find("listening on http://127.0.0.1:");
    if (p != std::string::npos) {
      auto q = p + std::strlen("listening on http://127.0.0.1:");
      auto e = s.find_first_not_of("0123456789", q);
      if (e != std::string::npos && e > q) return std::atoi(s.substr(q, e - q).c_str());
    }
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      g_server = -1;
      die("server exited during start:\n" + slurp(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  die("server did not print its listening line");
}

// ------------------------------------------------------- simple requests ----

int connect_to(int port) {
  int fd = nullspace::bench::connect_loopback(port);
  if (fd < 0) die(std::string("connect: ") + std::strerror(errno));
  return fd;
}

void send_all(int fd, std::string_view s) {
  if (!nullspace::bench::send_all(fd, s)) die(std::string("send: ") + std::strerror(errno));
}

// One request with Connection: close; returns {status, body} (body de-chunked
// only if not chunked — the JSON endpoints use Content-Length).
std::pair<int, std::string> http_request(int port, const std::string& method,
                                         const std::string& target, const std::string& body) {
  int fd = connect_to(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  if (!body.empty())
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  send_all(fd, req);
  std::string resp;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  auto he = resp.find("\r\n\r\n");
  if (resp.size() < 12 || he == std::string::npos) die("bad HTTP response: " + resp);
  return {std::atoi(resp.c_str() + 9), resp.substr(he + 4)};
}

// ------------------------------------------------------------- followers ----

constexpr std::string_view kStep = "\"kind\":\"step\"";

struct follower {
  int fd = -1;
  // HTTP head
  bool head_done = false;
  std::string head;
  bool chunked = false;
  int status = 0;
  // chunked decoder
  enum class cs {
    size,
    size_ext,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer,
    done
  } cstate = cs::size;
  uint64_t chunk_left = 0;
  std::string trailer_line;
  bool chunk_size_seen = false;
  // SSE parser
  std::string carry;  // partial line
  enum class ev { none, log, end, other } frame_ev = ev::none;
  bool frame_has_id = false;
  uint64_t frame_id = 0;
  bool frame_step = false;
  // results
  bool live = false;  // got the step header entry
  bool ended = false;
  bool closed = false;
  uint64_t events = 0;         // `event: log` frames
  uint64_t events_before = 0;  // ... before the release
  uint64_t bytes = 0;          // bytes received (head + body)
  uint64_t bytes_before = 0;
  int64_t last_id = -1;
  uint64_t id_errors = 0;
  double end_at = 0;  // seconds since release
};

struct run_state {
  bool released = false;
  bool check_step = true;
  clock_type::time_point release_t;
  size_t live = 0, ended = 0, failed = 0;
};

void sse_line(follower& f, run_state& rs, const char* p, size_t n) {
  if (n && p[n - 1] == '\r') --n;
  if (n == 0) {  // dispatch
    if (f.frame_ev == follower::ev::log) {
      ++f.events;
      if (f.frame_has_id) {
        if (static_cast<int64_t>(f.frame_id) != f.last_id + 1) ++f.id_errors;
        f.last_id = static_cast<int64_t>(f.frame_id);
      } else {
        ++f.id_errors;
      }
      if (f.frame_step && !f.live) {
        f.live = true;
        ++rs.live;
      }
    } else if (f.frame_ev == follower::ev::end && !f.ended) {
      f.ended = true;
      ++rs.ended;
      f.end_at = rs.released ? seconds_since(rs.release_t) : 0;
    }
    f.frame_ev = follower::ev::none;
    f.frame_has_id = false;
    f.frame_step = false;
    return;
  }
  if (p[0] == ':') return;  // comment (heartbeat)
  std::string_view l(p, n);
  if (l.rfind("data:", 0) == 0) {
    if (rs.check_step && !f.live && l.find(kStep) != std::string_view::npos) f.frame_step = true;
  } else if (l.rfind("id:", 0) == 0) {
    size_t i = 3;
    while (i < l.size() && l[i] == ' ') ++i;
    uint64_t v = 0;
    for (; i < l.size() && l[i] >= '0' && l[i] <= '9'; ++i) v = v * 10 + uint64_t(l[i] - '0');
    f.frame_id = v;
    f.frame_has_id = true;
  } else if (l.rfind("event:", 0) == 0) {
    std::string_view v = l.substr(6);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    f.frame_ev = v == "log"   ? follower::ev::log
                 : v == "end" ? follower::ev::end
                              : follower::ev::other;
  }
}

void sse_feed(follower& f, run_state& rs, const char* p, size_t n) {
  if (!f.carry.empty()) {
    auto* nl = static_cast<const char*>(std::memchr(p, '\n', n));
    if (!nl) {
      f.carry.append(p, n);
      return;
    }
    f.carry.append(p, static_cast<size_t>(nl - p));
    sse_line(f, rs, f.carry.data(), f.carry.size());
    f.carry.clear();
    n -= static_cast<size_t>(nl - p) + 1;
    p = nl + 1;
  }
  while (n) {
    auto* nl = static_cast<const char*>(std::memchr(p, '\n', n));
    if (!nl) {
      f.carry.assign(p, n);
      return;
    }
    sse_line(f, rs, p, static_cast<size_t>(nl - p));
    n -= static_cast<size_t>(nl - p) + 1;
    p = nl + 1;
  }
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Body bytes (after the head): de-chunk if needed, feed SSE.
void body_feed(follower& f, run_state& rs, const char* p, size_t n) {
  if (!f.chunked) return sse_feed(f, rs, p, n);
  using cs = follower::cs;
  while (n) {
    switch (f.cstate) {
      case cs::size: {
        int h = hexval(*p);
        if (h >= 0) {
          f.chunk_left = f.chunk_left * 16 + uint64_t(h);
          f.chunk_size_seen = true;
        } else if (*p == '\r') {
          f.cstate = cs::size_lf;
        } else if (*p == '\n') {
          goto size_done;
        } else {
          f.cstate = cs::size_ext;
        }
        ++p, --n;
        break;
      }
      case cs::size_ext:
        if (*p == '\r')
          f.cstate = cs::size_lf;
        else if (*p == '\n') {
          ++p, --n;
          goto size_done;
        }
        ++p, --n;
        break;
      case cs::size_lf:
        if (*p != '\n') die("bad chunk framing");
        ++p, --n;
      size_done:
        if (!f.chunk_size_seen) die("empty chunk size");
        f.chunk_size_seen = false;
        f.cstate = f.chunk_left == 0 ? cs::trailer : cs::data;
        f.trailer_line.clear();
        break;
      case cs::data: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(f.chunk_left, n));
        sse_feed(f, rs, p, take);
        p += take, n -= take;
        f.chunk_left -= take;
        if (f.chunk_left == 0) f.cstate = cs::data_cr;
        break;
      }
      case cs::data_cr:
        if (*p == '\r') {
          f.cstate = cs::data_lf;
          ++p, --n;
          break;
        }
        [[fallthrough]];
      case cs::data_lf:
        if (*p != '\n') die("bad chunk terminator");
        ++p, --n;
        f.cstate = cs::size;
        break;
      case cs::trailer:
        if (*p == '\n') {
          if (f.trailer_line.empty() || f.trailer_line == "\r") f.cstate = cs::done;
          f.trailer_line.clear();
        } else {
          f.trailer_line.push_back(*p);
        }
        ++p, --n;
        break;
      case cs::done:
        return;  // ignore anything after the last chunk
    }
  }
}

void on_bytes(follower& f, run_state& rs, const char* p, size_t n) {
  if (!f.head_done) {
    size_t old = f.head.size();
    f.head.append(p, n);
    auto he = f.head.find("\r\n\r\n");
    if (he == std::string::npos) {
      if (f.head.size() > 65536) die("response head too large");
      return;
    }
    f.head_done = true;
    f.status = std::atoi(f.head.c_str() + 9);
    std::string lower = f.head.substr(0, he);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    f.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
    if (f.status != 200) die("follower got HTTP " + std::to_string(f.status) + ":\n" + f.head);
    size_t body_off = he + 4 - old;  // offset within p
    f.head.clear();
    f.head.shrink_to_fit();
    if (body_off < n) body_feed(f, rs, p + body_off, n - body_off);
    return;
  }
  body_feed(f, rs, p, n);
}

std::vector<char> g_buf(256 * 1024);

// Read what is ready on one follower. Returns false once it is closed.
void on_readable(follower& f, run_state& rs, int ep) {
  for (int round = 0; round < 4; ++round) {
    ssize_t n = recv(f.fd, g_buf.data(), g_buf.size(), 0);
    if (n > 0) {
      f.bytes += static_cast<uint64_t>(n);
      on_bytes(f, rs, g_buf.data(), static_cast<size_t>(n));
      if (static_cast<size_t>(n) < g_buf.size()) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    // EOF or error
    epoll_ctl(ep, EPOLL_CTL_DEL, f.fd, nullptr);
    close(f.fd);
    f.fd = -1;
    f.closed = true;
    if (!f.ended) ++rs.failed;
    return;
  }
}

// Runs the event loop until pred() or timeout; returns pred().
template <class Pred>
bool pump(int ep, std::vector<follower>& fs, run_state& rs, Pred pred, double timeout_s) {
  auto t0 = clock_type::now();
  std::vector<epoll_event> evs(1024);
  while (!pred()) {
    if (seconds_since(t0) > timeout_s) return false;
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(std::string("epoll_wait: ") + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
      auto& f = fs[evs[i].data.u32];
      if (f.fd >= 0) on_readable(f, rs, ep);
    }
  }
  return true;
}

std::string find_json_str(const std::string& s, const std::string& key) {
  auto k = "\"" + key + "\":\"";
  auto p = s.find(k);
  if (p == std::string::npos) return "";
  p += k.size();
  auto e = s.find('"', p);
  return s.substr(p, e - p);
}

}  // namespace

int main(int argc, char** argv) {
  size_t followers = 1000;
  uint64_t lines = 20000;
  size_t batch = 100;
  double timeout_s = 600;
  std::string server = "build/nullspaced";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--followers")
      followers = std::stoul(next());
    else if (a == "--lines")
      lines = std::stoull(next());
    else if (a == "--server")
      server = next();
    else if (a == "--batch")
      batch = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--timeout-s")
      timeout_s = std::stod(next());
    else if (a == "--keep")
      g_keep = true;
    else if (a == "--quick") {
      followers = 20;
      lines = 2000;
      batch = 10;
      timeout_s = 120;
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: %s [--followers F] [--lines N] [--server PATH] [--batch B] "
          "[--timeout-s T] [--keep] [--quick]\n",
          argv[0]);
      return 0;
    } else
      die("unknown argument: " + a);
  }
  if (followers == 0) die("--followers must be > 0");
  if (access(server.c_str(), X_OK) != 0) die("server not executable: " + server);

  // Sockets: F followers + a few for requests; the server inherits the limit.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = followers + 256;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    if (rl.rlim_cur < want && geteuid() == 0) rl.rlim_cur = rl.rlim_max = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) die("RLIMIT_NOFILE too low: " + std::to_string(rl.rlim_cur));
  }

  char tmpl[] = "/tmp/sse-fanout-bench.XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp failed");
  g_tmp = tmpl;
  std::atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  std::string data_dir = g_tmp + "/data", fifo = g_tmp + "/release.fifo";
  mkdir(data_dir.c_str(), 0755);
  if (mkfifo(fifo.c_str(), 0600) != 0) die("mkfifo failed");

  int port = start_server(server, data_dir);
  pid_t spid = g_server;

  std::string cmd = "cat " + fifo + " >/dev/null; seq 1 " + std::to_string(lines);
  std::string body =
      R"({"name":"bench","builder":{"source":{"type":"python_image","version":"3.11"},"steps":[{"type":"run","cmd":")" +
      cmd + R"("}]}})";
  auto [st, created] = http_request(port, "POST", "/v1/builds", body);
  if (st != 202) die("create build: HTTP " + std::to_string(st) + " " + created);
  std::string id = find_json_str(created, "id");
  if (id.rfind("tb_", 0) != 0) die("no build id in: " + created);

  // Wait until the step header is in the log (the step blocks on the FIFO).
  {
    auto t0 = clock_type::now();
    for (;;) {
      auto [s2, b2] = http_request(port, "GET", "/v1/builds/" + id + "?offset=0&wait_ms=2000", "");
      if (s2 != 200) die("get build: HTTP " + std::to_string(s2));
      if (b2.find(kStep) != std::string::npos) break;
      auto status = find_json_str(b2, "status");
      if (status == "error" || status == "cancelled" || status == "ready")
        die("build ended early: " + status + "\n" + b2);
      if (seconds_since(t0) > 60) die("step header never appeared");
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long rss0 = read_rss_kib(spid);

  // Connect followers in batches, each batch until all of it is live.
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<follower> fs(followers);
  run_state rs;
  std::string req =
      "GET /v1/builds/" + id +
      "/logs?follow=true&offset=0 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
      "\r\nAccept: text/event-stream\r\n\r\n";
  auto tc = clock_type::now();
  for (size_t i = 0; i < followers;) {
    size_t end = std::min(followers, i + batch);
    for (; i < end; ++i) {
      int fd = connect_to(port);
      send_all(fd, req);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      fs[i].fd = fd;
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.u32 = static_cast<uint32_t>(i);
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) die("epoll_ctl add");
    }
    size_t target = end;
    if (!pump(
            ep, fs, rs, [&] { return rs.live >= target || rs.failed > 0; }, 60))
      die("followers did not go live: " + std::to_string(rs.live) + "/" + std::to_string(target));
    if (rs.failed) die("a follower closed before going live");
  }
  double connect_s = seconds_since(tc);
  rs.check_step = false;
  // Let the server settle (nothing more should arrive: the step is blocked).
  pump(
      ep, fs, rs, [] { return false; }, 0.5);
  long rss1 = read_rss_kib(spid);
  for (auto& f : fs) {
    f.events_before = f.events;
    f.bytes_before = f.bytes;
  }

  // Release.
  double cpu0 = read_cpu_s(spid);
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  rs.release_t = clock_type::now();
  rs.released = true;
  {
    int wfd = -1;
    for (int tries = 0; wfd < 0; ++tries) {
      wfd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (wfd < 0 && (errno != ENXIO || tries > 10000)) die("open fifo for writing failed");
      if (wfd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    close(wfd);
  }
  bool all = pump(
      ep, fs, rs, [&] { return rs.ended + rs.failed >= followers; }, timeout_s);
  double wall = seconds_since(rs.release_t);
  double cpu1 = read_cpu_s(spid);
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  long rss2 = read_rss_kib(spid);

  double last_end = 0, first_end = 1e300;
  uint64_t bytes_after = 0;
  uint64_t total = 0, total_after = 0, min_ev = UINT64_MAX, max_ev = 0, id_err = 0;
  size_t ended = 0;
  std::map<uint64_t, size_t> hist;
  for (auto& f : fs) {
    total += f.events;
    total_after += f.events - f.events_before;
    bytes_after += f.bytes - f.bytes_before;
    min_ev = std::min(min_ev, f.events);
    max_ev = std::max(max_ev, f.events);
    id_err += f.id_errors;
    ++hist[f.events];
    if (f.ended) {
      ++ended;
      last_end = std::max(last_end, f.end_at);
      first_end = std::min(first_end, f.end_at);
    }
    if (f.fd >= 0) close(f.fd);
  }
  close(ep);
  auto tv = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  double client_cpu = tv(ru1.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_utime) - tv(ru0.ru_stime);
  double elapsed = ended ? last_end : wall;
  bool same = min_ev == max_ev;

  std::printf("== sse fan-out: %zu followers, %llu lines (server %s, pid %d, %ld cpus)\n",
              followers, static_cast<unsigned long long>(lines), server.c_str(), spid,
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("connect+live (%zu per batch)  : %.2f s\n", batch, connect_s);
  std::printf("server RSS, 0 followers       : %ld KiB\n", rss0);
  std::printf("server RSS, %zu idle followers: %ld KiB\n", followers, rss1);
  std::printf("RSS per idle follower         : %.1f KiB\n",
              double(rss1 - rss0) / double(followers));
  std::printf("server RSS after the run      : %ld KiB\n", rss2);
  std::printf("followers ended / failed      : %zu / %zu%s\n", ended, rs.failed,
              all ? "" : "  (TIMED OUT)");
  std::printf("log events per follower       : %llu%s (before release %llu; ids contiguous: %s)\n",
              static_cast<unsigned long long>(max_ev), same ? " (all equal)" : " (NOT all equal)",
              static_cast<unsigned long long>(fs[0].events_before), id_err ? "NO" : "yes");
  if (!same) {
    std::printf("  count histogram:");
    for (auto& [k, v] : hist) std::printf(" %llu×%zu", static_cast<unsigned long long>(k), v);
    std::printf("\n");
  }
  std::printf("log events delivered, total   : %llu (after release %llu)\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(total_after));
  std::printf("release → first / last end    : %.3f s / %.3f s\n", ended ? first_end : 0.0,
              elapsed);
  std::printf("events/s total (after release): %.0f\n", double(total_after) / elapsed);
  std::printf("bytes received after release  : %.1f MiB (%.0f MiB/s, %.0f B/event)\n",
              double(bytes_after) / 1048576.0, double(bytes_after) / 1048576.0 / elapsed,
              double(bytes_after) / double(std::max<uint64_t>(1, total_after)));
  std::printf("server CPU during fan-out     : %.2f s (%.0f%% of one core)\n", cpu1 - cpu0,
              100 * (cpu1 - cpu0) / wall);
  std::printf("client CPU during fan-out     : %.2f s (%.0f%% of one core)\n", client_cpu,
              100 * client_cpu / wall);
  nullspace::bench::report("SSE fan-out to " + std::to_string(followers) + " followers",
                           double(total_after) / elapsed, "events/s");
  nullspace::bench::report("server RSS per idle SSE follower",
                           double(rss1 - rss0) / double(followers), "KiB");
  return (all && same && !id_err && rs.failed == 0) ? 0 : 1;
}
