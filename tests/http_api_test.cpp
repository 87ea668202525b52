// The Builds API over real HTTP on a loopback port: the seeds' flows, log
// streams (SSE / NDJSON, resume, slow followers, fan-out) and every route's
// success and documented errors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <set>

#include "api_fixture.hpp"
#include "catch2/catch.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

// Lets a build step blocked in `cat FIFO` go on: opening the write end and
// closing it gives the reader end-of-file.
void release(const std::string& fifo) {
  int fd = open(fifo.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  close(fd);
}

http_headers sse_headers(const api_fixture& f) {
  auto h = f.auth();
  h.emplace_back("Accept", "text/event-stream");
  return h;
}

// Every log entry of a build, polled with get_status by offset (the seeds'
// background flow), until the build is terminal.
std::vector<std::string> poll_until_terminal(api_fixture& f, const std::string& id,
                                             std::string& final_status) {
  std::vector<std::string> entries;
  uint64_t offset = 0;
  for (;;) {
    auto r = f.get("/v1/builds/" + id + "?offset=" + std::to_string(offset) + "&wait_ms=30000");
    REQUIRE(r.status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(r.body);
    for (auto e : doc["logs"].get_array()) {
      REQUIRE(uint64_t(e["offset"]) == entries.size());  // dense, no gap, no repeat
      entries.push_back(simdjson::minify(e));
    }
    uint64_t next = doc["next_offset"];
    REQUIRE(next == entries.size());
    offset = next;
    std::string_view st = doc["build"]["status"];
    if ((st == "ready" || st == "error" || st == "cancelled") &&
        offset == uint64_t(doc["build"]["log_next_offset"])) {
      final_status = std::string(st);
      return entries;
    }
  }
}

std::vector<std::string> ndjson_replay(api_fixture& f, const std::string& id, uint64_t from = 0) {
  http_connection c(f.port);
  c.send_request("GET", "/v1/builds/" + id + "/logs?offset=" + std::to_string(from), {}, f.auth());
  auto head = c.read_head();
  REQUIRE(head.status == 200);
  REQUIRE(head.header("content-type") == "application/x-ndjson");
  std::vector<std::string> lines;
  while (auto l = c.next_line()) lines.push_back(*l);
  // A terminal build's stream closes with {"event":"end","build":…}.
  REQUIRE(!lines.empty());
  CHECK(json_str(lines.back(), "event") == "end");
  lines.pop_back();
  return lines;
}

}  // namespace

TEST_CASE("seeds flow over HTTP: background build, poll by offset, replay equals the polls",
          "[http]") {
  api_fixture f;
  auto id = f.create_build({"echo one", "echo two >&2", "seq 1 50"});
  std::string status;
  auto polled = poll_until_terminal(f, id, status);
  CHECK(status == "ready");
  REQUIRE(polled.size() > 50);
  auto replay = ndjson_replay(f, id);
  REQUIRE(replay.size() == polled.size());
  for (size_t i = 0; i < replay.size(); ++i) {
    // Entries are stored as served: the replayed bytes equal the polled JSON.
    simdjson::dom::parser p;
    CHECK(simdjson::minify(p.parse(replay[i])) == polled[i]);
  }
  // Replay from an offset starts exactly there.
  auto tail = ndjson_replay(f, id, 10);
  REQUIRE(tail.size() == polled.size() - 10);
  CHECK(json_u64(tail.front(), "offset") == 10);
}

TEST_CASE("create with Accept: text/event-stream streams the build until end", "[http]") {
  api_fixture f;
  auto h = sse_headers(f);
  h.emplace_back("Content-Type", "application/json");
  http_connection c(f.port);
  c.send_request("POST", "/v1/builds", run_request({"echo streamed-line"}), h);
  auto head = c.read_head();
  REQUIRE(head.status == 200);
  CHECK(head.header("content-type") == "text/event-stream");
  auto first = c.next_event();
  REQUIRE(first);
  CHECK(first->event == "build");
  auto id = json_str(first->data, "id");
  REQUIRE(id.starts_with("tb_"));
  CHECK(head.header("x-build-id") == id);
  uint64_t expect = 0;
  bool saw_line = false;
  std::optional<sse_event> end;
  while (auto ev = c.next_event()) {
    if (ev->event == "end") {
      end = ev;
      break;
    }
    REQUIRE(ev->event == "log");
    REQUIRE(ev->id == std::to_string(expect));  // id: is the offset, dense from 0
    CHECK(json_u64(ev->data, "offset") == expect);
    saw_line |= ev->data.find("streamed-line") != std::string::npos;
    ++expect;
  }
  REQUIRE(end);
  CHECK(saw_line);
  CHECK(json_str(end->data, "status") == "ready");
  CHECK(json_u64(end->data, "log_next_offset") == expect);
  CHECK_FALSE(c.next_event());  // the stream ended after `end`
}

TEST_CASE("SSE resume with Last-Event-ID: the union is exactly the log", "[http]") {
  api_fixture f;
  auto id = f.create_build({"seq 1 300"});
  f.wait_terminal(id);
  auto all = ndjson_replay(f, id);
  REQUIRE(all.size() > 300);

  std::vector<uint64_t> seen;
  {
    http_connection c(f.port);
    c.send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, sse_headers(f));
    REQUIRE(c.read_head().status == 200);
    for (int i = 0; i < 120; ++i) {
      auto ev = c.next_event();
      REQUIRE(ev);
      seen.push_back(std::stoull(ev->id));
    }
  }  // disconnect mid-stream
  http_connection c(f.port);
  auto h = sse_headers(f);
  h.emplace_back("Last-Event-ID", std::to_string(seen.back()));
  c.send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, h);
  REQUIRE(c.read_head().status == 200);
  bool ended = false;
  while (auto ev = c.next_event()) {
    if (ev->event == "end") {
      ended = true;
      break;
    }
    seen.push_back(std::stoull(ev->id));
  }
  CHECK(ended);
  REQUIRE(seen.size() == all.size());
  for (size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);
}

