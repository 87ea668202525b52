// A secret value reaches the step that uses it and nothing else: not the data
// dir (WAL, SST, MANIFEST, work dirs), not a log entry, not a status; over
// HTTP, neither does an API key or a machine's env value.
#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include "actors/engine/engine_access.hpp"
#include "nullspace/engine.hpp"
#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

const std::string canary = "CANARY-7f3a9-do-not-store";
const std::string registry_canary = "REGCANARY-51ab-password";

std::string secret_request(const std::string& value) {
  return R"({"name":"secretive","build_backend":"buildkit",
    "builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[
        {"type":"run","cmd":"echo \"token is $(cat $NULLSPACE_SECRETS_DIR/tok)\"","secrets":["tok"]},
        {"type":"run","cmd":"cat $NULLSPACE_SECRETS_DIR/tok >&2; echo; exit 4","secrets":["tok"]}]},
    "build_secrets":[{"id":"tok","value":")" +
         value + R"(","source":"env"}]})";
}

void check_nowhere(engine& eng, const std::string& data_dir, const std::string& id) {
  auto st = eng.get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 100000);
  REQUIRE(st.ok());
  CHECK(st->json().find(canary) == std::string::npos);
  CHECK(st->json().find(registry_canary) == std::string::npos);
  // Make RocksDB write SST files too, then scan every file under the data dir.
  REQUIRE(nullspace::detail::engine_access::store(eng).db()->Flush(rocksdb::FlushOptions{}).ok());
  auto hits = test::files_containing(data_dir, canary);
  CHECK(hits.empty());
  CHECK(test::files_containing(data_dir, registry_canary).empty());
}

}  // namespace

TEST_CASE("a canary secret is redacted in logs and found nowhere on disk", "[secrets]") {
  test::temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  auto eng = engine::open(o);
  REQUIRE(eng.ok());
  auto b = (*eng)->submit(secret_request(canary));
  REQUIRE(b.ok());
  auto done = (*eng)->wait_until_terminal(b->id(), 120s);
  REQUIRE(done.ok());
  REQUIRE(done->record.status == build_status::error);  // step 2 exits 4 after printing it

  auto st = (*eng)->get_status(b->id(), nullspace::log_offset(0), 1000);
  bool redacted_line = false;
  for (auto& r : st->logs)
    if (r.json.find("token is ***") != std::string::npos) redacted_line = true;
  CHECK(redacted_line);  // the step really read the secret, and the log shows ***
  REQUIRE(done->record.failure);
  for (auto& l : done->record.failure->last_lines) CHECK(l.find(canary) == std::string::npos);
  CHECK(done->record.secret_ids == std::vector<std::string>{"tok"});
  check_nowhere(**eng, o.data_dir, b->record.id);

  // The retry gets a fresh value; the old one is not needed and never stored.
  auto again = (*eng)->retry(b->id(), {std::nullopt, {{"tok", canary, "env"}}});
  REQUIRE(again.ok());
  REQUIRE((*eng)->wait_until_terminal(again->id(), 120s).ok());
  check_nowhere(**eng, o.data_dir, again->record.id);
  // No secret file outlives its step.
  CHECK(test::files_containing("/dev/shm", canary).empty());
}

TEST_CASE("registry passwords and secrets never reach the stored definition", "[secrets]") {
  test::temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  auto eng = engine::open(o);
  REQUIRE(eng.ok());
  auto b = (*eng)->submit(R"({"name":"private","builder":{"source":{"type":"image",
      "image":"registry.example/ns/img:tag","auth":{"username":"u","password":")" +
                          registry_canary + R"("}},"steps":[{"type":"run","cmd":"true"}]}})");
  REQUIRE(b.ok());
  CHECK(b->json().find(registry_canary) == std::string::npos);
  CHECK_THAT(b->json(), Catch::Contains("\"password\":\"***\""));
  REQUIRE((*eng)->wait_until_terminal(b->id(), 120s).ok());
  check_nowhere(**eng, o.data_dir, b->record.id);
}

