// Log replay over HTTP against Redis, and appends of another build under replay.
//
//   build/tools/bench/bench-log-replay [--entries N] [--clients C] [--append-lines L]
//       [--rounds R] [--server PATH] [--redis PATH] [--keep] [--quick]
//
// --quick (what CI runs): 20 000 entries, 4 clients, 5 000 lines, one round;
// without redis-server the Redis row is left out.
//
// 1. Writes a store (through the store API, large batches without the WAL, as
//    bench-restart-store does) holding one finished build of N log entries
//    (status entries and step output, encoded as the hub encodes them), then
//    starts nullspaced (--isolation host) on it.
// 2. Starts redis-server (no persistence) on loopback and XADDs the same N
//    entry JSONs, pipelined, to one stream.
// 3. Each round, one client at a time: `GET /v1/builds/{id}/logs?offset=0`
//    as NDJSON and as SSE (no follow), and Redis XRANGE in pages of 1000
//    (each next page from the last id, exclusive). Every client parses every
//    entry's JSON (simdjson) and checks that the offsets are 0..N-1 in order
//    (and, for SSE, that each `id:` is its entry's offset); a run that misses
//    one fails. Entries/s from the request to the last byte.
// 4. Appends under replay: a second build whose step prints L lines (`seq`),
//    alone, then while C clients replay the big build (NDJSON, each parsing
//    every entry, started before it). Its append rate is its step's lines over
//    the time from its step's header entry to its last line (`ts_ms`).
//
// POSIX sockets; one thread per replaying client.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_report.hpp"
#include "child_process.hpp"
#include "loopback.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/store.hpp"

using namespace nullspace;
using clock_type = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench-log-replay: %s\n", msg.c_str());
  std::exit(1);
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ------------------------------------------------------------- the store ----

constexpr const char* tenant = "default";
constexpr const char* build_id_str = "tb_0000000000000000000000aa";

// Entry `off` of the big build, as the hub encodes it: queued, started, step
// output lines, ready.
std::string entry_json(uint64_t off, uint64_t n, int64_t t0_ms) {
  storage::log_entry e;
  e.offset = off;
  e.ts_ms = t0_ms + static_cast<int64_t>(off / 100);
  e.level = "info";
  if (off == 0 || off == 1 || off + 1 == n) {
    e.kind = "status";
    e.status = off == 0 ? "queued" : off == 1 ? "building" : "ready";
    e.message = off == 0 ? "build queued" : off == 1 ? "build started" : "build ready";
  } else {
    e.kind = "log";
    e.step = 0;
    e.phase = "step";
    e.stream = "stdout";
    e.message = "Collecting package-" + std::to_string(off) + " (from -r requirements.txt)";
  }
  return storage::encode_log_entry(e);
}

std::string definition() {
  auto parsed = runtime::parse_build_request(
      R"({"name":"replay","builder":{"source":{"type":"python_image","version":"3.11"},)"
      R"("steps":[{"type":"run","cmd":"echo replay"}]}})",
      platform_limits{});
  if (!parsed.request) die("the sample request does not parse");
  return runtime::sanitized_definition_json(*parsed.request);
}

void check(result<bool> r) {
  if (!r) die(r.error().message);
}

// One finished (ready) build of `n` entries, written as the engine leaves it.
void generate(const std::string& dir, uint64_t n, int64_t t0_ms) {
  std::filesystem::create_directories(dir);
  auto opened = storage::store::open(dir, {.bulk_load = true});
  if (!opened) die(opened.error().message);
  auto& db = **opened;
  build_record r;
  r.id = build_id_str;
  r.tenant = r.namespace_name = tenant;
  r.name = "replay";
  r.tags = r.current_tags = {"latest"};
  r.backend = "native";
  r.options = {2, 2048, 0, true, false};
  r.definition_json = definition();
  r.status = build_status::ready;
  r.created_ms = t0_ms;
  r.started_ms = t0_ms + 5;
  r.finished_ms = t0_ms + static_cast<int64_t>(n / 100) + 10;
  r.cache = {1, 0, 1, 0};
  storage::template_record t;
  t.namespace_name = t.tenant = tenant;
  t.name = "replay";
  t.created_ms = t0_ms;
  t.latest_ready = r.id;
  t.latest_ready_ms = r.finished_ms;
  storage::write_batch b;
  for (uint64_t off = 0; off < n; ++off) {
    db.put_log(b, r.id, off, entry_json(off, n, t0_ms));
    if (b.count() >= 100'000) {
      check(db.write(b));
      b = storage::write_batch{};
    }
  }
  db.put_tag(b, tenant, "replay", "latest", r.id);
  db.put_build(b, r);
  db.put_history(b, r);
  db.put_template(b, t);
  db.put_namespace_owner(b, tenant, tenant);
  storage::store::status_counts counts{};
  ++counts[static_cast<size_t>(build_status::ready)];
  db.put_build_counts(b, counts);
  check(db.write(b));
  check(db.put_meta("registry_adopted", "1"));
  check(db.flush());
}

