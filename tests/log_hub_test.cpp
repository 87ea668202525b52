#include <catch2/catch.hpp>

#include <future>
#include <limits>
#include <mutex>
#include <thread>

#include "actors/hub/log_hub.hpp"
#include "storage/common/time_format.hpp"
#include "storage/store.hpp"
#include "storage/unnumbered_entry.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::actors;

namespace {

struct hub_fixture {
  explicit hub_fixture(const std::string& dir) {
    auto s = storage::store::open(dir);
    REQUIRE(s.ok());
    db = std::move(s.value());
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    hub = spawn_log_hub(*sys, db.get());
  }
  ~hub_fixture() {
    caf::anon_send_exit(hub, caf::exit_reason::user_shutdown);
    hub = nullptr;
    sys.reset();  // waits for the hub before the store closes
  }
  uint64_t append(const std::string& id, std::vector<std::string> msgs,
                  std::optional<storage::build_record> rec = std::nullopt) {
    append_request req;
    req.build_id = id;
    for (auto& m : msgs) {
      storage::log_entry e;
      e.message = m;
      req.add(std::move(e));
    }
    req.record = std::move(rec);
    caf::scoped_actor self{*sys};
    uint64_t next = 0;
    self->request(hub, caf::infinite, append_atom::value, std::move(req))
        .receive([&](uint64_t n) { next = n; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
    return next;
  }
  std::unique_ptr<storage::store> db;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  log_hub_actor hub;
};

storage::build_record terminal_record(const std::string& id) {
  storage::build_record r;
  r.id = id;
  r.tenant = "default";
  r.status = storage::build_status::ready;
  return r;
}

// Collects everything a follower receives; `done` resolves on the end batch.
struct collected {
  std::mutex mtx;
  std::vector<uint64_t> offsets;
  std::promise<storage::build_record> done;
};

log_follower::behavior_type collector(log_follower::pointer self, std::shared_ptr<collected> c) {
  return {[=](batch_atom, const follow_batch_ptr& b) {
    {
      std::lock_guard<std::mutex> g(c->mtx);
      for (auto& e : b->entries) c->offsets.push_back(e.offset);
    }
    if (b->end) {
      c->done.set_value(*b->end);
      self->quit();
    }
  }};
}

void check_dense(const storage::store& db, const std::string& id, uint64_t count) {
  auto all = db.read_log(id, 0, count + 10);
  REQUIRE(all.size() == count);
  for (uint64_t i = 0; i < count; ++i) {
    REQUIRE(all[i].offset == i);
    auto e = storage::decode_log_entry(all[i].json);
    REQUIRE(e);
    REQUIRE(e->offset == i);  // the stored entry carries its own offset
  }
}

}  // namespace

TEST_CASE("offsets are dense and continue after close and reopen", "[log_hub]") {
  test::temp_dir dir;
  {
    hub_fixture f(dir.sub("db"));
    for (uint64_t i = 0; i < 10; ++i) CHECK(f.append("tb_a", {"x", "y", "z"}) == 3 * (i + 1));
    CHECK(f.append("tb_b", {"only"}) == 1);
  }
  hub_fixture f(dir.sub("db"));
  CHECK(f.append("tb_a", {"after", "restart"}) == 32);
  check_dense(*f.db, "tb_a", 32);
  check_dense(*f.db, "tb_b", 1);
}

TEST_CASE("concurrent appends from many builds keep per-build order", "[log_hub]") {
  test::temp_dir dir;
  hub_fixture f(dir.sub("db"));
  constexpr int threads = 8, builds_per_thread = 8, appends = 60;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      caf::scoped_actor self{*f.sys};
      // Pipelined: every request is sent before any reply is awaited.
      for (int i = 0; i < appends; ++i)
        for (int b = 0; b < builds_per_thread; ++b) {
          append_request req;
          req.build_id = "tb_" + std::to_string(t) + "_" + std::to_string(b);
          storage::log_entry e;
          e.message = std::to_string(i);
          req.add(e);
          self->send(f.hub, append_atom::value, std::move(req));
        }
      for (int i = 0; i < appends * builds_per_thread; ++i)
        self->receive([](uint64_t) {}, [](caf::error&) {});
    });
  for (auto& t : ts) t.join();
  for (int t = 0; t < threads; ++t)
    for (int b = 0; b < builds_per_thread; ++b) {
      auto id = "tb_" + std::to_string(t) + "_" + std::to_string(b);
      auto all = f.db->read_log(id, 0, appends + 1);
      REQUIRE(all.size() == appends);
      for (uint64_t i = 0; i < appends; ++i) {
        auto e = storage::decode_log_entry(all[i].json);
        REQUIRE(e->offset == i);
        REQUIRE(e->message == std::to_string(i));  // arrival order == offset order
      }
    }
  caf::scoped_actor self{*f.sys};
  self->request(f.hub, caf::infinite, stats_atom::value)
      .receive(
          [&](const hub_stats& s) {
            CHECK(s.entries_appended == threads * builds_per_thread * appends);
          },
          [](caf::error&) { FAIL("no stats"); });
}