TEST_CASE("builds whose secret values a restart lost fail clearly, naming what to supply",
          "[secrets]") {
  test::temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  o.executor_slots = 1;
  std::string blocker, with_secret, with_registry;
  {
    auto eng = engine::open(o);
    REQUIRE(eng.ok());
    auto b = (*eng)->submit(test::run_request({"echo up; sleep 1000"}));
    REQUIRE(b.ok());
    blocker = b->record.id;
    REQUIRE(test::wait_for_output(**eng, blocker, "up") == "up");
    // Both wait behind it, holding their values only in memory.
    auto s = (*eng)->submit(secret_request(canary));
    REQUIRE(s.ok());
    with_secret = s->record.id;
    auto r = (*eng)->submit(R"({"name":"private","builder":{"source":{"type":"image",
        "image":"registry.example/ns/img:tag","auth":{"username":"u","password":")" +
                            registry_canary + R"("}},"steps":[{"type":"run","cmd":"true"}]}})");
    REQUIRE(r.ok());
    with_registry = r->record.id;
    CHECK(s->record.status == build_status::queued);
    CHECK(r->record.status == build_status::queued);
  }  // closed: what only memory held is gone

  auto eng = engine::open(o);
  REQUIRE(eng.ok());
  // The blocker is queued again and runs first: out of the way.
  REQUIRE((*eng)->cancel(test::as_build_id(blocker), "enough").ok());
  auto secret_done = (*eng)->wait_until_terminal(test::as_build_id(with_secret), 60s);
  REQUIRE(secret_done.ok());
  CHECK(secret_done->record.status == build_status::error);
  REQUIRE(secret_done->record.failure);
  CHECK(secret_done->record.failure->code == "secrets_lost");
  CHECK_THAT(secret_done->record.failure->message, Catch::Contains("fresh values for tok"));
  // The registry password was lost the same way: the build fails at once,
  // rather than pulling with the stand-in and failing as bad credentials.
  auto registry_done = (*eng)->wait_until_terminal(test::as_build_id(with_registry), 60s);
  REQUIRE(registry_done.ok());
  CHECK(registry_done->record.status == build_status::error);
  REQUIRE(registry_done->record.failure);
  CHECK(registry_done->record.failure->code == "secrets_lost");
  CHECK_THAT(registry_done->record.failure->message,
             Catch::Contains("pull registry.example/ns/img:tag again") &&
                 Catch::Contains("submit it again with the registry credentials"));
  check_nowhere(**eng, o.data_dir, with_secret);
  check_nowhere(**eng, o.data_dir, with_registry);
}

