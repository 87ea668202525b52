#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <set>

#include "storage/store.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::storage;

namespace {

build_record sample_record(std::string id) {
  build_record r;
  r.id = std::move(id);
  r.tenant = "acme";
  r.namespace_name = "acme";
  r.name = "web";
  r.tags = {"stable", "v1"};
  r.status = build_status::building;
  r.created_ms = 1700000000123;
  r.started_ms = 1700000000456;
  r.backend = "native";
  r.options = {4, 2048, 4096, false, true};
  r.definition_json = R"({"name":"web"})";
  r.secret_ids = {"npm_token"};
  r.failure = build_failure{"step_failed", "step 1 exited with status 2", 1, {"boom"}};
  r.cache = {3, 1, 2, 4096};
  return r;
}

// Opens the store's database raw (as an older version would have written it)
// for `fn`, then closes it. cf: default, builds, logs, meta, templates, pools, cache,
// machines.
void with_raw_db(
    const std::string& path,
    const std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>& fn) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (auto n : {"default", "builds", "logs", "meta", "templates", "pools", "cache", "machines"})
    descs.emplace_back(n, rocksdb::ColumnFamilyOptions{});
  std::vector<rocksdb::ColumnFamilyHandle*> cf;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions{}, path, descs, &cf, &raw).ok());
  fn(raw, cf);
  for (auto* h : cf) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

}  // namespace

TEST_CASE("build records round-trip through the store", "[store]") {
  test::temp_dir dir;
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  auto rec = sample_record("tb_1");
  storage::write_batch b;
  (*s)->put_build(b, rec);
  REQUIRE((*s)->write(b).ok());
  auto got = (*s)->get_build("tb_1");
  REQUIRE(got);
  CHECK(encode_build_record(*got) == encode_build_record(rec));
  CHECK_FALSE((*s)->get_build("tb_2"));
}

namespace {

// Two logs whose ids share a prefix ("tb_1" and "tb_10", so a prefix of one
// id must not leak into the other's log): 300 entries {"n":i}, and 5 of {}.
void put_two_logs(store& db) {
  storage::write_batch b;
  for (uint64_t i = 0; i < 300; ++i) db.put_log(b, "tb_1", i, "{\"n\":" + std::to_string(i) + "}");
  for (uint64_t i = 0; i < 5; ++i) db.put_log(b, "tb_10", i, "{}");
  REQUIRE(db.write(b).ok());
}

}  // namespace

TEST_CASE("log reads are bounded by build, offset and limit", "[store]") {
  test::temp_dir dir;
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  put_two_logs(**s);
  CHECK((*s)->next_offset("tb_1") == 300);
  CHECK((*s)->next_offset("tb_10") == 5);
  CHECK((*s)->next_offset("tb_2") == 0);
  auto page = (*s)->read_log("tb_1", 256, 10);
  REQUIRE(page.size() == 10);
  CHECK(page.front().offset == 256);  // 256 = 0x100: checks big-endian key order
  CHECK(page.back().offset == 265);
  CHECK(page.front().json == "{\"n\":256}");
  CHECK((*s)->read_log("tb_1", 295, 100).size() == 5);
  CHECK((*s)->read_log("tb_10", 0, 100).size() == 5);
}