TEST_CASE("a follower that stops reading does not hold back another follower", "[http]") {
  api::api_options opts;
  opts.limits.stream_buffer_bytes = 256 * 1024;
  opts.streams.stall_timeout_ms = 1000;  // a full buffer that does not drain: cut off
  api_fixture f(opts);
  // The build blocks on a fifo until both followers are live, then prints
  // ~20 MB: far more than the stalled follower's socket buffers can absorb.
  auto fifo = f.dir.sub("go");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto id = f.create_build(
      {"cat " + fifo + " >/dev/null; yes " + std::string(1000, 'x') + " | head -n 20000"});

  auto follow = [&](http_connection& c) {
    c.send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, sse_headers(f));
    REQUIRE(c.read_head().status == 200);
    // Caught up (live) once the step's header entry arrived: the step is
    // now blocked on the fifo and nothing else is pending.
    for (;;) {
      auto ev = c.next_event();
      REQUIRE(ev);
      if (json_str(ev->data, "kind") == "step") return std::stoull(ev->id);
    }
  };
  http_connection stalled(f.port, 4096);
  http_connection reader(f.port);
  auto stalled_last = follow(stalled);
  auto reader_first = follow(reader);
  REQUIRE(reader_first == stalled_last);

  release(fifo);
  uint64_t lines = 0, reader_last = reader_first;
  std::optional<sse_event> end;
  while (!end) {
    while (auto ev = reader.next_event()) {
      if (ev->event == "end") {
        end = ev;
        break;
      }
      REQUIRE(std::stoull(ev->id) == reader_last + 1);
      reader_last = std::stoull(ev->id);
      if (json_str(ev->data, "kind") == "log") ++lines;
    }
    if (end) break;
    // Only if this machine paused the reader past the stall timeout: resume.
    reader = http_connection(f.port);
    auto h = sse_headers(f);
    h.emplace_back("Last-Event-ID", std::to_string(reader_last));
    reader.send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, h);
    REQUIRE(reader.read_head().status == 200);
  }
  REQUIRE(end);  // the reader got everything while the other one never read
  CHECK(lines == 20000);
  CHECK(json_str(end->data, "status") == "ready");

  // The stalled follower is cut off (its buffer stayed full). Wait for that
  // event through /metrics, without reading from it (reading would unstall it).
  for (int i = 0;; ++i) {
    REQUIRE(i < 1000000);
    auto m = f.get("/metrics").body;
    if (m.find("nullspace_slow_followers_disconnected_total 0\n") == std::string::npos) break;
  }
  bool got_end = false;
  while (auto ev = stalled.next_event()) {
    if (ev->event == "end") got_end = true;
    if (!ev->id.empty()) stalled_last = std::stoull(ev->id);
  }
  CHECK_FALSE(got_end);
  // ... and resumes exactly where it stopped.
  http_connection again(f.port);
  auto h = sse_headers(f);
  h.emplace_back("Last-Event-ID", std::to_string(stalled_last));
  again.send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, h);
  REQUIRE(again.read_head().status == 200);
  uint64_t expect = stalled_last + 1;
  bool resumed_end = false;
  while (auto ev = again.next_event()) {
    if (ev->event == "end") {
      resumed_end = true;
      break;
    }
    REQUIRE(ev->id == std::to_string(expect));
    ++expect;
  }
  CHECK(resumed_end);
  CHECK(expect == json_u64(end->data, "log_next_offset"));
}

