// Machines over HTTP, beyond docs/API.md's examples ([api_doc] runs every
// route once): tenants on every route, the port proxy (no key forwarded,
// responses streamed as the service writes them), streamed command output,
// request errors, caps — and nullspaced killed with -9 while a machine runs.
#include <signal.h>

#include "api/router.hpp"
#include "api_fixture.hpp"
#include "catch2/catch.hpp"
#include "machine_support.hpp"
#include "sandbox_support.hpp"
#include "tests/daemon_process.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

const std::string alpha_key = "alpha-machine-key-0123456789";
const std::string beta_key = "beta-machine-key-9876543210";

http_headers as(const std::string& key) {
  return {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}};
}

// busybox httpd with two CGI scripts: `env` prints the request's environment
// (so the test sees which headers reached the service), `stream` writes a
// line, waits for /tmp/go (the test writes it through the files API), then
// writes another.
const char* cgi_template =
    R"({"name":"cgi","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nenv\\n' > /www/cgi-bin/env && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho first\\nwhile [ ! -f /tmp/go ]; do usleep 20000; done\\necho second\\n' > /www/cgi-bin/stream && chmod +x /www/cgi-bin/env /www/cgi-bin/stream"}],
  "start_cmd":"exec httpd -f -p 8000 -h /www",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":30000},
  "cpu_count":1,"memory_mb":256})";

// Stops the test's machine when the test ends, however it ends.
struct stop_at_end {
  engine& eng;
  std::string id;
  tenant_id tenant = default_tenant();
  ~stop_at_end() { (void)eng.stop_machine(*parse_machine_id(id), tenant); }
};

http_response call(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& key, const std::string& body = {}) {
  http_connection c(port);
  c.send_request(method, target, body, as(key));
  return c.read_response();
}

}  // namespace

