// The encoded-status cache: its own rules, the store generations it trusts,
// and the engine's get_status_json staying equal to a fresh get_status.
#include <catch2/catch.hpp>

#include "actors/engine/status_cache.hpp"
#include "nullspace/engine.hpp"
#include "storage/store.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

cached_status entry(uint64_t generation, std::string body, std::string tenant = "default") {
  return cached_status{generation, std::move(tenant),
                       std::make_shared<const std::string>(std::move(body)),
                       storage::build_status::ready, 0};
}

std::unique_ptr<engine> open_engine(const test::temp_dir& dir, size_t cache_bytes) {
  engine_options o;
  o.data_dir = dir.sub("data");
  o.status_cache_bytes = cache_bytes;
  auto e = engine::open(o);
  REQUIRE(e.ok());
  return std::move(e.value());
}

// A context not uploaded yet, and a build waiting for it.
const test::pending_context& later() {
  static const auto c = test::small_context();
  return c;
}
std::string waiting_request() {
  return R"({"name":"ctx","builder":{"source":{"type":"python_image",
  "version":"3.11"},"steps":[{"type":"copy","src":"app/","dest":"/srv/app","context":")" +
         later().id + R"("}]}})";
}

}  // namespace

TEST_CASE("a cached status is returned only at the generation it was stored at", "[status_cache]") {
  status_cache c(1 << 20);
  auto k = status_cache::key("tb_1", 0, 1000);
  c.put(k, entry(7, "seven"));
  auto hit = c.find(k, 7);
  REQUIRE(hit);
  CHECK(*hit->body == "seven");
  CHECK_FALSE(c.find(k, 8));
  // A stale entry is dropped, not kept around: generations never go back.
  CHECK(c.size() == 0);
  CHECK_FALSE(c.find(k, 7));
  // Offset and limit are part of the key.
  c.put(status_cache::key("tb_1", 0, 1000), entry(1, "a"));
  CHECK_FALSE(c.find(status_cache::key("tb_1", 1, 1000), 1));
  CHECK_FALSE(c.find(status_cache::key("tb_1", 0, 999), 1));
  CHECK_FALSE(c.find(status_cache::key("tb_10", 0, 1000), 1));
}

TEST_CASE("the status cache stays within its byte bound, least recently used out first",
          "[status_cache]") {
  std::string body(1000, 'x');
  status_cache c(3500);  // room for three ~1.1 KB entries
  for (int i = 0; i < 3; ++i)
    c.put(status_cache::key("tb_" + std::to_string(i), 0, 10), entry(1, body));
  REQUIRE(c.size() == 3);
  REQUIRE(c.find(status_cache::key("tb_0", 0, 10), 1));  // tb_0 is now the most recent
  c.put(status_cache::key("tb_3", 0, 10), entry(1, body));
  CHECK(c.size() == 3);
  CHECK(c.bytes() <= 3500);
  CHECK(c.find(status_cache::key("tb_0", 0, 10), 1));
  CHECK_FALSE(c.find(status_cache::key("tb_1", 0, 10), 1));  // the least recently used
  CHECK(c.find(status_cache::key("tb_3", 0, 10), 1));
  // An entry larger than the whole cache is not held.
  c.put(status_cache::key("tb_big", 0, 10), entry(1, std::string(5000, 'y')));
  CHECK_FALSE(c.find(status_cache::key("tb_big", 0, 10), 1));
  CHECK(c.size() == 3);
}

TEST_CASE("a committed write advances the generation of the builds it touched", "[status_cache]") {
  test::temp_dir dir;
  auto s = storage::store::open(dir.sub("db"));
  REQUIRE(s.ok());
  auto& db = *s.value();
  uint64_t log_before = db.generation("tb_log");
  uint64_t rec_before = db.generation("tb_rec");
  storage::write_batch b;
  db.put_log(b, "tb_log", 0, "{}");
  // Staged but not committed: nothing has changed yet.
  CHECK(db.generation("tb_log") == log_before);
  REQUIRE(db.write(b).ok());
  CHECK(db.generation("tb_log") > log_before);

  storage::build_record r;
  r.id = "tb_rec";
  r.tenant = "default";
  storage::write_batch b2;
  db.put_build(b2, r);
  REQUIRE(db.write(b2).ok());
  CHECK(db.generation("tb_rec") > rec_before);
}

