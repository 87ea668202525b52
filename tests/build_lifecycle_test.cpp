// The embedded engine end to end: real RocksDB, real actors, real processes.
#include <catch2/catch.hpp>

#include "actors/engine/engine_access.hpp"
#include "nullspace/engine.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

constexpr auto generous = 120s;  // a bound for a hung test, not a timing assertion

std::unique_ptr<engine> open_engine(const test::temp_dir& dir, uint32_t slots = 2,
                                    size_t max_queued = 1024) {
  engine_options o;
  o.data_dir = dir.sub("data");
  o.executor_slots = slots;
  o.max_queued = max_queued;
  auto e = engine::open(o);
  REQUIRE(e.ok());
  return std::move(e.value());
}

std::vector<log_entry> all_entries(engine& eng, const std::string& id,
                                   const std::string& tenant = "default") {
  auto st = eng.get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 1000000,
                           nullspace::test::as_tenant(tenant));
  REQUIRE(st.ok());
  std::vector<log_entry> out;
  for (auto& r : st->logs) out.push_back(*storage::decode_log_entry(r.json));
  return out;
}

bool has_message(const std::vector<log_entry>& es, std::string_view needle) {
  for (auto& e : es)
    if (e.message.find(needle) != std::string::npos) return true;
  return false;
}

build_view submit_ok(engine& eng, const std::string& json, const std::string& tenant = "default") {
  auto b = eng.submit(json, nullspace::test::as_tenant(tenant));
  if (!b.ok()) FAIL(b.error().message);
  return b.value();
}

build_view wait_done(engine& eng, const std::string& id, const std::string& tenant = "default") {
  auto done = eng.wait_until_terminal(nullspace::test::as_build_id(id), generous,
                                      nullspace::test::as_tenant(tenant));
  REQUIRE(done.ok());
  return done.value();
}

}  // namespace

TEST_CASE("a build runs its steps as real processes and becomes ready", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  std::string json = R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
    "steps":[{"type":"run","cmd":"echo hello; echo oops >&2"},
             {"type":"env","envs":{"GREETING":"hi there"}},
             {"type":"workdir","path":"/srv/app"},
             {"type":"run","cmd":"echo \"$GREETING\"; pwd"}]}})";
  auto b = submit_ok(*eng, json);
  CHECK(b.record.id.rfind("tb_", 0) == 0);
  CHECK((b.record.status == build_status::queued || b.record.status == build_status::building));
  auto done = wait_done(*eng, b.record.id);
  REQUIRE(done.record.status == build_status::ready);
  CHECK_FALSE(done.record.failure);
  CHECK(done.record.started_ms > 0);
  CHECK(done.record.finished_ms >= done.record.started_ms);

  auto es = all_entries(*eng, b.record.id);
  for (size_t i = 0; i < es.size(); ++i) REQUIRE(es[i].offset == i);
  CHECK(done.log_next_offset == es.size());
  bool out = false, err = false, pwd = false;
  std::vector<std::string> statuses;
  for (auto& e : es) {
    if (e.message == "hello" && e.stream == "stdout" && e.step == 0) out = true;
    if (e.message == "oops" && e.stream == "stderr") err = true;
    if (e.message.size() > 9 && e.message.ends_with("/root/srv/app") && e.step == 3) pwd = true;
    if (e.kind == "status") statuses.push_back(e.status);
  }
  CHECK(out);
  CHECK(err);
  CHECK(pwd);
  CHECK(has_message(es, "hi there"));
  CHECK(statuses == std::vector<std::string>{"queued", "building", "ready"});
  CHECK_THAT(done.json(), Catch::Contains("\"canonical_ref\":\"default/demo@" + b.record.id));
}

TEST_CASE("a failing step fails the build with the step and its last lines", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto b = submit_ok(
      *eng, test::run_request({"true", "echo before; echo broken >&2; exit 3", "echo never"}));
  auto done = wait_done(*eng, b.record.id);
  REQUIRE(done.record.status == build_status::error);
  REQUIRE(done.record.failure);
  CHECK(done.record.failure->code == "step_failed");
  CHECK(done.record.failure->step == 1);
  CHECK_THAT(done.record.failure->message, Catch::Contains("exited with status 3"));
  CHECK(done.record.failure->last_lines == std::vector<std::string>{"before", "broken"});
  CHECK_FALSE(has_message(all_entries(*eng, b.record.id), "never"));
}

TEST_CASE("a step this executor cannot run is a clear build error", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto b =
      submit_ok(*eng, R"({"name":"apt","builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"apt_install","packages":["jq"]}]}})");
  auto done = wait_done(*eng, b.record.id);
  REQUIRE(done.record.status == build_status::error);
  CHECK(done.record.failure->code == "unsupported_step");
  CHECK_THAT(done.record.failure->message, Catch::Contains("apt_install"));
  CHECK_THAT(done.record.failure->message, Catch::Contains("not supported by this executor yet"));
}