TEST_CASE("many followers of one build share one engine subscription", "[http]") {
  api_fixture f;
  auto fifo = f.dir.sub("go");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto id = f.create_build({"cat " + fifo + " >/dev/null; seq 1 2000"});
  constexpr int followers = 50;
  std::vector<http_connection> conns;
  for (int i = 0; i < followers; ++i) {
    conns.emplace_back(f.port);
    conns.back().send_request("GET", "/v1/builds/" + id + "/logs?follow=true", {}, sse_headers(f));
    REQUIRE(conns.back().read_head().status == 200);
  }
  // One subscription at the log hub for all 50 HTTP followers.
  auto stats = f.eng->current_stats();
  CHECK(stats.followers == 1);
  auto m = f.get("/metrics").body;
  CHECK(m.find("nullspace_sse_followers 50\n") != std::string::npos);
  CHECK(m.find("nullspace_followed_builds 1\n") != std::string::npos);
  release(fifo);
  std::vector<uint64_t> counts;
  for (auto& c : conns) {
    uint64_t n = 0;
    bool end = false;
    while (auto ev = c.next_event()) {
      if (ev->event == "end") {
        end = true;
        break;
      }
      REQUIRE(ev->id == std::to_string(n));
      ++n;
    }
    CHECK(end);
    counts.push_back(n);
  }
  CHECK(std::set<uint64_t>(counts.begin(), counts.end()).size() == 1);
  CHECK(counts.front() > 2000);
}

TEST_CASE("get_status long-poll returns when the next entry is committed", "[http]") {
  api_fixture f;
  auto fifo = f.dir.sub("go");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto id = f.create_build({"cat " + fifo + " >/dev/null; echo released"});
  // Read up to the step header: the step is blocked on the fifo.
  uint64_t next = 0;
  for (;;) {
    auto r = f.get("/v1/builds/" + id + "?offset=" + std::to_string(next) + "&wait_ms=30000");
    REQUIRE(r.status == 200);
    next = json_u64(r.body, "next_offset");
    if (r.body.find("\"kind\":\"step\"") != std::string::npos) break;
  }
  http_connection poll(f.port);
  poll.send_request("GET",
                    "/v1/builds/" + id + "?offset=" + std::to_string(next) + "&wait_ms=60000", {},
                    f.auth());
  release(fifo);
  auto r = poll.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.body.find("released") != std::string::npos);
  CHECK(json_u64(r.body, "next_offset") > next);
}

TEST_CASE("cancel, retry and promote over HTTP", "[http]") {
  api_fixture f;
  auto fifo = f.dir.sub("never");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto id = f.create_build({"cat " + fifo});

  auto r = f.post_json("/v1/builds/" + id + "/cancel", R"({"reason":"changed my mind"})");
  REQUIRE(r.status == 200);
  CHECK(json_str(r.body, "build.status") == "cancelled");
  CHECK(json_str(r.body, "build.cancel_reason") == "changed my mind");
  r = f.post_json("/v1/builds/" + id + "/cancel", "");
  CHECK(r.status == 409);
  CHECK(json_str(r.body, "error.code") == "conflict");

  r = f.post_json("/v1/builds/" + id + "/retry", R"({"tags":["v2"]})");
  REQUIRE(r.status == 202);
  auto retry_id = json_str(r.body, "build.id");
  CHECK(retry_id != id);
  CHECK(json_str(r.body, "build.retry_of") == id);
  f.post_json("/v1/builds/" + retry_id + "/cancel", "{}");

  r = f.post_json("/v1/builds/" + id + "/promote", R"({"tag":"production"})");
  CHECK(r.status == 422);
  CHECK(json_str(r.body, "error.code") == "failed_precondition");
  CHECK(json_str(r.body, "error.message").find("not ready") != std::string::npos);
  r = f.post_json("/v1/builds/" + id + "/promote", R"({"tag":"Bad Tag"})");
  CHECK(r.status == 400);
  CHECK(json_str(r.body, "error.field") == "tag");

  // (Each with a body valid for its route: an unknown member would be a 400.)
  for (auto [route, body] : {std::pair{"/cancel", R"({"reason":"x"})"}, std::pair{"/retry", "{}"},
                             std::pair{"/promote", R"({"tag":"x"})"}}) {
    r = f.post_json(std::string("/v1/builds/tb_doesnotexist") + route, body);
    CHECK(r.status == 404);
  }
  CHECK(f.get("/v1/builds/tb_doesnotexist").status == 404);
  CHECK(f.get("/v1/builds/tb_doesnotexist/logs").status == 404);
  CHECK(f.get("/v1/builds/" + id + "?offset=x").status == 400);
  CHECK(f.get("/v1/builds/" + id + "/logs?follow=maybe").status == 400);
}

