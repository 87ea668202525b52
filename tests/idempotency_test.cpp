// Idempotency-Key on POST /v1/builds and POST /v1/machines (API.md,
// "Idempotency"): a retry with the same key and body gets the same object,
// another body under the key is 409, keys are per tenant, expire with
// retention, and survive kill -9 together with the object they made.
#include <signal.h>

#include "actors/engine/idempotency_gate.hpp"
#include "api_fixture.hpp"
#include "catch2/catch.hpp"
#include "machine_support.hpp"
#include "sandbox_support.hpp"
#include "tests/daemon_process.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

const std::string alpha_key = "alpha-idem-key-0123456789";
const std::string beta_key = "beta-idem-key-9876543210";

http_response post(uint16_t port, const std::string& target, const std::string& body,
                   const std::string& api_key, const std::string& idem_key) {
  http_headers h{{"Content-Type", "application/json"}};
  if (!api_key.empty()) h.emplace_back("Authorization", "Bearer " + api_key);
  if (!idem_key.empty()) h.emplace_back("Idempotency-Key", idem_key);
  http_connection c(port);
  c.send_request("POST", target, body, h);
  return c.read_response();
}

// How many builds the template's history lists.
size_t builds_of(uint16_t port, const std::string& tmpl, const std::string& api_key = {}) {
  http_headers h;
  if (!api_key.empty()) h.emplace_back("Authorization", "Bearer " + api_key);
  auto r = http_get(port, "/v1/templates/" + tmpl + "/builds?limit=100", h);
  REQUIRE(r.status == 200);
  size_t n = 0;
  for (size_t p = 0; (p = r.body.find("\"id\":\"tb_", p)) != std::string::npos; ++p) ++n;
  return n;
}

}  // namespace

TEST_CASE("Idempotency-Key on POST /v1/builds: same answer, 409 for another body, per tenant",
          "[http]") {
  std::atomic<int64_t> now{1'700'000'000'000};
  engine_options eopts;
  eopts.clock = [&now] { return now.load(); };
  eopts.tenants = {"alpha", "beta"};
  api::api_options aopts;
  auto keys = api::key_table::parse(alpha_key + " alpha\n" + beta_key + " beta\n", "test");
  REQUIRE(keys.ok());
  aopts.keys = std::move(keys.value());
  api_fixture f(std::move(aopts), eopts);
  auto body = run_request({"echo one"}, "idem");
  auto first = post(f.port, "/v1/builds", body, alpha_key, "order-17");
  REQUIRE(first.status == 202);
  auto id = json_str(first.body, "build.id");
  REQUIRE(!id.empty());

  // The same request again: the same build, none made.
  auto again = post(f.port, "/v1/builds", body, alpha_key, "order-17");
  CHECK(again.status == 202);
  CHECK(json_str(again.body, "build.id") == id);
  CHECK(builds_of(f.port, "idem", alpha_key) == 1);

  // Another request under the key: 409, naming the key's build; nothing made.
  auto other = post(f.port, "/v1/builds", run_request({"echo two"}, "idem"), alpha_key, "order-17");
  CHECK(other.status == 409);
  CHECK(json_str(other.body, "error.code") == "idempotency_key_reused");
  CHECK(json_str(other.body, "error.field") == "Idempotency-Key");
  CHECK(other.body.find(id) != std::string::npos);
  CHECK(builds_of(f.port, "idem", alpha_key) == 1);

  // Keys are per tenant: beta's order-17 is its own.
  auto beta = post(f.port, "/v1/builds", body, beta_key, "order-17");
  REQUIRE(beta.status == 202);
  CHECK(json_str(beta.body, "build.id") != id);

  // Without a key every submit is a new build.
  REQUIRE(post(f.port, "/v1/builds", body, alpha_key, "").status == 202);
  CHECK(builds_of(f.port, "idem", alpha_key) == 2);

  // A malformed key is refused before anything happens.
  for (std::string bad :
       {std::string("has space"), std::string(256, 'k'), std::string("tab\tkey")}) {
    auto r = post(f.port, "/v1/builds", body, alpha_key, bad);
    CHECK(r.status == 400);
    CHECK(json_str(r.body, "error.field") == "Idempotency-Key");
  }
  CHECK(builds_of(f.port, "idem", alpha_key) == 2);

  // An invalid body with a key stores no key: the corrected request goes through.
  CHECK(post(f.port, "/v1/builds", R"({"name":"idem"})", alpha_key, "fix-me").status == 400);
  auto fixed = post(f.port, "/v1/builds", body, alpha_key, "fix-me");
  CHECK(fixed.status == 202);
  CHECK(json_str(fixed.body, "build.id") != id);

  // The replay shows the build as it is now (terminal), the same id.
  wait_terminal(f.port, id, {{"Authorization", "Bearer " + alpha_key}});
  auto later = post(f.port, "/v1/builds", body, alpha_key, "order-17");
  CHECK(json_str(later.body, "build.id") == id);
  CHECK(json_str(later.body, "build.status") == "ready");

  // Retention: after retention.idempotency_keys (24 h) the sweep drops the
  // key; the key then makes a new build.
  now += int64_t{24} * 3600 * 1000 + 1;
  auto swept = f.eng->sweep_retention();
  REQUIRE(swept.ok());
  CHECK(swept->idempotency_keys_expired >= 3);
  auto reused =
      post(f.port, "/v1/builds", run_request({"echo two"}, "idem"), alpha_key, "order-17");
  CHECK(reused.status == 202);
  CHECK(json_str(reused.body, "build.id") != id);
}