// ------------------------------------------------------------- processes ----

std::string g_tmp;
bool g_keep = false;
std::vector<pid_t> g_children;

void stop_child(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return void(pid = -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

void cleanup() {
  for (auto& pid : g_children) stop_child(pid);
  if (!g_tmp.empty() && !g_keep) std::filesystem::remove_all(g_tmp);
}

void on_signal(int) {
  for (auto pid : g_children)
    if (pid > 0) kill(pid, SIGKILL);
  _exit(130);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err) {
  pid_t pid = nullspace::bench::spawn_logged(argv, out, err);
  if (pid < 0) die("fork failed");
  g_children.push_back(pid);
  return pid;
}

int start_nullspaced(const std::string& path, const std::string& data_dir) {
  std::string out = g_tmp + "/nullspaced.out", err = g_tmp + "/nullspaced.err";
  pid_t pid = spawn({path, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--isolation", "host",
                     "--log-level", "warn"},
                    out, err);
  auto t0 = clock_type::now();
  constexpr std::string_view mark = "listening on http://127.0.0.1:";
  while (seconds_since(t0) < 60) {
    std::string s = slurp(out);
    if (auto p = s.find(mark); p != std::string::npos) {
      auto q = p + mark.size();
      auto e = s.find_first_not_of("0123456789", q);
      if (e != std::string::npos && e > q) return std::atoi(s.substr(q, e - q).c_str());
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) die("nullspaced exited at start:\n" + slurp(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  die("nullspaced did not print its listening line");
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind for a free port");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------- sockets ----

int connect_to(int port, bool wait_for_listener = false) {
  auto t0 = clock_type::now();
  for (;;) {
    int fd = nullspace::bench::connect_loopback(port);
    if (fd >= 0) return fd;
    int e = errno;
    if (!wait_for_listener || seconds_since(t0) > 10) die(std::string("connect: ") + strerror(e));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void send_all(int fd, std::string_view s) {
  if (!nullspace::bench::send_all(fd, s)) die(std::string("send: ") + strerror(errno));
}

// A blocking reader over one socket with its own buffer.
struct reader {
  int fd;
  std::vector<char> buf = std::vector<char>(1 << 18);
  size_t pos = 0, end = 0;
  // At least one more byte, or false at EOF.
  bool fill() {
    if (pos == end) pos = end = 0;
    if (end == buf.size()) {
      if (pos > 0) {
        std::memmove(buf.data(), buf.data() + pos, end - pos);
        end -= pos;
        pos = 0;
      } else {
        buf.resize(buf.size() * 2);
      }
    }
    for (;;) {
      ssize_t n = recv(fd, buf.data() + end, buf.size() - end, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die(std::string("recv: ") + strerror(errno));
      if (n == 0) return false;
      end += static_cast<size_t>(n);
      return true;
    }
  }
  // A line without its CRLF.
  std::string_view line() {
    for (;;) {
      auto* nl = static_cast<char*>(std::memchr(buf.data() + pos, '\n', end - pos));
      if (nl) {
        std::string_view l(buf.data() + pos, static_cast<size_t>(nl - (buf.data() + pos)));
        pos = static_cast<size_t>(nl - buf.data()) + 1;
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        return l;
      }
      if (!fill()) die("connection closed mid-line");
    }
  }
  void need(size_t n) {
    while (end - pos < n)
      if (!fill()) die("connection closed mid-message");
  }
};

// One request with Connection: close and a Content-Length answer.
std::pair<int, std::string> http_call(int port, const std::string& method,
                                      const std::string& target, const std::string& body = {}) {
  int fd = connect_to(port);
  std::string req = method + " " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  send_all(fd, req);
  std::string resp;
  char b[65536];
  for (ssize_t n; (n = recv(fd, b, sizeof b, 0)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    resp.append(b, static_cast<size_t>(n));
  }
  close(fd);
  auto he = resp.find("\r\n\r\n");
  if (resp.size() < 12 || he == std::string::npos) die("bad HTTP answer: " + resp);
  return {std::atoi(resp.c_str() + 9), resp.substr(he + 4)};
}

std::string json_str(const std::string& body, const std::string& key) {
  auto k = "\"" + key + "\":\"";
  auto p = body.find(k);
  if (p == std::string::npos) return {};
  p += k.size();
  return body.substr(p, body.find('"', p) - p);
}

// ---------------------------------------------------------- replay clients ----

// What a client read: every entry parsed and its offset checked.
struct replay_result {
  uint64_t entries = 0;
  bool ended = false;     // the stream's `end` (HTTP) / the last page (Redis)
  int64_t first_ts = -1;  // ts_ms of the first and last entry with a "stream"
  int64_t last_ts = -1;   // (the second build's step output)
  uint64_t stream_lines = 0;
  double seconds = 0;
};

// Parses one entry's JSON (padding guaranteed past `n`) and checks its offset.
struct entry_checker {
  explicit entry_checker(replay_result& r) : out(r) {}
  simdjson::dom::parser parser;
  replay_result& out;
  void operator()(const char* p, size_t n) {
    simdjson::dom::element doc;
    if (parser.parse(reinterpret_cast<const uint8_t*>(p), n, false).get(doc) != simdjson::SUCCESS)
      die("an entry is not JSON: " + std::string(p, std::min<size_t>(n, 200)));
    uint64_t off = 0;
    if (doc["offset"].get_uint64().get(off) != simdjson::SUCCESS || off != out.entries)
      die("offset " + std::to_string(off) + " where " + std::to_string(out.entries) + " was due");
    // The span of the second build's appends: from its step's header entry
    // (the step starts) to its last output line.
    std::string_view kind;
    if (doc["kind"].get_string().get(kind) == simdjson::SUCCESS && kind == "step") {
      if (doc["ts_ms"].get_int64().get(out.first_ts) != simdjson::SUCCESS) die("no ts_ms");
    }
    std::string_view stream;
    if (doc["stream"].get_string().get(stream) == simdjson::SUCCESS) {
      if (doc["ts_ms"].get_int64().get(out.last_ts) != simdjson::SUCCESS) die("no ts_ms");
      ++out.stream_lines;
    }
    ++out.entries;
  }
};

// Reads a chunked HTTP body, handing each complete line (without '\n') to
// `on_line`; the line's bytes stay valid with SIMDJSON_PADDING after them.
template <class F>
void read_chunked_lines(reader& r, F&& on_line) {
  auto status = r.line();
  if (status.size() < 12 || status.substr(9, 3) != "200")
    die("replay answered: " + std::string(status));
  bool chunked = false;
  for (auto h = r.line(); !h.empty(); h = r.line())
    if (h.find("chunked") != std::string_view::npos) chunked = true;
  if (!chunked) die("the replay is not chunked");
  std::vector<char> body(1 << 20);
  size_t len = 0;
  for (;;) {
    auto size_line = r.line();
    size_t size = std::strtoull(std::string(size_line).c_str(), nullptr, 16);
    if (size == 0) {
      r.line();  // the empty trailer
      break;
    }
    if (body.size() < len + size + simdjson::SIMDJSON_PADDING)
      body.resize((len + size) * 2 + simdjson::SIMDJSON_PADDING);
    while (size > 0) {
      if (r.pos == r.end && !r.fill()) die("closed mid-chunk");
      size_t take = std::min(size, r.end - r.pos);
      std::memcpy(body.data() + len, r.buf.data() + r.pos, take);
      r.pos += take;
      len += take;
      size -= take;
    }
    r.line();  // the chunk's CRLF
    size_t start = 0;
    for (;;) {
      auto* nl = static_cast<char*>(std::memchr(body.data() + start, '\n', len - start));
      if (!nl) break;
      size_t at = static_cast<size_t>(nl - body.data());
      on_line(body.data() + start, at - start);
      start = at + 1;
    }
    std::memmove(body.data(), body.data() + start, len - start);
    len -= start;
  }
  if (len) die("the stream ended mid-line");
}

replay_result replay_http(int port, const std::string& id, bool sse) {
  replay_result out;
  entry_checker check{out};
  auto t0 = clock_type::now();
  int fd = connect_to(port);
  send_all(fd, "GET /v1/builds/" + id + "/logs?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: " +
                   (sse ? "text/event-stream" : "application/x-ndjson") +
                   "\r\nConnection: close\r\n\r\n");
  reader r{fd};
  bool in_end = false;
  int64_t sse_id = -1;
  read_chunked_lines(r, [&](const char* p, size_t n) {
    std::string_view l(p, n);
    if (!sse) {
      if (l.starts_with("{\"event\":\"end\"")) return void(out.ended = true);
      return check(p, n);
    }
    if (l.starts_with("id: ")) {
      sse_id = std::strtoll(std::string(l.substr(4)).c_str(), nullptr, 10);
    } else if (l == "event: end") {
      in_end = true;
    } else if (l.starts_with("data: ")) {
      if (in_end) return void(out.ended = true);
      if (sse_id != static_cast<int64_t>(out.entries)) die("an SSE id is not its entry's offset");
      check(p + 6, n - 6);
    }
  });
  close(fd);
  out.seconds = seconds_since(t0);
  return out;
}

// RESP: the length after a type byte ('*' or '$').
int64_t resp_len(reader& r, char type) {
  auto l = r.line();
  if (l.empty() || l[0] != type) die("redis answered: " + std::string(l));
  return std::strtoll(std::string(l.substr(1)).c_str(), nullptr, 10);
}

// A bulk string's bytes, valid until the next read, with padding after.
std::string_view resp_bulk(reader& r) {
  auto n = static_cast<size_t>(resp_len(r, '$'));
  r.need(n + 2);
  std::string_view v(r.buf.data() + r.pos, n);
  r.pos += n + 2;
  return v;
}

std::string resp_command(const std::vector<std::string_view>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args)
    s.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  return s;
}

void redis_load(int port, uint64_t n, int64_t t0_ms) {
  int fd = connect_to(port, true);
  reader r{fd};
  for (uint64_t off = 0; off < n;) {
    std::string batch;
    uint64_t k = 0;
    for (; k < 1000 && off < n; ++k, ++off) {
      auto id = "0-" + std::to_string(off + 1);
      batch += resp_command({"XADD", "replay", id, "e", entry_json(off, n, t0_ms)});
    }
    send_all(fd, batch);
    for (uint64_t i = 0; i < k; ++i) resp_bulk(r);
  }
  close(fd);
}

replay_result replay_redis(int port) {
  replay_result out;
  entry_checker check{out};
  auto t0 = clock_type::now();
  int fd = connect_to(port);
  reader r{fd};
  std::string last;
  for (;;) {
    std::string from = last.empty() ? "-" : "(" + last;
    send_all(fd, resp_command({"XRANGE", "replay", from, "+", "COUNT", "1000"}));
    auto k = resp_len(r, '*');
    for (int64_t i = 0; i < k; ++i) {
      if (resp_len(r, '*') != 2) die("an XRANGE entry is not [id, fields]");
      auto id = resp_bulk(r);
      if (i + 1 == k) last.assign(id);
      if (resp_len(r, '*') != 2) die("an entry has other fields");
      resp_bulk(r);  // "e"
      auto json = resp_bulk(r);
      // The reader's buffer continues past the bulk (its CRLF at least, and
      // the buffer is far larger than the padding): copy only at its very end.
      if (json.data() + json.size() + simdjson::SIMDJSON_PADDING > r.buf.data() + r.buf.size()) {
        std::string copy(json);
        copy.resize(copy.size() + simdjson::SIMDJSON_PADDING);
        check(copy.data(), json.size());
      } else {
        check(json.data(), json.size());
      }
    }
    if (k < 1000) break;
  }
  out.ended = true;
  close(fd);
  out.seconds = seconds_since(t0);
  return out;
}

// ------------------------------------------------------- appends under load ----

struct append_result {
  uint64_t lines = 0;
  double per_s = 0;
  double accept_ms = 0;  // POST /v1/builds to its 202
};

// Creates a build that prints `lines` lines, waits until it is ready and reads
// its log back: the step output's lines over their first-to-last ts_ms span.
append_result appending_build(int port, uint64_t lines,
                              const std::function<void()>& on_ready = {}) {
  std::string body =
      R"({"name":"appender","builder":{"source":{"type":"python_image","version":"3.11"},)"
      R"("steps":[{"type":"run","cmd":"seq 1 )" +
      std::to_string(lines) + R"("}]}})";
  auto tp = clock_type::now();
  auto [st, created] = http_call(port, "POST", "/v1/builds", body);
  double accept_ms = seconds_since(tp) * 1e3;
  if (st != 202) die("create build: HTTP " + std::to_string(st) + " " + created);
  auto id = json_str(created, "id");
  // An offset past any line: each call waits until the build ends (or 1 s).
  auto t0 = clock_type::now();
  for (;;) {
    auto [s, b] = http_call(port, "GET", "/v1/builds/" + id + "?offset=1000000000000&wait_ms=1000");
    if (s != 200) die("get build: HTTP " + std::to_string(s));
    auto status = json_str(b, "status");
    if (status == "ready") {
      if (on_ready) on_ready();
      break;
    }
    if (status == "error" || status == "cancelled") die("the appending build ended " + status);
    if (seconds_since(t0) > 600) die("the appending build did not finish");
  }
  auto log = replay_http(port, id, false);
  if (log.stream_lines != lines)
    die("the appending build logged " + std::to_string(log.stream_lines) + " lines of " +
        std::to_string(lines));
  double span = std::max<int64_t>(1, log.last_ts - log.first_ts) / 1e3;
  return {lines, static_cast<double>(lines) / span, accept_ms};
}

void expect_all(const replay_result& r, uint64_t n, const char* what) {
  if (r.entries != n || !r.ended)
    die(std::string(what) + " read " + std::to_string(r.entries) + " of " + std::to_string(n) +
        (r.ended ? "" : " and no end"));
}

double loadavg() {
  double l = 0;
  if (auto* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"log replay over HTTP (NDJSON, SSE) against Redis XRANGE, and appends under replay"};
  uint64_t entries = 1'000'000, append_lines = 200'000;
  size_t clients = 20, rounds = 3;
  std::string server = "build/nullspaced", redis = "/usr/bin/redis-server";
  bool quick = false;
  app.add_option("--entries", entries, "log entries of the finished build");
  app.add_option("--clients", clients, "replaying clients while the second build appends");
  app.add_option("--append-lines", append_lines, "lines the second build prints");
  app.add_option("--rounds", rounds, "replay rounds (each: NDJSON, SSE, Redis)");
  app.add_option("--server", server, "the nullspaced binary");
  app.add_option("--redis", redis, "the redis-server binary");
  app.add_flag("--keep", g_keep, "keep the temp dir");
  app.add_flag("--quick", quick, "a few seconds: 20 000 entries, 4 clients, one round");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    entries = 20'000;
    append_lines = 5'000;
    clients = 4;
    rounds = 1;
  }
  if (entries < 3) die("--entries must be at least 3");
  bool have_redis = access(redis.c_str(), X_OK) == 0;
  if (!have_redis && !quick)
    die("redis-server not found at " + redis + " (apt-get install redis-server)");
  if (!have_redis)
    std::fprintf(stderr, "redis-server is not installed: the Redis row is left out\n");

  char tmpl[] = "/tmp/log-replay-bench.XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp failed");
  g_tmp = tmpl;
  std::atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int64_t t0_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() -
                  3'600'000;
  auto tg = clock_type::now();
  generate(g_tmp + "/data/db", entries, t0_ms);
  std::fprintf(stderr, "store of %llu entries written in %.1f s\n",
               static_cast<unsigned long long>(entries), seconds_since(tg));
  int port = start_nullspaced(server, g_tmp + "/data");

  int redis_port = 0;
  if (have_redis) {
    redis_port = free_port();
    spawn({redis, "--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", g_tmp},
          g_tmp + "/redis.out", g_tmp + "/redis.err");
    auto tl = clock_type::now();
    redis_load(redis_port, entries, t0_ms);
    std::fprintf(stderr, "redis loaded in %.1f s\n", seconds_since(tl));
  }

  std::printf("load average %.2f at start; %llu entries per replay\n", loadavg(),
              static_cast<unsigned long long>(entries));
  std::printf("%-6s %-8s %12s %10s\n", "round", "reader", "entries/s", "seconds");
  std::vector<double> nd, sse, rd;
  for (size_t round = 1; round <= rounds; ++round) {
    auto a = replay_http(port, build_id_str, false);
    expect_all(a, entries, "NDJSON replay");
    nd.push_back(entries / a.seconds);
    std::printf("%-6zu %-8s %12.0f %10.3f\n", round, "ndjson", nd.back(), a.seconds);
    auto b = replay_http(port, build_id_str, true);
    expect_all(b, entries, "SSE replay");
    sse.push_back(entries / b.seconds);
    std::printf("%-6zu %-8s %12.0f %10.3f\n", round, "sse", sse.back(), b.seconds);
    if (have_redis) {
      auto c = replay_redis(redis_port);
      expect_all(c, entries, "Redis XRANGE");
      rd.push_back(entries / c.seconds);
      std::printf("%-6zu %-8s %12.0f %10.3f\n", round, "redis", rd.back(), c.seconds);
    }
    std::fflush(stdout);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::printf("median entries/s: ndjson %.0f, sse %.0f", median(nd), median(sse));
  if (have_redis)
    std::printf(", redis %.0f; ndjson/redis %.2f, sse/redis %.2f", median(rd),
                median(nd) / median(rd), median(sse) / median(rd));
  std::printf("\n");
  using nullspace::bench::report;
  report("log replay over HTTP, NDJSON", median(nd), "entries/s", have_redis ? "Redis XRANGE" : "",
         median(rd));
  report("log replay over HTTP, SSE", median(sse), "entries/s", have_redis ? "Redis XRANGE" : "",
         median(rd));

  // Appends of a second build alone, then under C replays.
  auto alone = appending_build(port, append_lines);
  std::printf("appends alone: %llu lines, %.0f lines/s, accepted in %.1f ms\n",
              static_cast<unsigned long long>(alone.lines), alone.per_s, alone.accept_ms);
  std::fflush(stdout);
  std::atomic<size_t> ended{0};
  std::vector<replay_result> results(clients);
  std::vector<std::thread> threads;
  auto tr = clock_type::now();
  for (size_t i = 0; i < clients; ++i)
    threads.emplace_back([&, i] {
      results[i] = replay_http(port, build_id_str, false);
      ++ended;
    });
  size_t ended_before = 0;
  auto under = appending_build(port, append_lines, [&] { ended_before = ended.load(); });
  for (auto& t : threads) t.join();
  double replay_s = seconds_since(tr);
  for (auto& r : results) expect_all(r, entries, "a concurrent replay");
  std::printf(
      "appends under %zu replays: %llu lines, %.0f lines/s (%.2f of alone), accepted in %.1f ms; "
      "replays %.0f entries/s in all over %.1f s, %zu of them ended before the build was ready\n",
      clients, static_cast<unsigned long long>(under.lines), under.per_s, under.per_s / alone.per_s,
      under.accept_ms, clients * entries / replay_s, replay_s, ended_before);
  report("appends of a build under " + std::to_string(clients) + " replays", under.per_s, "lines/s",
         "the same appends alone", alone.per_s);
  std::printf("load average %.2f at the end\n", loadavg());
  return 0;
}