TEST_CASE("cancel while building kills the whole process tree", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto b = submit_ok(*eng, test::run_request({"sleep 1000 & echo bg $! main $$; wait"}));
  auto line = test::wait_for_output(*eng, b.record.id, "bg ");
  long bg = 0, main_pid = 0;
  REQUIRE(std::sscanf(line.c_str(), "bg %ld main %ld", &bg, &main_pid) == 2);
  CHECK_FALSE(test::process_gone(bg));

  auto c = eng->cancel(b.id(), "user pressed stop");
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  CHECK(c->record.cancel_reason == "user pressed stop");
  // The reply comes only after the tree is reaped: both are gone right now.
  CHECK(test::process_gone(bg));
  CHECK(test::process_gone(main_pid));
  auto es = all_entries(*eng, b.record.id);
  REQUIRE_FALSE(es.empty());
  CHECK(es.back().kind == "cancelled");
  CHECK_THAT(es.back().message, Catch::Contains("user pressed stop"));

  auto again = eng->cancel(b.id(), "twice");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == errc::conflict);
}

TEST_CASE("cancel while queued and while waiting", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, /*slots=*/1);
  auto blocker = submit_ok(*eng, test::run_request({"echo running; sleep 1000"}, "blocker"));
  test::wait_for_output(*eng, blocker.record.id, "running");
  auto queued = submit_ok(*eng, test::run_request({"echo should not run"}, "queued"));
  CHECK(queued.record.status == build_status::queued);
  auto c = eng->cancel(queued.id(), "");
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  CHECK(c->record.started_ms == 0);

  auto waiting =
      submit_ok(*eng, R"({"name":"ctx","builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"copy","src":"app/","dest":"/srv/app","context":"bc_missing"}]}})");
  CHECK(waiting.record.status == build_status::waiting);
  auto cw = eng->cancel(waiting.id(), "no upload");
  REQUIRE(cw.ok());
  CHECK(cw->record.status == build_status::cancelled);

  REQUIRE(eng->cancel(blocker.id(), "done").ok());
  CHECK(eng->get_status(blocker.id())->build.record.status == build_status::cancelled);
}

TEST_CASE("a waiting build is queued once its context is uploaded", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto later = test::small_context();
  auto w =
      submit_ok(*eng, R"({"name":"ctx","builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"copy","src":"app/","dest":"/srv/app","context":")" +
                          later.id + R"("}]}})");
  REQUIRE(w.record.status == build_status::waiting);
  REQUIRE(eng->upload_context(later.tar).ok());
  auto done = wait_done(*eng, w.record.id);
  // It left `waiting`, ran, and failed only because `copy` needs the sandbox engine.
  CHECK(done.record.status == build_status::error);
  CHECK(done.record.failure->code == "unsupported_step");
  std::vector<std::string> statuses;
  for (auto& e : all_entries(*eng, w.record.id))
    if (e.kind == "status") statuses.push_back(e.status);
  CHECK(statuses == std::vector<std::string>{"waiting", "queued", "building", "error"});
}

TEST_CASE("retry makes a new build and demands the secrets again", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto json = R"({"name":"sec","tags":["v1"],"build_backend":"buildkit",
    "builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"run","cmd":"test -s \"$NULLSPACE_SECRETS_DIR/tok\"","secrets":["tok"]}]},
    "build_secrets":[{"id":"tok","value":"first-value","source":"env"}]})";
  auto first = submit_ok(*eng, json);
  REQUIRE(wait_done(*eng, first.record.id).record.status == build_status::ready);

  auto missing = eng->retry(first.id(), {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == errc::failed_precondition);
  CHECK_THAT(missing.error().message, Catch::Contains("tok"));

  auto unknown = eng->retry(first.id(), {std::nullopt, {{"other", "x", "env"}}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == errc::invalid_argument);

  auto bad_tag =
      eng->retry(first.id(), {std::vector<std::string>{"Not A Tag"}, {{"tok", "v", "env"}}});
  REQUIRE_FALSE(bad_tag.ok());
  CHECK(bad_tag.error().code == errc::invalid_argument);
  CHECK(bad_tag.error().field == "tags[0]");

  auto again = eng->retry(first.id(), {std::vector<std::string>{"v2"}, {{"tok", "second", "env"}}});
  REQUIRE(again.ok());
  CHECK(again->record.id != first.record.id);
  CHECK(again->record.retry_of == first.record.id);
  CHECK(again->record.tags == std::vector<std::string>{"v2"});
  CHECK(wait_done(*eng, again->record.id).record.status == build_status::ready);
}

TEST_CASE("tenants see only their own builds", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto b = submit_ok(*eng, test::run_request({"true"}), "acme");
  CHECK(b.record.namespace_name == "acme");
  CHECK(eng->get_status(b.id(), nullspace::log_offset(0), 10, nullspace::test::as_tenant("acme"))
            .ok());
  auto other =
      eng->get_status(b.id(), nullspace::log_offset(0), 10, nullspace::test::as_tenant("globex"));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == errc::not_found);
  CHECK(eng->cancel(b.id(), "", nullspace::test::as_tenant("globex")).error().code ==
        errc::not_found);
  CHECK(eng->retry(b.id(), {}, nullspace::test::as_tenant("globex")).error().code ==
        errc::not_found);
  CHECK_FALSE(
      eng->follow(b.id(), nullspace::log_offset(0), {}, nullspace::test::as_tenant("globex")).ok());
  CHECK_FALSE(
      eng->wait_until_terminal(b.id(), generous, nullspace::test::as_tenant("globex")).ok());
  CHECK(wait_done(*eng, b.record.id, "acme").record.status == build_status::ready);
}