TEST_CASE("machine routes over HTTP: tenants, the port proxy, streams, errors and caps",
          "[machine_http]") {
  REQUIRE_MACHINES();
  temp_dir scratch;
  auto eopts = sandbox_options(scratch);
  eopts.machines.network_range = "10.81.0.0/16";
  eopts.machines.max_machines_per_tenant = 1;
  eopts.tenants = {"alpha", "beta"};
  api::api_options aopts;
  aopts.streams.heartbeat_ms = 20;  // pings show up while a stream waits
  auto keys = api::key_table::parse(alpha_key + " alpha\n" + beta_key + " beta\n", "test");
  REQUIRE(keys.ok());
  aopts.keys = std::move(keys.value());
  api_fixture f(std::move(aopts), eopts);
  auto alpha = as_tenant("alpha");
  auto submitted = call(f.port, "POST", "/v1/builds", alpha_key, cgi_template);
  REQUIRE(submitted.status == 202);
  auto built = wait_terminal(f.port, json_str(submitted.body, "build.id"), as(alpha_key));
  REQUIRE(json_str(built, "build.status") == "ready");

  auto created = call(f.port, "POST", "/v1/machines", alpha_key, R"({"template":"cgi"})");
  REQUIRE(created.status == 201);
  auto id = json_str(created.body, "machine.id");
  REQUIRE(!id.empty());
  stop_at_end guard{*f.eng, id, alpha};
  auto base = "/v1/machines/" + id;

  SECTION("another tenant's machine is 404 on every machine route") {
    size_t checked = 0;
    for (auto& r : f.server->routes().routes()) {
      if (!r.pattern.starts_with("/v1/machines/{id}")) continue;
      std::string target = r.pattern;
      auto put = [&](std::string_view key, std::string_view value) {
        if (auto p = target.find(key); p != std::string::npos) target.replace(p, key.size(), value);
      };
      put("{id}", id);
      put("{command_id}", "c1");
      put("{port}", "8000");
      put("{path...}", "cgi-bin/env");
      if (r.pattern.find("files") != std::string::npos) target += "?path=/etc/hostname";
      auto method = r.method == "*" ? std::string("GET") : r.method;
      std::string body = r.pattern.ends_with("/timeout")    ? R"({"timeout_ms":1000})"
                         : r.pattern.ends_with("/commands") ? R"({"cmd":"true","shell":true})"
                                                            : "";
      INFO(method << " " << target);
      auto res = call(f.port, method, target, beta_key, body);
      CHECK(res.status == 404);
      CHECK(res.body.find("hostname") == std::string::npos);
      ++checked;
    }
    CHECK(checked >= 14);
    // ... and the machine is untouched.
    CHECK(json_str(call(f.port, "GET", base, alpha_key).body, "machine.state") == "ready");
    CHECK(call(f.port, "GET", "/v1/machines", beta_key).body.find(id) == std::string::npos);
  }

  SECTION("the proxy never forwards the caller's key and streams the response as it comes") {
    auto env = call(f.port, "GET", base + "/ports/8000/cgi-bin/env?x=1", alpha_key);
    REQUIRE(env.status == 200);
    CHECK(env.body.find("QUERY_STRING=x=1") != std::string::npos);
    CHECK(env.body.find(alpha_key) == std::string::npos);
    CHECK(env.body.find("HTTP_AUTHORIZATION") == std::string::npos);
    CHECK(env.body.find("HTTP_X_FORWARDED_PREFIX=" + base + "/ports/8000") != std::string::npos);

    // The first line arrives while the script still waits: it is only
    // released by a file the test writes after reading that line.
    http_connection c(f.port);
    c.send_request("GET", base + "/ports/8000/cgi-bin/stream", "", as(alpha_key));
    auto head = c.read_head();
    REQUIRE(head.status == 200);
    std::optional<std::string> line;
    while ((line = c.next_line()) && *line != "first") {
    }
    REQUIRE(line);
    auto go = call(f.port, "PUT", base + "/files?path=/tmp/go", alpha_key, "go");
    REQUIRE(go.status == 200);
    std::string rest;
    while ((line = c.next_line())) rest += *line + "\n";
    CHECK(rest.find("second") != std::string::npos);

    // Nothing listens on 8001: the service's problem, a 502.
    auto none = call(f.port, "GET", base + "/ports/8001/", alpha_key);
    CHECK(none.status == 502);
    CHECK(call(f.port, "GET", base + "/ports/0/", alpha_key).status == 400);
  }

  SECTION("streamed command output arrives before the command ends") {
    http_connection c(f.port);
    auto h = as(alpha_key);
    h.emplace_back("Accept", "text/event-stream");
    c.send_request(
        "POST", base + "/commands",
        R"({"cmd":"echo first; while [ ! -f /tmp/go2 ]; do usleep 20000; done; echo second","shell":true})",
        h);
    REQUIRE(c.read_head().status == 200);
    auto first = c.next_event();
    REQUIRE(first);
    CHECK(first->event == "stdout");
    CHECK(first->data.find("first") != std::string::npos);
    // While it waits, the stream is kept alive with `: ping` comments.
    REQUIRE(c.next_comment());
    REQUIRE(call(f.port, "PUT", base + "/files?path=/tmp/go2", alpha_key, "").status == 200);
    std::vector<std::string> events;
    std::string out;
    while (auto e = c.next_event()) {
      events.push_back(e->event);
      out += e->data;
    }
    REQUIRE(!events.empty());
    CHECK(events.back() == "exit");
    CHECK(out.find("second") != std::string::npos);
    CHECK(out.find("\"exit_code\":0") != std::string::npos);

    // A machine log followed live gets the same pings.
    http_connection logs(f.port);
    auto lh = as(alpha_key);
    lh.emplace_back("Accept", "text/event-stream");
    logs.send_request("GET", base + "/logs?follow=true", "", lh);
    REQUIRE(logs.read_head().status == 200);
    CHECK(logs.next_comment());
  }

  SECTION("bad requests are clear errors; the per-tenant cap is 429 naming it") {
    auto bad = [&](const std::string& body) {
      return call(f.port, "POST", "/v1/machines", alpha_key, body);
    };
    CHECK(bad("{}").status == 400);
    CHECK(bad(R"({"template":"cgi","colour":"red"})").status == 400);
    CHECK(bad(R"({"template":"cgi","envs":{"A":1}})").status == 400);
    CHECK(bad(R"({"template":"cgi","warm_pool":"p"})").status == 404);  // no such pool
    CHECK(bad(R"({"template":"nope"})").status == 404);
    // A build that is not ready cannot start a machine: 409 saying so.
    auto failing = call(f.port, "POST", "/v1/builds", alpha_key,
                        R"({"name":"broken","builder":{"source":{"type":"image","image":"busybox"},
                            "steps":[{"type":"run","cmd":"exit 3"}]}})");
    REQUIRE(failing.status == 202);
    auto failed_id = json_str(failing.body, "build.id");
    REQUIRE(json_str(wait_terminal(f.port, failed_id, as(alpha_key)), "build.status") == "error");
    auto not_ready = bad(R"({"template":"alpha/broken@)" + failed_id + R"("})");
    CHECK(not_ready.status == 409);
    CHECK(not_ready.body.find("not ready") != std::string::npos);
    CHECK(bad("not json").status == 400);
    auto capped = bad(R"({"template":"cgi"})");
    CHECK(capped.status == 429);
    CHECK(capped.body.find("1") != std::string::npos);
    auto cmd =
        call(f.port, "POST", base + "/commands", alpha_key, R"({"cmd":["sh"],"shell":true})");
    CHECK(cmd.status == 400);
    CHECK(call(f.port, "PUT", base + "/files?path=/tmp/x&mode=999", alpha_key, "x").status == 400);
    CHECK(call(f.port, "GET", base + "/files", alpha_key).status == 400);  // no path
    CHECK(call(f.port, "GET", "/v1/machines?state=sleepy", alpha_key).status == 400);
    CHECK(call(f.port, "GET", "/v1/machines/not-an-id", alpha_key).status == 404);
  }
}