TEST_CASE("idempotency gate: a key in flight is 409 in_use; a stored key replays", "[http]") {
  temp_dir dir;
  auto db = storage::store::open(dir.sub("db"));
  REQUIRE(db.ok());
  actors::idempotency_gate gate;
  storage::idempotency_record row{"build", "alpha", "k1", "hash-a", "", 2000};
  auto d = gate.begin(**db, row, 1000);
  CHECK(d.proceed());
  auto busy = gate.begin(**db, row, 1000);
  REQUIRE(busy.refused);
  CHECK(busy.refused->reason == "idempotency_key_in_use");
  CHECK(busy.refused->code == errc::conflict);
  // The create commits the row with its object, then ends.
  row.object_id = "tb_x";
  storage::write_batch wb;
  (*db)->put_idempotency(wb, row);
  REQUIRE((*db)->write(wb).ok());
  gate.end(row);
  auto replay = gate.begin(**db, row, 1000);
  CHECK(replay.replay_id == "tb_x");
  auto other = row;
  other.request_hash = "hash-b";
  auto reused = gate.begin(**db, other, 1000);
  REQUIRE(reused.refused);
  CHECK(reused.refused->reason == "idempotency_key_reused");
  // Expired (not swept yet): a new create may take the key; the sweep then
  // keeps the newer row.
  auto expired = gate.begin(**db, other, 2000);
  CHECK(expired.proceed());
  other.object_id = "tb_y";
  other.expires_ms = 5000;
  storage::write_batch wb2;
  (*db)->put_idempotency(wb2, other);
  REQUIRE((*db)->write(wb2).ok());
  gate.end(other);
  CHECK((*db)->delete_expired_idempotency(3000, 100) == 1);
  auto kept = (*db)->get_idempotency("build", "alpha", "k1");
  REQUIRE(kept);
  CHECK(kept->object_id == "tb_y");
  CHECK((*db)->delete_expired_idempotency(5000, 100) == 1);
  CHECK(!(*db)->get_idempotency("build", "alpha", "k1"));
}

TEST_CASE("Idempotency-Key survives kill -9: the resubmit gets the same build, one build",
          "[daemon]") {
  temp_dir dir;
  auto data = dir.sub("data");
  std::vector<std::string> args{"--listen", "127.0.0.1:0", "--data-dir",
                                data,       "--isolation", "host"};
  // A build that outlives the kill: its recovery after the restart is part of the check.
  auto body = run_request({"seq 1 2000", "sleep 1"}, "crashy");
  std::string id;
  {
    daemon_process d(args, dir.sub("err1"));
    auto port = d.port();
    REQUIRE(port != 0);
    auto r = post(port, "/v1/builds", body, "", "retry-me");
    REQUIRE(r.status == 202);
    id = json_str(r.body, "build.id");
    // Acknowledged: now the daemon dies without warning.
    REQUIRE(kill(d.pid, SIGKILL) == 0);
    CHECK(d.wait_exit() == 128 + SIGKILL);
  }
  daemon_process d(args, dir.sub("err2"));
  auto port = d.port();
  REQUIRE(port != 0);
  // The client never saw... or did see the answer: either way its retry is the same build.
  auto again = post(port, "/v1/builds", body, "", "retry-me");
  REQUIRE(again.status == 202);
  CHECK(json_str(again.body, "build.id") == id);
  CHECK(builds_of(port, "crashy") == 1);
  auto done = wait_terminal(port, id);
  CHECK(json_str(done, "build.status") == "ready");
  kill(d.pid, SIGTERM);
  CHECK(d.wait_exit() == 0);
}

