// The orchestrator restarts crashed children and the engine keeps working.
// Restarts are awaited through the orchestrator's `healthy` request, not a clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <future>

#include "actors/engine/engine_access.hpp"
#include "actors/orchestrator.hpp"
#include "nullspace/engine.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::actors;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<engine> open_engine(const test::temp_dir& dir) {
  engine_options o;
  o.data_dir = dir.sub("data");
  auto e = engine::open(o);
  REQUIRE(e.ok());
  return std::move(e.value());
}

// Kills the registered actor `name` and waits until the orchestrator has
// restarted it (its restart count reaches `restarts`).
void crash_and_await_restart(engine& eng, caf::atom_value name, uint64_t restarts) {
  auto& sys = nullspace::detail::engine_access::actor_system(eng);
  auto victim = caf::actor_cast<caf::actor>(sys.registry().get(name));
  auto orch = caf::actor_cast<orchestrator_actor>(sys.registry().get(orchestrator_name));
  REQUIRE(victim);
  REQUIRE(orch);
  caf::scoped_actor self{sys};
  self->monitor(victim);
  // An abnormal exit, as from an uncaught exception (`kill` cannot be trapped by
  // a supervisor and would take the orchestrator down with it).
  self->send_exit(victim, caf::exit_reason::unhandled_exception);
  self->receive([](const caf::down_msg&) {});
  uint64_t seen = 0;
  self->request(orch, caf::infinite, healthy_atom::value, restarts)
      .receive([&](uint64_t n) { seen = n; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(seen == restarts);
  auto replacement = caf::actor_cast<caf::actor>(sys.registry().get(name));
  REQUIRE(replacement);
  CHECK(replacement != victim);
}

}  // namespace

TEST_CASE("a crashed log hub is restarted and the engine keeps working", "[supervision]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto before = eng->submit(test::run_request({"echo before"}));
  REQUIRE(before.ok());
  REQUIRE(eng->wait_until_terminal(before->id(), 120s).ok());

  crash_and_await_restart(*eng, log_hub_name, 1);

  auto after = eng->submit(test::run_request({"echo after"}));
  REQUIRE(after.ok());
  auto done = eng->wait_until_terminal(after->id(), 120s);
  REQUIRE(done.ok());
  CHECK(done->record.status == build_status::ready);
  auto st = eng->get_status(after->id(), nullspace::log_offset(0), 1000);
  for (size_t i = 0; i < st->logs.size(); ++i) CHECK(st->logs[i].offset == i);
  // The earlier build's log is intact.
  auto old = eng->get_status(before->id(), nullspace::log_offset(0), 1000);
  REQUIRE(old.ok());
  CHECK(old->build.record.status == build_status::ready);
  for (size_t i = 0; i < old->logs.size(); ++i) CHECK(old->logs[i].offset == i);
}

TEST_CASE("a crashed build manager is restarted and recovers running builds", "[supervision]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto b = eng->submit(test::run_request({"echo up; sleep 1000", "echo second"}));
  REQUIRE(b.ok());
  CHECK(test::wait_for_output(*eng, b->record.id, "up") == "up");

  crash_and_await_restart(*eng, build_manager_name, 1);

  // The build was requeued by the new manager, with a durable note, and it can
  // be cancelled through the new manager.
  auto c = eng->cancel(b->id(), "stop");
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  auto st = eng->get_status(b->id(), nullspace::log_offset(0), 1000);
  bool noted = false;
  for (auto& r : st->logs)
    if (r.json.find("the build manager restarted while building") != std::string::npos)
      noted = true;
  CHECK(noted);
}

TEST_CASE("a follower survives a log hub crash: every entry once, then the end", "[supervision]") {
  test::temp_dir dir;
  auto eng = open_engine(dir);
  auto go = dir.sub("go");
  // The step waits for a file the test creates after the restart (a poll inside
  // the build's own workload, not a synchronisation of the test).
  auto b = eng->submit(
      test::run_request({"echo up; while [ ! -f " + go + " ]; do sleep 0.01; done; echo after"}));
  REQUIRE(b.ok());

  auto got = std::make_shared<std::vector<uint64_t>>();
  auto texts = std::make_shared<std::vector<std::string>>();
  auto ended = std::make_shared<std::promise<build_view>>();
  follow_callbacks cb;
  cb.on_entries = [=](const std::vector<raw_entry>& es) {
    for (auto& r : es) {
      got->push_back(r.offset);
      texts->push_back(storage::decode_log_entry(r.json)->message);
    }
  };
  cb.on_end = [=](const build_view& v) { ended->set_value(v); };
  auto h = eng->follow(b->id(), nullspace::log_offset(0), cb);
  REQUIRE(h.ok());
  REQUIRE(test::wait_for_output(*eng, b->record.id, "up") == "up");

  crash_and_await_restart(*eng, log_hub_name, 1);
  test::write_file(go, "");

  auto fut = ended->get_future();
  REQUIRE(fut.wait_for(120s) == std::future_status::ready);
  auto end = fut.get();
  CHECK(end.record.status == build_status::ready);
  REQUIRE(got->size() == end.log_next_offset);  // every stored entry, once
  for (size_t i = 0; i < got->size(); ++i) CHECK((*got)[i] == i);
  CHECK(std::find(texts->begin(), texts->end(), "after") != texts->end());
}