TEST_CASE("a log scan hands entries in [from, upto) and stops where the taker does", "[store]") {
  test::temp_dir dir;
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  put_two_logs(**s);
  std::vector<std::pair<uint64_t, std::string>> seen;
  auto all = [&](uint64_t off, std::string_view json) {
    seen.emplace_back(off, std::string(json));
    return true;
  };
  // Up to a bound: 250..259, big-endian order across 0xff/0x100.
  CHECK((*s)->scan_log("tb_1", 250, 260, all) == 260);
  REQUIRE(seen.size() == 10);
  CHECK(seen.front() == std::pair<uint64_t, std::string>{250, "{\"n\":250}"});
  CHECK(seen.back().first == 259);
  // To the end of the log, and not into tb_10's.
  seen.clear();
  CHECK((*s)->scan_log("tb_1", 295, UINT64_MAX, all) == 300);
  CHECK(seen.size() == 5);
  seen.clear();
  CHECK((*s)->scan_log("tb_10", 0, UINT64_MAX, all) == 5);
  CHECK(seen.size() == 5);
  // The taker refuses the fourth entry: three taken, the next offset is the fourth.
  seen.clear();
  auto three = [&](uint64_t off, std::string_view json) {
    if (seen.size() == 3) return false;
    return all(off, json);
  };
  CHECK((*s)->scan_log("tb_1", 10, UINT64_MAX, three) == 13);
  CHECK(seen.size() == 3);
  // Nothing there: the answer is `from`.
  CHECK((*s)->scan_log("tb_2", 7, UINT64_MAX, all) == 7);
  CHECK((*s)->scan_log("tb_1", 40, 40, all) == 40);
}

TEST_CASE("data survives close and reopen", "[store]") {
  test::temp_dir dir;
  {
    auto s = store::open(dir.sub("db"));
    REQUIRE(s.ok());
    storage::write_batch b;
    (*s)->put_build(b, sample_record("tb_x"));
    (*s)->put_log(b, "tb_x", 0, "{}");
    REQUIRE((*s)->write(b).ok());
  }
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  CHECK((*s)->get_build("tb_x"));
  CHECK((*s)->next_offset("tb_x") == 1);
}