TEST_CASE("retry of a build with secrets needs fresh values (422 naming them)", "[http]") {
  api_fixture f;
  // Secrets need the buildkit backend; steps name the secrets they read.
  std::string req = R"({"name":"sec","build_backend":"buildkit",
    "builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"run","cmd":"test -s $NULLSPACE_SECRETS_DIR/tok","secrets":["tok"]}]},
    "build_secrets":[{"id":"tok","value":"s3cr3t-canary-value","source":"env"}]})";
  auto r = f.post_json("/v1/builds", req);
  REQUIRE(r.status == 202);
  auto id = json_str(r.body, "build.id");
  CHECK(r.body.find("s3cr3t-canary-value") == std::string::npos);
  auto final_body = f.wait_terminal(id);
  CHECK(json_str(final_body, "build.status") == "ready");
  r = f.post_json("/v1/builds/" + id + "/retry", "{}");
  CHECK(r.status == 422);
  CHECK(json_str(r.body, "error.message").find("tok") != std::string::npos);
  r = f.post_json("/v1/builds/" + id + "/retry",
                  R"({"build_secrets":[{"id":"tok","value":"another-canary"}]})");
  CHECK(r.status == 202);
  CHECK(r.body.find("another-canary") == std::string::npos);
}

TEST_CASE(":validate and :plan", "[http]") {
  api_fixture f;
  auto r = f.post_json("/v1/builds:validate", run_request({"true"}));
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"valid\":true") != std::string::npos);
  r = f.post_json("/v1/builds:validate", R"({"name":"x","builder":{},"memory_mb":-1})");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"valid\":false") != std::string::npos);
  CHECK(r.body.find("\"field\":\"memory_mb\"") != std::string::npos);
  r = f.post_json("/v1/builds:validate", "{\"name\": ");
  CHECK(r.status == 400);
  CHECK(json_str(r.body, "error.message").find("byte offset") != std::string::npos);

  r = f.post_json("/v1/builds:plan", run_request({"make", "make install"}));
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"cache_key\":\"sha256:") != std::string::npos);
  CHECK(r.body.find("\"summary\":\"run make install\"") != std::string::npos);
  r = f.post_json("/v1/builds:plan", R"({"name":"x"})");
  CHECK(r.status == 400);
}

TEST_CASE("/healthz and /metrics", "[http]") {
  api_fixture f;
  auto id = f.create_build({"true"});
  f.wait_terminal(id);
  auto h = f.get("/healthz");
  CHECK(h.status == 200);
  auto m = f.get("/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.header("content-type").starts_with("text/plain"));
  for (auto needle :
       {"nullspace_builds{status=\"ready\"} 1\n", "nullspace_queue_depth 0\n",
        "nullspace_log_entries_appended_total ", "nullspace_sse_followers 0\n",
        "nullspace_http_requests_total{route=\"/v1/builds\",method=\"POST\",code=\"202\"} 1\n",
        "nullspace_http_request_duration_seconds_bucket{route=\"/v1/builds/{id}\",le=\"+Inf\"} ",
        "nullspace_http_request_duration_seconds_count{route=\"/healthz\"} 1\n"})
    CHECK(m.body.find(needle) != std::string::npos);
}