// Over HTTP, against nullspaced at its most verbose: an API key, a build
// secret and a machine env value are canaries. After a build that reads the
// secret, a machine started with the env (its command sees it), and requests
// that fail with the canaries in them, none of them is in any file under the
// data dir (RocksDB's WAL and SSTs, layers, ext4 disk images with their holes
// skipped, the machine's writable layer while it runs), in the daemon's log,
// in /metrics or in an error text.
TEST_CASE("over HTTP: the API key, build secrets and machine envs are found nowhere", "[secrets]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  const std::string key_canary = "KEYCANARY-a41c9e-0123456789";
  const std::string secret_canary = "SECRETCANARY-7d2b0f";
  const std::string env_canary = "ENVCANARY-93ce61";
  const std::vector<std::string> canaries{key_canary, secret_canary, env_canary};
  test::temp_dir dir;
  test::write_file(dir.sub("keys"), key_canary + " alpha\n");
  auto flags = test::daemon_machine_flags("10.72.192.0/18");
  flags.insert(flags.end(), {"--api-keys", dir.sub("keys"), "--log-level", "trace"});
  test::server_process d(dir, true, flags);
  auto port = d.port();
  REQUIRE(port != 0);
  test::http_headers auth{{"Authorization", "Bearer " + key_canary},
                          {"Content-Type", "application/json"}};
  auto call = [&](const std::string& method, const std::string& target, const std::string& body,
                  const test::http_headers& h) {
    test::http_connection c(port);
    c.send_request(method, target, body, h);
    return c.read_response();
  };
  std::vector<std::string> answers;  // every body the server sent

  auto submitted = call("POST", "/v1/builds",
                        R"J({"name":"canary","tags":["latest"],"build_backend":"buildkit",
      "builder":{"source":{"type":"image","image":"busybox"},
        "steps":[{"type":"run","cmd":"echo token=$(cat $NULLSPACE_SECRETS_DIR/tok)",
                  "secrets":["tok"]}],
        "start_cmd":"exec sleep 100000"},"build_secrets":[{"id":"tok","value":")J" +
                            secret_canary + R"("}]})",
                        auth);
  INFO(submitted.body);
  REQUIRE(submitted.status == 202);
  auto id = test::json_str(submitted.body, "build.id");
  auto built = test::wait_terminal(port, id, auth);
  answers.push_back(built);
  REQUIRE(test::json_str(built, "build.status") == "ready");
  auto build_log = call("GET", "/v1/builds/" + id + "/logs", {}, auth).body;
  CHECK(build_log.find("token=") != std::string::npos);  // the step ran (the value: below)
  answers.push_back(build_log);

  auto created = call("POST", "/v1/machines",
                      R"({"template":"canary","envs":{"TOKEN":")" + env_canary + R"("}})", auth);
  REQUIRE(created.status == 201);
  answers.push_back(created.body);
  auto machine = test::json_str(created.body, "machine.id");
  // The machine has the env (its length, not its value, comes back).
  auto seen = call("POST", "/v1/machines/" + machine + "/commands",
                   R"({"cmd":"echo ${#TOKEN}","shell":true})", auth);
  CHECK(test::json_str(seen.body, "stdout") == std::to_string(env_canary.size()) + "\n");
  answers.push_back(seen.body);

  // Requests that fail while carrying a canary: none echoes it.
  std::vector<test::http_response> refused{
      call("GET", "/v1/builds/" + id, {}, {{"Authorization", "Bearer " + key_canary + "x"}}),
      call("GET", "/v1/builds/" + id, {}, {{"Authorization", "Basic " + key_canary}}),
      call("POST", "/v1/builds/" + id + "/retry",
           R"({"build_secrets":[{"id":7,"value":")" + secret_canary + R"("}]})", auth),
      call("POST", "/v1/builds/" + id + "/retry",
           R"({"build_secrets":[{"id":"tok","value":")" + secret_canary + R"(","colour":1}]})",
           auth),
      call("POST", "/v1/machines",
           R"({"template":"canary","envs":{"TOKEN":")" + env_canary + R"("},"colour":1})", auth),
      call("POST", "/v1/machines",
           R"({"template":"nothing-here","envs":{"TOKEN":")" + env_canary + R"("}})", auth),
      call("POST", "/v1/machines", R"({"template":"canary","envs":{"TOKEN":")" + env_canary + "\"",
           auth),
      call("POST", "/v1/builds",
           R"({"name":"bad","builder":7,"build_secrets":[{"id":"t","value":")" + secret_canary +
               R"("}]})",
           auth),
  };
  for (auto& r : refused) {
    INFO(r.status << " " << r.body);
    CHECK(r.status >= 400);
    CHECK(r.status < 500);
    answers.push_back(r.body);
  }
  auto metrics = call("GET", "/metrics", {}, {});
  REQUIRE(metrics.status == 200);
  answers.push_back(metrics.body);
  answers.push_back(call("GET", "/v1/machines/" + machine, {}, auth).body);

  for (auto& canary : canaries) {
    INFO("canary " << canary);
    // While the machine runs: its writable layer and disk image are there.
    CHECK(test::files_containing(d.data_dir(), canary).empty());
    for (auto& a : answers) CHECK(a.find(canary) == std::string::npos);
  }
  CHECK(call("DELETE", "/v1/machines/" + machine, {}, auth).status == 200);
  REQUIRE(d.stop() == 0);
  auto log = d.log();
  CHECK(log.find("/v1/machines/{id}/commands") != std::string::npos);  // the access log was on
  for (auto& canary : canaries) {
    INFO("canary " << canary);
    CHECK(log.find(canary) == std::string::npos);
    CHECK(test::files_containing(d.data_dir(), canary).empty());
  }
}