TEST_CASE("get_status_json follows a build through its changes and equals get_status",
          "[status_cache]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, 1 << 20);
  auto w = eng->submit(waiting_request());
  REQUIRE(w.ok());
  auto id = w->record.id;

  // The waiting answer is read (and cached) twice: the second is a hit.
  auto first = eng->get_status_json(nullspace::test::as_build_id(id), log_offset(0), 1000);
  REQUIRE(first.ok());
  CHECK(first->status == build_status::waiting);
  auto hits_before = eng->current_stats().status_cache_hits;
  auto again = eng->get_status_json(nullspace::test::as_build_id(id), log_offset(0), 1000);
  REQUIRE(again.ok());
  CHECK(*again->body == *first->body);
  CHECK(eng->current_stats().status_cache_hits == hits_before + 1);

  // The build moves on; the same question must get the new answer.
  REQUIRE(eng->upload_context(later().tar).ok());
  auto done = eng->wait_until_terminal(nullspace::test::as_build_id(id), 120s);
  REQUIRE(done.ok());
  auto after = eng->get_status_json(nullspace::test::as_build_id(id), log_offset(0), 1000);
  REQUIRE(after.ok());
  CHECK(after->status == done->record.status);
  CHECK(storage::is_terminal(after->status));
  auto fresh = eng->get_status(nullspace::test::as_build_id(id), log_offset(0), 1000);
  REQUIRE(fresh.ok());
  CHECK(*after->body == fresh->json());
  CHECK(after->entries == fresh->logs.size());
  CHECK(after->entries > first->entries);

  // Every offset/limit window equals the uncached read.
  for (uint64_t off = 0; off <= fresh->next_offset; ++off)
    for (size_t lim : {size_t{0}, size_t{1}, size_t{2}, size_t{1000}}) {
      auto c =
          eng->get_status_json(nullspace::test::as_build_id(id), nullspace::log_offset(off), lim);
      auto u = eng->get_status(nullspace::test::as_build_id(id), nullspace::log_offset(off), lim);
      REQUIRE(c.ok());
      REQUIRE(u.ok());
      CHECK(*c->body == u->json());
    }
}

TEST_CASE("a cached status is still hidden from other tenants", "[status_cache]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, 1 << 20);
  auto w = eng->submit(waiting_request(), nullspace::test::as_tenant("acme"));
  REQUIRE(w.ok());
  auto id = w->record.id;
  // First read by the other tenant fills the cache; second read hits it.
  for (int i = 0; i < 2; ++i) {
    auto other = eng->get_status_json(nullspace::test::as_build_id(id), log_offset(0), 1000,
                                      nullspace::test::as_tenant("globex"));
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().code == errc::not_found);
    CHECK(other.error().message.find("acme") == std::string::npos);
  }
  CHECK(eng->current_stats().status_cache_hits >= 1);
  CHECK(eng->get_status_json(nullspace::test::as_build_id(id), log_offset(0), 1000,
                             nullspace::test::as_tenant("acme"))
            .ok());
}

TEST_CASE("get_status_json without a cache reads the store every time", "[status_cache]") {
  test::temp_dir dir;
  auto eng = open_engine(dir, 0);
  auto w = eng->submit(waiting_request());
  REQUIRE(w.ok());
  for (int i = 0; i < 3; ++i) {
    auto st = eng->get_status_json(w->id(), nullspace::log_offset(0), 1000);
    REQUIRE(st.ok());
    CHECK(*st->body == eng->get_status(w->id(), nullspace::log_offset(0), 1000)->json());
  }
  auto s = eng->current_stats();
  CHECK(s.status_cache_hits == 0);
  CHECK(s.status_cache_misses == 0);
  CHECK(eng->get_status_json(nullspace::test::as_build_id("tb_nope"), log_offset(0), 10)
            .error()
            .code == errc::not_found);
}
