// The nullspaced binary as an operator runs it: flags, env and config file,
// relative paths in any of them, the `listening on` line, API keys (never
// logged), SIGTERM ending streams cleanly with exit 0, and a restart that
// finds every build again.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <filesystem>

#include "api_fixture.hpp"
#include "catch2/catch.hpp"
#include "runtime/sandbox/step_sandbox.hpp"
#include "tests/child_process.hpp"
#include "tests/daemon_process.hpp"
#include "tests/sandbox_support.hpp"

using namespace nullspace::test;

namespace {

const std::string alpha_key = "alpha-secret-key-0123456789";
const std::string beta_key = "beta-secret-key-9876543210";
const std::string wrong_key = "wrong-key-never-valid-000000";

http_headers bearer(const std::string& k) {
  return {{"Authorization", "Bearer " + k}, {"Content-Type", "application/json"}};
}

}  // namespace

TEST_CASE("nullspaced: keys, SIGTERM and restart", "[daemon]") {
  temp_dir dir;
  write_file(dir.sub("keys"), "# tenants\n" + alpha_key + " alpha\n" + beta_key + " beta\n");
  auto data = dir.sub("data");
  std::string id;
  {
    daemon_process d({"--listen", "127.0.0.1:0", "--data-dir", data, "--isolation", "host",
                      "--api-keys", dir.sub("keys"), "--log-level", "debug"},
                     dir.sub("err1"));
    auto port = d.port();
    REQUIRE(port != 0);
    CHECK(http_get(port, "/healthz").status == 200);
    CHECK(http_get(port, "/v1/builds/tb_x").status == 401);
    CHECK(http_get(port, "/v1/builds/tb_x", bearer(wrong_key)).status == 401);

    http_connection c(port);
    // The key file's tenants own their default namespaces before using them.
    c.send_request("POST", "/v1/templates:reserve", R"({"namespace":"alpha","name":"x"})",
                   bearer(beta_key));
    CHECK(c.read_response().status == 403);
    c.send_request("POST", "/v1/builds", run_request({"echo from-alpha"}), bearer(alpha_key));
    auto r = c.read_response();
    REQUIRE(r.status == 202);
    id = json_str(r.body, "build.id");
    CHECK(http_get(port, "/v1/builds/" + id, bearer(beta_key)).status == 404);

    // A follower of a build that never ends on its own.
    auto fifo = dir.sub("never");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    http_connection post(port);
    post.send_request("POST", "/v1/builds", run_request({"cat " + fifo}), bearer(alpha_key));
    auto slow = post.read_response();
    REQUIRE(slow.status == 202);
    http_connection follower(port);
    auto h = bearer(alpha_key);
    h.emplace_back("Accept", "text/event-stream");
    follower.send_request(
        "GET", "/v1/builds/" + json_str(slow.body, "build.id") + "/logs?follow=true", {}, h);
    REQUIRE(follower.read_head().status == 200);
    REQUIRE(follower.next_event());

    REQUIRE(kill(d.pid, SIGTERM) == 0);
    // The stream ends cleanly (final chunk, no `end` event): resume later.
    while (auto ev = follower.next_event()) CHECK(ev->event != "end");
    CHECK(d.wait_exit() == 0);
  }
  auto log = read_file(dir.sub("err1"));
  CHECK(log.find("logger=http msg=\"request\" method=GET route=/v1/builds/{id}") !=
        std::string::npos);
  for (auto& k : {alpha_key, beta_key, wrong_key}) CHECK(log.find(k) == std::string::npos);

  // Restart on the same data dir, configured by env and a config file.
  write_file(dir.sub("conf.toml"),
             "listen = \"127.0.0.1:0\"\nisolation = \"host\"\ndata-dir = \"" + data + "\"\n");
  daemon_process d2({"--config", dir.sub("conf.toml")}, dir.sub("err2"),
                    {"NULLSPACE_API_KEYS_FILE=" + dir.sub("keys")});
  auto port = d2.port();
  REQUIRE(port != 0);
  auto r = http_get(port, "/v1/builds/" + id + "?offset=0", bearer(alpha_key));
  REQUIRE(r.status == 200);
  CHECK(r.body.find("from-alpha") != std::string::npos);
  CHECK(http_get(port, "/v1/builds/" + id).status == 401);  // keys still required
  REQUIRE(kill(d2.pid, SIGTERM) == 0);
  CHECK(d2.wait_exit() == 0);
}