TEST_CASE("a store with an unknown schema version is refused clearly", "[store]") {
  test::temp_dir dir;
  REQUIRE(store::open(dir.sub("db")).ok());  // creates it at the current version
  // Reopen raw and bump the version.
  with_raw_db(dir.sub("db"),
              [&](rocksdb::DB* raw, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
                REQUIRE(raw->Put(rocksdb::WriteOptions{}, cf[3], "schema_version", "99").ok());
              });
  auto s = store::open(dir.sub("db"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == errc::failed_precondition);
  CHECK_THAT(s.error().message, Catch::Contains("schema version 99"));
}

TEST_CASE("status reads see the record and the log from one snapshot", "[store]") {
  test::temp_dir dir;
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  storage::write_batch b;
  (*s)->put_build(b, sample_record("tb_s"));
  for (uint64_t i = 0; i < 4; ++i) (*s)->put_log(b, "tb_s", i, "{}");
  REQUIRE((*s)->write(b).ok());
  auto st = (*s)->read_status("tb_s", 1, 2);
  REQUIRE(st);
  CHECK(st->entries.size() == 2);
  CHECK(st->entries[0].offset == 1);
  CHECK(st->log_next_offset == 4);
  CHECK_FALSE((*s)->read_status("tb_none", 0, 10));
}

TEST_CASE("promotability is derived from status and artifact availability", "[store]") {
  auto rec = sample_record("tb_p");
  auto promo = [&] {
    auto j = build_api_json(rec, 0);
    auto at = j.find("\"promotability\":\"");
    REQUIRE(at != std::string::npos);
    at += 17;
    return j.substr(at, j.find('"', at) - at);
  };
  CHECK(promo() == "not_ready");  // building
  rec.status = build_status::ready;
  CHECK(promo() == "promotable");  // the host executor's: ready without an artifact
  rec.artifact = storage::artifact_ref{};
  CHECK(promo() == "not_ready");  // an artifact not available
  rec.artifact_availability = "available";
  CHECK(promo() == "promotable");
  rec.artifact_availability = "expired";
  CHECK(promo() == "expired");
  rec.status = build_status::error;
  CHECK(promo() == "not_ready");
}

TEST_CASE("the layer cache is indexed by layer and by the build that produced it", "[store]") {
  test::temp_dir dir;
  {
    auto s = store::open(dir.sub("db"));
    REQUIRE(s.ok());
    auto& db = **s;
    REQUIRE(db.put_cache("k1", {"L1", 10, 1}, "tb_a").ok());
    REQUIRE(db.put_cache("k2", {"L1", 10, 1}, "tb_a").ok());
    REQUIRE(db.put_cache("k3", {"L2", 10, 1}, "tb_b").ok());
    REQUIRE(db.put_cache("k2", {"L3", 10, 2}, "tb_c").ok());  // k2 rewritten: L1's row is stale
    REQUIRE(db.put_cache("k4", {"", 0, 1}, "tb_c").ok());     // a metadata step: no layer
    CHECK(db.layers_produced_by("tb_a") == std::vector<std::string>{"L1"});
    CHECK(db.layers_produced_by("tb_c") == std::vector<std::string>{"L3"});

    write_batch b;
    db.delete_cache_of_layer(b, "L1");
    db.forget_produced_layer(b, "tb_a", "L1");
    REQUIRE(db.write(b).ok());
    CHECK_FALSE(db.get_cache("k1"));
    REQUIRE(db.get_cache("k2"));
    CHECK(db.get_cache("k2")->layer == "L3");  // the stale row did not take the new entry
    CHECK(db.get_cache("k3"));
    CHECK(db.get_cache("k4"));
    CHECK(db.layers_produced_by("tb_a").empty());
  }
  // A store from before the index: its entries are indexed when it is opened.
  with_raw_db(dir.sub("db"),
              [&](rocksdb::DB* raw, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
                REQUIRE(raw->Put(rocksdb::WriteOptions{}, cf[6], "c/k9", "L9\t5\t1").ok());
                REQUIRE(raw->Delete(rocksdb::WriteOptions{}, cf[3], "cache_layer_index").ok());
              });
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  REQUIRE((*s)->get_cache("k9"));
  write_batch b;
  (*s)->delete_cache_of_layer(b, "L9");
  REQUIRE((*s)->write(b).ok());
  CHECK_FALSE((*s)->get_cache("k9"));
  CHECK((*s)->get_cache("k3"));
}

namespace {

// "ns/name" of every template of a scope, in order, from `after` if given.
std::vector<std::string> templates_in(
    const store& db, store::template_scope scope,
    std::optional<std::pair<std::string, std::string>> after = std::nullopt) {
  std::vector<std::string> out;
  db.for_each_template(scope, after, [&](template_record&& t) {
    out.push_back(t.namespace_name + "/" + t.name);
    return true;
  });
  return out;
}

template_record tmpl(std::string ns, std::string name, std::string tenant,
                     std::string visibility = "private") {
  template_record t;
  t.namespace_name = std::move(ns);
  t.name = std::move(name);
  t.tenant = std::move(tenant);
  t.visibility = std::move(visibility);
  return t;
}

}  // namespace

TEST_CASE("templates are walked by namespace, by owner and by visibility", "[store]") {
  using kind = store::template_scope::kind;
  test::temp_dir dir;
  {
    auto s = store::open(dir.sub("db"));
    REQUIRE(s.ok());
    auto& db = **s;
    write_batch b;
    db.put_template(b, tmpl("acme", "web", "acme", "public"));
    db.put_template(b, tmpl("acme", "api", "acme"));
    db.put_template(b, tmpl("team", "svc", "acme"));
    db.put_template(b, tmpl("globex", "base", "globex", "public"));
    db.put_template(b, tmpl("globex", "secret", "globex"));
    REQUIRE(db.write(b).ok());
    CHECK(templates_in(db, {kind::owned_by, "acme"}) ==
          std::vector<std::string>{"acme/api", "acme/web", "team/svc"});
    CHECK(templates_in(db, {kind::public_ones, {}}) ==
          std::vector<std::string>{"acme/web", "globex/base"});
    CHECK(templates_in(db, {kind::in_namespace, "globex"}) ==
          std::vector<std::string>{"globex/base", "globex/secret"});
    CHECK(templates_in(db, {kind::owned_by, "acme"}, std::pair{"acme", "web"}) ==
          std::vector<std::string>{"team/svc"});

    // Rename, a visibility change and a delete keep the indexes true.
    write_batch c;
    db.delete_template(c, tmpl("acme", "web", "acme", "public"));
    db.put_template(c, tmpl("acme", "www", "acme", "public"));
    db.put_template(c, tmpl("globex", "base", "globex", "private"));
    db.delete_template(c, tmpl("acme", "api", "acme"));
    REQUIRE(db.write(c).ok());
    CHECK(templates_in(db, {kind::owned_by, "acme"}) ==
          std::vector<std::string>{"acme/www", "team/svc"});
    CHECK(templates_in(db, {kind::public_ones, {}}) == std::vector<std::string>{"acme/www"});
    CHECK(templates_in(db, {kind::owned_by, "globex"}).size() == 2);
  }
  // A store from before the indexes: they are built when it is opened.
  with_raw_db(dir.sub("db"),
              [&](rocksdb::DB* raw, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
                REQUIRE(raw->DeleteRange(rocksdb::WriteOptions{}, cf[4], "o/", "o0").ok());
                REQUIRE(raw->DeleteRange(rocksdb::WriteOptions{}, cf[4], "p/", "p0").ok());
                REQUIRE(raw->Delete(rocksdb::WriteOptions{}, cf[3], "template_index").ok());
              });
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  CHECK(templates_in(**s, {kind::owned_by, "acme"}) ==
        std::vector<std::string>{"acme/www", "team/svc"});
  CHECK(templates_in(**s, {kind::public_ones, {}}) == std::vector<std::string>{"acme/www"});
}

namespace {

// Ids of the builds for_each_unfinished_build reads, in order.
std::vector<std::string> unfinished_in(const store& db) {
  std::vector<std::string> out;
  db.for_each_unfinished_build([&](build_record&& r) { out.push_back(r.id); });
  return out;
}

// A record of `id` in `status` written as the engine writes one.
void put_status(store& db, const std::string& id, build_status status) {
  auto r = sample_record(id);
  r.status = status;
  write_batch b;
  db.put_build(b, r);
  REQUIRE(db.write(b).ok());
}

}  // namespace

TEST_CASE("start-up reads only the unfinished builds, and an older store is indexed once",
          "[store][recovery]") {
  test::temp_dir dir;
  {
    auto s = store::open(dir.sub("db"));
    REQUIRE(s.ok());
    auto& db = **s;
    put_status(db, "tb_1", build_status::queued);
    put_status(db, "tb_2", build_status::ready);
    put_status(db, "tb_3", build_status::building);
    put_status(db, "tb_4", build_status::waiting);
    CHECK(unfinished_in(db) == std::vector<std::string>{"tb_1", "tb_3", "tb_4"});
    // Terminal records leave the index in the batch that makes them terminal.
    put_status(db, "tb_3", build_status::error);
    put_status(db, "tb_4", build_status::cancelled);
    CHECK(unfinished_in(db) == std::vector<std::string>{"tb_1"});
    // The counts by status are one row (the log hub writes them).
    CHECK(db.build_counts() == store::status_counts{});
    write_batch b;
    db.put_build_counts(b, {1, 2, 3, 4, 5, 123456789012});
    REQUIRE(db.write(b).ok());
    CHECK(db.build_counts() == store::status_counts{1, 2, 3, 4, 5, 123456789012});
  }
  // A store from before the index: records only, no u/ rows, no counts, no
  // flag; and a row an older engine left behind when the build ended.
  with_raw_db(
      dir.sub("db"), [&](rocksdb::DB* raw, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
        REQUIRE(raw->DeleteRange(rocksdb::WriteOptions{}, cf[1], "u/", "u0").ok());
        REQUIRE(raw->Delete(rocksdb::WriteOptions{}, cf[3], "unfinished_index").ok());
        REQUIRE(raw->Delete(rocksdb::WriteOptions{}, cf[3], "build_counts").ok());
        auto r = sample_record("tb_5");
        r.status = build_status::queued;
        REQUIRE(raw->Put(rocksdb::WriteOptions{}, cf[1], "b/tb_5", encode_build_record(r)).ok());
      });
  {
    auto s = store::open(dir.sub("db"));
    REQUIRE(s.ok());
    CHECK(unfinished_in(**s) == std::vector<std::string>{"tb_1", "tb_5"});
    // waiting, queued, building, ready, error, cancelled
    CHECK((*s)->build_counts() == store::status_counts{0, 2, 0, 1, 1, 1});
    REQUIRE((*s)->get_meta("unfinished_index") == "1");
  }
  // Indexed once: a later open does not scan again (a build the flag's
  // store never saw through put_build stays out), and a stale row (its
  // record terminal, as an older engine would leave it) is skipped.
  with_raw_db(
      dir.sub("db"), [&](rocksdb::DB* raw, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
        auto r = sample_record("tb_6");
        r.status = build_status::queued;
        REQUIRE(raw->Put(rocksdb::WriteOptions{}, cf[1], "b/tb_6", encode_build_record(r)).ok());
        r = sample_record("tb_1");
        r.status = build_status::ready;
        REQUIRE(raw->Put(rocksdb::WriteOptions{}, cf[1], "b/tb_1", encode_build_record(r)).ok());
      });
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  CHECK(unfinished_in(**s) == std::vector<std::string>{"tb_5"});
}

TEST_CASE("pool records round-trip, with unique names and a tenant index", "[store]") {
  test::temp_dir dir;
  auto s = store::open(dir.sub("db"));
  REQUIRE(s.ok());
  pool_record r;
  r.id = "wp_1";
  r.tenant = "acme";
  r.spec.template_ref = "acme/web:stable";
  r.spec.name = "web";
  r.spec.min_ready = 2;
  r.spec.max_ready = 4;
  r.spec.memory_mb = 512;
  r.spec.policy = version_policy::pinned_build;
  r.spec.max_idle_ms = 60000;
  r.state = pool_state::degraded;
  r.reason = "start_failed";
  r.reason_message = "3 starts failed in a row";
  r.last_lines = {"boom"};
  r.serving_build = "tb_9";
  r.counts = {1, 2, 3, 4};
  r.consecutive_failures = 3;
  r.created_ms = 1700000000123;
  storage::write_batch b;
  (*s)->put_pool(b, r);
  auto other = r;
  other.id = "wp_2";
  other.tenant = "globex";
  (*s)->put_pool(b, other);
  REQUIRE((*s)->write(b).ok());

  auto got = (*s)->get_pool("wp_1");
  REQUIRE(got);
  CHECK(encode_pool_record(*got) == encode_pool_record(r));
  CHECK((*s)->find_pool_name("acme", "web") == std::optional<std::string>("wp_1"));
  CHECK((*s)->find_pool_name("globex", "web") == std::optional<std::string>("wp_2"));
  CHECK_FALSE((*s)->find_pool_name("acme", "api"));
  std::vector<std::string> ids;
  (*s)->for_each_pool_of("acme", [&](pool_record&& p) {
    ids.push_back(p.id);
    return true;
  });
  CHECK(ids == std::vector<std::string>{"wp_1"});

  auto api = pool_api_json(r);
  CHECK(api.find("\"tenant\"") == std::string::npos);
  CHECK(api.find(R"("counts":{"ready":1,"starting":2,"in_use":3,"failed":4})") !=
        std::string::npos);
  CHECK(api.find(R"("serving_build":"tb_9")") != std::string::npos);

  storage::write_batch d;
  (*s)->delete_pool(d, r);
  REQUIRE((*s)->write(d).ok());
  CHECK_FALSE((*s)->get_pool("wp_1"));
  CHECK_FALSE((*s)->find_pool_name("acme", "web"));
  size_t all = 0;
  (*s)->for_each_pool([&](pool_record&&) { ++all; });
  CHECK(all == 1);
}