TEST_CASE("Idempotency-Key on POST /v1/machines: the same machine, 409 for another body",
          "[machine_http]") {
  REQUIRE_MACHINES();
  temp_dir scratch;
  auto eopts = sandbox_options(scratch);
  eopts.machines.network_range = "10.71.0.0/16";
  api_fixture f({}, eopts);
  const char* tmpl =
      R"({"name":"idle","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
      "steps":[{"type":"run","cmd":"true"}],"start_cmd":"exec sleep 3600"},
      "cpu_count":1,"memory_mb":128})";
  auto b = post(f.port, "/v1/builds", tmpl, "", "");
  REQUIRE(b.status == 202);
  REQUIRE(json_str(wait_terminal(f.port, json_str(b.body, "build.id")), "build.status") == "ready");
  std::string body = R"({"template":"idle","envs":{"TOKEN":"s3cr3t-value-1"}})";
  auto m1 = post(f.port, "/v1/machines", body, "", "vm-1");
  REQUIRE(m1.status == 201);
  auto id = json_str(m1.body, "machine.id");
  struct stop_at_end {
    engine& eng;
    std::string id;
    ~stop_at_end() { (void)eng.stop_machine(*parse_machine_id(id), default_tenant()); }
  } guard{*f.eng, id};
  all_test_machine_ids().insert(id);
  auto m2 = post(f.port, "/v1/machines", body, "", "vm-1");
  CHECK(m2.status == 201);
  CHECK(json_str(m2.body, "machine.id") == id);
  auto other =
      post(f.port, "/v1/machines", R"({"template":"idle","labels":{"a":"b"}})", "", "vm-1");
  CHECK(other.status == 409);
  CHECK(json_str(other.body, "error.code") == "idempotency_key_reused");
  auto list = http_get(f.port, "/v1/machines");
  size_t n = 0;
  for (size_t p = 0; (p = list.body.find("\"id\":\"m_", p)) != std::string::npos; ++p) ++n;
  CHECK(n == 1);
  // The env value is a credential: compared by name only, and never stored.
  CHECK(files_containing(f.dir.sub("data") + "/db", "s3cr3t-value-1").empty());

  // Through a warm pool (the tenant has one, so a template-only create is a
  // checkout): the key is written with the checkout, and the pool path's own
  // additions to the request (its pool) do not make the retry "another
  // request" (a bug the crash harness found).
  auto pool =
      post(f.port, "/v1/warm-pools", R"({"template":"idle","name":"p","min_ready":1})", "", "");
  REQUIRE(pool.status == 201);
  auto pool_id = json_str(pool.body, "warm_pool.id");
  REQUIRE(http_get(f.port, "/v1/warm-pools/p/ready?timeout_ms=60000").status == 200);
  std::string pooled = R"({"template":"idle","labels":{"via":"pool"}})";
  auto h1 = post(f.port, "/v1/machines", pooled, "", "vm-2");
  REQUIRE(h1.status == 201);
  CHECK(json_str(h1.body, "machine.warm_pool_checkout.result") == "hit");
  auto hid = json_str(h1.body, "machine.id");
  all_test_machine_ids().insert(hid);
  stop_at_end hguard{*f.eng, hid};
  auto h2 = post(f.port, "/v1/machines", pooled, "", "vm-2");
  CHECK(h2.status == 201);
  CHECK(json_str(h2.body, "machine.id") == hid);
  http_connection del(f.port);
  del.send_request("DELETE", "/v1/warm-pools/" + pool_id);
  CHECK(del.read_response().status == 200);
}