TEST_CASE("a full queue refuses new builds", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, /*slots=*/1, /*max_queued=*/2);
  auto running = submit_ok(*eng, test::run_request({"echo up; sleep 1000"}));
  test::wait_for_output(*eng, running.record.id, "up");
  auto q1 = submit_ok(*eng, test::run_request({"true"}));
  auto q2 = submit_ok(*eng, test::run_request({"true"}));
  auto refused = eng->submit(test::run_request({"true"}));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::resource_exhausted);
  CHECK(http_status(refused.error().code) == 429);
  REQUIRE(eng->cancel(running.id(), "").ok());
  CHECK(wait_done(*eng, q1.record.id).record.status == build_status::ready);
  CHECK(wait_done(*eng, q2.record.id).record.status == build_status::ready);
}

TEST_CASE("tenants take turns for executor slots", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, /*slots=*/1);
  auto order = dir.sub("order");
  auto blocker = submit_ok(*eng, test::run_request({"echo up; sleep 1000"}), "a");
  test::wait_for_output(*eng, blocker.record.id, "up", "a");
  std::vector<std::string> ids;
  std::vector<std::string> tenants;
  for (auto [tenant, tag] : {std::pair{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"b", "b1"}}) {
    auto cmd = "echo " + std::string(tag) + " >> " + order;
    ids.push_back(submit_ok(*eng, test::run_request({cmd}), tenant).record.id);
    tenants.push_back(tenant);
  }
  REQUIRE(eng->cancel(blocker.id(), "", nullspace::test::as_tenant("a")).ok());
  for (size_t i = 0; i < ids.size(); ++i) wait_done(*eng, ids[i], tenants[i]);
  CHECK(test::read_file(order) == "a1\nb1\na2\na3\n");
}

TEST_CASE("bad requests are refused with the field named and nothing stored", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  struct bad_case {
    std::string json;
    errc code;
    std::string field;
  };
  std::string huge(2 << 20, 'x');
  std::vector<bad_case> cases = {
      {R"({"name": "x", "builder": )", errc::invalid_argument, ""},
      {R"([1,2])", errc::invalid_argument, ""},
      {R"({"name": 7, "builder": {"source": {"type": "python_image", "version": "3.11"}}})",
       errc::invalid_argument, "name"},
      {test::run_request({"true"}, "demo", R"("memory_mb": "lots")"), errc::invalid_argument,
       "memory_mb"},
      {test::run_request({"true"}, "demo", R"("memory_mb": 999999)"), errc::invalid_argument,
       "memory_mb"},
      {test::run_request({"true"}, "Bad Name!"), errc::invalid_argument, "name"},
      {"{\"name\": \"" + huge + "\"}", errc::payload_too_large, ""},
  };
  for (auto& c : cases) {
    INFO(c.json.substr(0, 120));
    auto r = eng->submit(c.json);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == c.code);
    CHECK(r.error().field == c.field);
    CHECK_FALSE(r.error().message.empty());
  }
  size_t stored = 0;
  nullspace::detail::engine_access::store(*eng).for_each_build([&](build_record&&) { ++stored; });
  CHECK(stored == 0);
}

TEST_CASE("an engine shuts down with followers that were never stopped", "[lifecycle]") {
  test::temp_dir dir;
  std::unique_ptr<follow_handle> outlives;
  {
    auto eng = open_engine(dir);
    auto b = submit_ok(*eng, test::run_request({"echo up; sleep 1000"}));
    test::wait_for_output(*eng, b.record.id, "up");
    auto h = eng->follow(b.id(), nullspace::log_offset(0), {});
    REQUIRE(h.ok());
    outlives = std::move(h.value());
  }                  // ~engine must return although the follower never saw an end
  outlives->stop();  // and the handle stays safe to use afterwards
  outlives.reset();
}

TEST_CASE("a flood of output is stored completely, in order", "[lifecycle]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  constexpr int lines = 100000;
  auto b = submit_ok(*eng, test::run_request({"seq 1 " + std::to_string(lines), "echo done"}));
  auto done = wait_done(*eng, b.record.id);
  REQUIRE(done.record.status == build_status::ready);
  auto es = all_entries(*eng, b.record.id);
  int next = 1;
  bool done_line = false;
  for (size_t i = 0; i < es.size(); ++i) {
    REQUIRE(es[i].offset == i);
    if (es[i].kind != "log") continue;
    if (es[i].step == 0) REQUIRE(es[i].message == std::to_string(next++));
    if (es[i].step == 1 && es[i].message == "done") done_line = true;
  }
  CHECK(next == lines + 1);
  CHECK(done_line);
  CHECK(es.back().status == "ready");  // held output went out before the end
}