TEST_CASE("nullspaced sandboxes builds by default when it can", "[daemon]") {
  temp_dir dir;
  {
    daemon_process d({"--listen", "127.0.0.1:0", "--data-dir", dir.sub("data")}, dir.sub("err"));
    REQUIRE(d.port() != 0);
  }
  auto log = read_file(dir.sub("err"));
  bool can_sandbox = ::geteuid() == 0 && nullspace::runtime::find_oci_runtime("", "").ok();
  if (can_sandbox) {
    CHECK(log.find("isolation=sandbox") != std::string::npos);
  } else {
    CHECK(log.find("isolation=host") != std::string::npos);
    CHECK(log.find("steps run as plain host processes") != std::string::npos);
  }
}

TEST_CASE("nullspaced refuses a non-loopback address without API keys", "[daemon]") {
  temp_dir dir;
  daemon_process d({"--listen", "0.0.0.0:0", "--data-dir", dir.sub("data")}, dir.sub("err"));
  CHECK(d.port() == 0);
  CHECK(d.wait_exit() == 2);
  CHECK(read_file(dir.sub("err")).find("loopback") != std::string::npos);
}

TEST_CASE("nullspaced: relative path settings are made absolute at start-up", "[daemon]") {
  // The first-run bug: `--data-dir ./data` reached the OCI runtime relative,
  // which read it against the bundle dir, and every sandboxed step failed.
  REQUIRE_SANDBOX();
  temp_dir dir;  // the working dir nullspaced starts in
  write_file(dir.sub("keys"), alpha_key + " alpha\n");
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  const std::string busybox =
      R"({"name": "rel", "builder": {"source": {"type": "image", "image": "busybox"},
          "steps": [{"type": "run", "cmd": "echo made-in-the-sandbox > /hi && cat /hi"}]}})";

  struct way {
    std::string name, data;
    std::vector<std::string> args, env;
  };
  write_file(dir.sub("conf.toml"),
             "listen = \"127.0.0.1:0\"\ndata-dir = \"./data-conf\"\nimages-dir = \"images\"\n"
             "api-keys = \"keys\"\n");
  std::vector<way> ways{
      {"flags",
       "data-flags",
       {"--listen", "127.0.0.1:0", "--data-dir", "./data-flags", "--images-dir", "images",
        "--api-keys", "./keys"},
       {}},
      {"environment",
       "data-env",
       {"--listen", "127.0.0.1:0"},
       {"NULLSPACE_DATA_DIR=data-env", "NULLSPACE_IMAGES_DIR=./images",
        "NULLSPACE_API_KEYS_FILE=keys"}},
      {"config file", "data-conf", {"--config", "conf.toml"}, {}},
  };
  for (auto& w : ways) {
    DYNAMIC_SECTION(w.name) {
      std::vector<std::string> argv{bin, "--isolation", "sandbox"};
      argv.insert(argv.end(), w.args.begin(), w.args.end());
      child_process d(argv, {.cwd = dir.path(),
                             .env = w.env,
                             .unset = {"NULLSPACE_API_KEYS", "NULLSPACE_IMAGES_DIR",
                                       "NULLSPACE_DATA_DIR", "NULLSPACE_API_KEYS_FILE"},
                             .stderr_file = dir.sub(w.name + ".err")});
      auto port = listening_port(d);
      REQUIRE(port != 0);
      http_connection c(port);
      c.send_request("POST", "/v1/builds", busybox, bearer(alpha_key));  // the key file was read
      auto r = c.read_response();
      REQUIRE(r.status == 202);
      auto done = wait_terminal(port, json_str(r.body, "build.id"), bearer(alpha_key));
      INFO(done);
      CHECK(json_str(done, "build.status") == "ready");
      CHECK(done.find("made-in-the-sandbox") != std::string::npos);
      CHECK(d.terminate() == 0);

      // Everything landed below the directory it started in, named absolutely.
      namespace fs = std::filesystem;
      CHECK(fs::is_directory(dir.sub(w.data) + "/db"));
      CHECK(fs::is_directory(dir.sub("images") + "/layers"));
      CHECK_FALSE(fs::exists(dir.sub(w.data) + "/images"));
      auto here = fs::canonical(dir.path()).string();  // what its getcwd() saw
      auto log = read_file(dir.sub(w.name + ".err"));
      CHECK(log.find("data_dir=" + here + "/" + w.data + " ") != std::string::npos);
      CHECK(log.find("images_dir=" + here + "/images ") != std::string::npos);
    }
  }
}