TEST_CASE("nullspaced killed with -9 adopts its running machine at restart", "[machine_http]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  std::vector<std::string> args{"--listen",
                                "127.0.0.1:0",
                                "--data-dir",
                                data,
                                "--isolation",
                                "sandbox",
                                "--machine-network-range",
                                "10.80.0.0/16"};
  if (auto* init = std::getenv("NULLSPACE_INIT")) {
    args.push_back("--machine-init");
    args.push_back(init);
  }
  std::string id;
  {
    daemon_process d(args, dir.sub("err1"));
    auto port = d.port();
    REQUIRE(port != 0);
    http_connection c(port);
    c.send_request("POST", "/v1/builds", cgi_template, {{"Content-Type", "application/json"}});
    auto b = c.read_response();
    REQUIRE(b.status == 202);
    auto done = wait_terminal(port, json_str(b.body, "build.id"));
    REQUIRE(json_str(done, "build.status") == "ready");
    http_connection m(port);
    m.send_request("POST", "/v1/machines", R"({"template":"cgi"})",
                   {{"Content-Type", "application/json"}});
    auto created = m.read_response();
    REQUIRE(created.status == 201);
    id = json_str(created.body, "machine.id");
    m.send_request("PUT", "/v1/machines/" + id + "/files?path=/tmp/before", "kept");
    REQUIRE(m.read_response().status == 200);
    kill(d.pid, SIGKILL);
    CHECK(d.wait_exit() == 128 + SIGKILL);
  }
  daemon_process d(args, dir.sub("err2"));
  auto port = d.port();
  REQUIRE(port != 0);
  http_connection c(port);
  c.send_request("GET", "/v1/machines/" + id);
  auto got = c.read_response();
  REQUIRE(got.status == 200);
  CHECK(json_str(got.body, "machine.state") == "ready");
  c.send_request("POST", "/v1/machines/" + id + "/commands", R"({"cmd":["cat","/tmp/before"]})",
                 {{"Content-Type", "application/json"}});
  auto ran = c.read_response();
  REQUIRE(ran.status == 200);
  CHECK(json_str(ran.body, "stdout") == "kept");
  c.send_request("DELETE", "/v1/machines/" + id);
  auto stopped = c.read_response();
  REQUIRE(stopped.status == 200);
  CHECK(json_str(stopped.body, "machine.state") == "stopped");
  kill(d.pid, SIGTERM);
  CHECK(d.wait_exit() == 0);
  check_no_traces(data, {id});
}

namespace {

// 100 000 output lines, then a marker, then ready: about 11 MB of log framed as SSE.
const char* chatty_template =
    R"({"name":"chatty","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"true"}],
  "start_cmd":"yes x | head -n 100000; echo done-chatty; touch /tmp/ready; exec sleep 100000",
  "ready":{"type":"file","path":"/tmp/ready"},"ready_timeout_ms":60000},
  "cpu_count":1,"memory_mb":256})";

uint64_t gauge(const std::string& metrics, const std::string& name) {
  auto at = metrics.find("\n" + name + " ");
  REQUIRE(at != std::string::npos);
  return std::stoull(metrics.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("a machine's log replay holds a buffer's worth for a reader that does not read",
          "[machine_http]") {
  REQUIRE_MACHINES();
  temp_dir scratch;
  auto eopts = sandbox_options(scratch);
  eopts.machines.network_range = "10.89.0.0/16";
  api::api_options aopts;
  aopts.limits.stream_buffer_bytes = 64 << 10;
  api_fixture f(std::move(aopts), eopts);
  auto submitted = f.post_json("/v1/builds", chatty_template);
  REQUIRE(submitted.status == 202);
  REQUIRE(json_str(f.wait_terminal(json_str(submitted.body, "build.id")), "build.status") ==
          "ready");
  auto created = f.post_json("/v1/machines", R"({"template":"chatty"})");
  REQUIRE(created.status == 201);
  auto id = json_str(created.body, "machine.id");
  stop_at_end guard{*f.eng, id};
  auto logs = "/v1/machines/" + id + "/logs";
  // Output is logged in order: once the marker is in, so is every line before it.
  eventually(
      [&] { return f.get(logs + "?offset=99000").body.find("done-chatty") != std::string::npos; },
      "the start command's output logged");

  // A reader with a small receive buffer asks for the whole log and reads
  // only the head. Unpaced, the server queued all of it but what the socket
  // buffers took (megabytes) before answering anything else.
  http_connection slow(f.port, 4096);
  auto sse = f.auth();
  sse.emplace_back("Accept", "text/event-stream");
  slow.send_request("GET", logs, "", sse);
  REQUIRE(slow.read_head().status == 200);
  auto queued = gauge(f.get("/metrics").body, "nullspace_http_queued_bytes");
  CHECK(queued <= (1u << 20));

  // Once it reads, it gets the whole log, in order, to its end.
  size_t lines = 0;
  bool marker = false, in_order = true;
  long long last = -1;
  while (auto ev = slow.next_event()) {
    auto offset = std::stoll(ev->id);
    in_order = in_order && offset == last + 1;
    last = offset;
    if (ev->data.find(R"("message":"x")") != std::string::npos) ++lines;
    if (ev->data.find("done-chatty") != std::string::npos) marker = true;
  }
  CHECK(slow.body_ended_cleanly());
  CHECK(in_order);
  CHECK(lines == 100000);
  CHECK(marker);
}