TEST_CASE("entries encoded by their senders are stored as encode_log_entry gives them",
          "[log_hub]") {
  storage::log_entry e;
  e.ts_ms = 1790000000123;
  e.level = "warn";
  e.kind = "cache";
  e.step = 3;
  e.message = "quote \" backslash \\ newline \n tab \t \xff and \xc3\xa9";
  e.phase = "step";
  e.stream = "stderr";
  e.cache_status = "miss";
  e.cache_key = "sha256:abc";
  e.cache_reason = "first";
  // The hub writes the offset in: every digit count, from 0 to UINT64_MAX.
  for (uint64_t off : {uint64_t{0}, uint64_t{9}, uint64_t{10}, uint64_t{123456789},
                       std::numeric_limits<uint64_t>::max()}) {
    auto numbered = e;
    numbered.offset = off;
    CHECK(storage::number_entry(storage::encode_unnumbered(e), off) ==
          storage::encode_log_entry(numbered));
  }
  // A sender that leaves the time out gets the time it encoded the entry.
  storage::log_entry untimed;
  auto before = storage::now_ms();
  auto stamped =
      storage::decode_log_entry(storage::number_entry(storage::encode_unnumbered(untimed), 5));
  REQUIRE(stamped);
  CHECK(stamped->offset == 5);
  CHECK(stamped->ts_ms >= before);
  CHECK(stamped->ts_ms <= storage::now_ms());

  // Through the hub: what is stored (and served) is the entry's own encoding.
  test::temp_dir dir;
  hub_fixture f(dir.sub("db"));
  std::vector<std::string> msgs;
  for (int i = 0; i < 12; ++i) msgs.push_back("line " + std::to_string(i) + " \"q\"");
  CHECK(f.append("tb_enc", msgs) == 12);
  auto stored = f.db->read_log("tb_enc", 0, 20);
  REQUIRE(stored.size() == 12);
  for (uint64_t i = 0; i < 12; ++i) {
    auto got = storage::decode_log_entry(stored[i].json);
    REQUIRE(got);
    CHECK(got->offset == i);
    CHECK(got->message == msgs[i]);
    CHECK(stored[i].json == storage::encode_log_entry(*got));
  }
}

TEST_CASE("a follower gets backlog then live entries with no gap or duplicate", "[log_hub]") {
  test::temp_dir dir;
  hub_fixture f(dir.sub("db"));
  for (int i = 0; i < 100; ++i) f.append("tb_f", {"backlog"});

  auto early = std::make_shared<collected>();
  auto future_cursor = std::make_shared<collected>();
  // Live appends race with the subscriptions below.
  std::thread writer([&] {
    for (int i = 0; i < 99; ++i) f.append("tb_f", {"live"});
    f.append("tb_f", {"last"}, terminal_record("tb_f"));
  });
  caf::anon_send(f.hub, follow_atom::value, std::string("tb_f"), uint64_t{37},
                 f.sys->spawn(collector, early));
  caf::anon_send(f.hub, follow_atom::value, std::string("tb_f"), uint64_t{150},
                 f.sys->spawn(collector, future_cursor));
  auto end1 = early->done.get_future().get();
  auto end2 = future_cursor->done.get_future().get();
  writer.join();
  CHECK(end1.status == storage::build_status::ready);
  CHECK(end2.status == storage::build_status::ready);
  std::vector<uint64_t> want;
  for (uint64_t i = 37; i < 200; ++i) want.push_back(i);
  CHECK(early->offsets == want);
  want.assign(want.begin() + (150 - 37), want.end());
  CHECK(future_cursor->offsets == want);

  // After the end, a new follower replays everything and gets the end at once.
  auto late = std::make_shared<collected>();
  caf::anon_send(f.hub, follow_atom::value, std::string("tb_f"), uint64_t{0},
                 f.sys->spawn(collector, late));
  late->done.get_future().get();
  CHECK(late->offsets.size() == 200);
  CHECK(late->offsets.back() == 199);
}

TEST_CASE("a status change and its log entry commit in one batch", "[log_hub]") {
  test::temp_dir dir;
  hub_fixture f(dir.sub("db"));
  auto rec = terminal_record("tb_t");
  rec.status = storage::build_status::building;
  f.append("tb_t", {"started"}, rec);
  auto st = f.db->read_status("tb_t", 0, 10);
  REQUIRE(st);
  CHECK(st->record.status == storage::build_status::building);
  CHECK(st->entries.size() == 1);
}
