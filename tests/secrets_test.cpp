// A secret value reaches the step that uses it and nothing else: not the data
// dir (WAL, SST, MANIFEST, work dirs), not a log entry, not a status.
#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include "actors/engine/engine_access.hpp"
#include "nullspace/engine.hpp"
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
