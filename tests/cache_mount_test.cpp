// Dockerfile cache mounts (RUN --mount=type=cache) end to end in the sandbox
// (busybox base): kept between a tenant's builds, in no layer, artifact or
// cache key; per tenant and per id; sharing=locked|private; the LRU bound;
// prune over HTTP and the CLI; retention. Needs root and runc.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "actors/engine/engine_access.hpp"
#include "runtime/process/command.hpp"
#include "storage/log_entry.hpp"
#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/http_client.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
namespace fs = std::filesystem;

namespace {

std::string request(const std::string& dockerfile) {
  return R"({"name":"cm","builder":{"source":{"type":"dockerfile","content":)" +
         json_quoted(dockerfile) + "}}}";
}

build_view build_as(engine& eng, const std::string& dockerfile, const std::string& tenant) {
  auto t = parse_tenant_id(tenant);
  REQUIRE(t.ok());
  auto b = eng.submit(request(dockerfile), *t);
  if (!b.ok()) FAIL(b.error().message);
  auto done = eng.wait_until_terminal(b->id(), generous, *t);
  REQUIRE(done.ok());
  return done.value();
}

build_view build_df(engine& eng, const std::string& dockerfile) {
  return build_as(eng, dockerfile, "default");
}

std::vector<std::string> output_as(engine& eng, const build_view& b, const std::string& tenant) {
  auto st =
      eng.get_status(as_build_id(b.record.id), log_offset(0), 100000, *parse_tenant_id(tenant));
  REQUIRE(st.ok());
  std::vector<std::string> out;
  for (auto& r : st->logs) {
    auto e = storage::decode_log_entry(r.json);
    if (e && e->kind == "log" && e->phase == "step") out.push_back(e->message);
  }
  return out;
}

runtime::cache_mount_store& store_of(engine& eng) {
  return detail::engine_access::cache_mounts(eng);
}

// Files named `name` anywhere below `dir`.
int files_named(const std::string& dir, const std::string& name) {
  int n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename() == name) ++n;
  return n;
}

// Waits (bounded by the workload, not timed) until `ok()` holds.
template <class F>
void wait_for(F ok, const char* what) {
  auto deadline = std::chrono::steady_clock::now() + generous;
  while (!ok()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("never happened: " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

const runtime::cache_mount_info* find_key(const std::vector<runtime::cache_mount_info>& all,
                                          const std::string& key) {
  for (auto& i : all)
    if (i.key == key) return &i;
  return nullptr;
}

void touch(const std::string& path) {
  std::ofstream(path) << "go\n";
}

// A step that holds its cache mount `id` (at /c) until the host creates
// /c/go-<name>; "in-<name>" and "out-<name>" go to /c/log around it. mkdir is
// exclusive: a second step inside at the same time fails with COLLISION.
std::string holding_step(const std::string& id, const std::string& sharing,
                         const std::string& name) {
  return "RUN --mount=type=cache,id=" + id + ",target=/c,sharing=" + sharing +
         " mkdir /c/inside || { echo COLLISION; exit 1; }; echo in-" + name +
         " >> /c/log; while [ ! -e /c/go-" + name + " ]; do sleep 0.02; done; echo out-" + name +
         " >> /c/log; rmdir /c/inside\n";
}

}  // namespace

TEST_CASE("a cache mount keeps its files between builds and puts them in no layer or artifact",
          "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  const std::string first = R"DF(FROM busybox
RUN --mount=type=cache,target=/var/cache/app echo one > /var/cache/app/cached-file && echo wrote
)DF";
  auto b1 = build_df(*eng, first);
  INFO(failure(b1));
  REQUIRE(b1.record.status == build_status::ready);

  const std::string second = R"DF(FROM busybox
RUN --mount=type=cache,target=/var/cache/app cat /var/cache/app/cached-file && echo two >> /var/cache/app/cached-file
RUN test ! -e /var/cache/app/cached-file && echo not-in-image
)DF";
  auto b2 = build_df(*eng, second);
  INFO(failure(b2));
  REQUIRE(b2.record.status == build_status::ready);
  auto out = output(*eng, b2.record.id);
  CHECK(contains(out, "one"));  // build 1's file, seen by build 2
  CHECK(contains(out, "not-in-image"));

  // In no layer of either build, nor in either artifact; only in the cache dir.
  CHECK(files_named(dir.sub("data/layers"), "cached-file") == 0);
  for (auto* b : {&b1, &b2}) {
    auto image = dir.sub("data/artifacts/") + b->record.artifact->id + "/rootfs.ext4";
    auto r =
        runtime::run_command({"/usr/sbin/debugfs", "-R", "stat /var/cache/app/cached-file", image});
    REQUIRE(r.ok());
    CHECK(r->output.find("File not found") != std::string::npos);
  }
  auto cached = store_of(*eng).data_dir("default", "/var/cache/app") + "/cached-file";
  CHECK(read_file(cached) == "one\ntwo\n");

  // The key is the instruction, not the cache's contents: build 1 again is a
  // cache hit and does not run (the file keeps build 2's line).
  auto again = build_df(*eng, first);
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.misses == 0);
  CHECK(read_file(cached) == "one\ntwo\n");
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("cache mounts are per tenant and per id", "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto alice = build_as(*eng, R"DF(FROM busybox
RUN --mount=type=cache,id=deps,target=/a echo alice > /a/who
)DF",
                        "alice");
  REQUIRE(alice.record.status == build_status::ready);
  // One id at another target: the same dir. Another id: another dir.
  auto shared = build_as(*eng, R"DF(FROM busybox
RUN --mount=type=cache,id=deps,target=/b cat /b/who
RUN --mount=type=cache,id=other,target=/a test ! -e /a/who && echo other-id-empty
)DF",
                         "alice");
  INFO(failure(shared));
  REQUIRE(shared.record.status == build_status::ready);
  auto out = output_as(*eng, shared, "alice");
  CHECK(contains(out, "alice"));
  CHECK(contains(out, "other-id-empty"));
  // Another tenant, same Dockerfile line: its own, empty dir.
  auto bob = build_as(*eng, R"DF(FROM busybox
RUN --mount=type=cache,id=deps,target=/a test ! -e /a/who && echo bob-sees-nothing
)DF",
                      "bob");
  INFO(failure(bob));
  REQUIRE(bob.record.status == build_status::ready);
  CHECK(contains(output_as(*eng, bob, "bob"), "bob-sees-nothing"));
  CHECK(store_of(*eng).list("bob").size() == 1);
  CHECK(store_of(*eng).list("alice").size() == 2);
}

TEST_CASE("a mount inside a cache mount's target is mounted after the cache, not hidden by it",
          "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  // The inner mounts are named first: they must still be mounted over the
  // outer cache, not under it (where the step would write into the outer one).
  auto b = build_df(*eng, R"DF(FROM busybox
RUN --mount=type=cache,id=inner,target=/c/inner --mount=type=tmpfs,target=/c/scratch --mount=type=cache,id=outer,target=/c echo in > /c/inner/f && echo tmp > /c/scratch/f && echo out > /c/f && grep -q ' /c/scratch tmpfs ' /proc/mounts && echo nested-ok
)DF");
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  CHECK(contains(output(*eng, b.record.id), "nested-ok"));
  auto inner = store_of(*eng).data_dir("default", "inner");
  auto outer = store_of(*eng).data_dir("default", "outer");
  CHECK(read_file(inner + "/f") == "in\n");
  CHECK(read_file(outer + "/f") == "out\n");
  // Only the mount points are left in the outer cache, empty.
  CHECK(!fs::exists(outer + "/inner/f"));
  CHECK(!fs::exists(outer + "/scratch/f"));
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("sharing=locked lets one step in at a time; private gives a busy cache's user its own",
          "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto& store = store_of(*eng);
  auto tenant = *parse_tenant_id("default");
  auto locked_dir = store.data_dir("default", "lk");
  // A holds the locked cache (it waits inside for go-A); B is submitted next
  // and waits for the lock while A is inside (the store says so).
  auto a_inside_b_waiting = [&] {
    auto a = eng->submit(request("FROM busybox\n" + holding_step("lk", "locked", "A")), tenant);
    REQUIRE(a.ok());
    wait_for([&] { return fs::exists(locked_dir + "/inside"); }, "A inside");
    auto b = eng->submit(request("FROM busybox\n" + holding_step("lk", "locked", "B")), tenant);
    REQUIRE(b.ok());
    wait_for(
        [&] {
          auto all = store.list("default");
          auto i = find_key(all, "lk");
          return i && i->waiting == 1;
        },
        "B waiting");
    return std::pair{a->id(), b->id()};
  };

  SECTION("locked") {
    auto [a, b] = a_inside_b_waiting();
    CHECK(read_file(locked_dir + "/log") == "in-A\n");
    touch(locked_dir + "/go-A");
    touch(locked_dir + "/go-B");
    auto da = eng->wait_until_terminal(a, generous, tenant);
    auto db = eng->wait_until_terminal(b, generous, tenant);
    REQUIRE(da.ok());
    REQUIRE(db.ok());
    INFO(failure(*da) << failure(*db));
    CHECK(da->record.status == build_status::ready);
    CHECK(db->record.status == build_status::ready);  // no COLLISION
    CHECK(read_file(locked_dir + "/log") == "in-A\nout-A\nin-B\nout-B\n");
  }

  SECTION("a cancelled build stops waiting for a locked cache") {
    auto [a, b] = a_inside_b_waiting();
    auto cancelled = eng->cancel(b, "no longer needed", tenant);
    REQUIRE(cancelled.ok());
    CHECK(cancelled->record.status == build_status::cancelled);
    auto after = store.list("default");
    REQUIRE(find_key(after, "lk") != nullptr);
    CHECK(find_key(after, "lk")->waiting == 0);
    touch(locked_dir + "/go-A");
    auto da = eng->wait_until_terminal(a, generous, tenant);
    REQUIRE(da.ok());
    CHECK(da->record.status == build_status::ready);
    CHECK(read_file(locked_dir + "/log") == "in-A\nout-A\n");
  }

  SECTION("private") {
    auto a = eng->submit(request("FROM busybox\n" + holding_step("pv", "private", "A")), tenant);
    REQUIRE(a.ok());
    auto pv = store.data_dir("default", "pv");
    wait_for([&] { return fs::exists(pv + "/inside"); }, "A inside");
    // While A holds it, a private user gets an empty dir of its own, dropped
    // after its step.
    auto b = build_df(*eng, R"DF(FROM busybox
RUN --mount=type=cache,id=pv,target=/c,sharing=private test -z "$(ls -A /c)" && echo own-empty-dir && echo b > /c/b-file
)DF");
    INFO(failure(b));
    CHECK(b.record.status == build_status::ready);
    CHECK(contains(output(*eng, b.record.id), "own-empty-dir"));
    CHECK_FALSE(fs::exists(pv + "/b-file"));
    CHECK(files_named(dir.sub("data/cache-mounts"), "b-file") == 0);  // dropped
    touch(pv + "/go-A");
    auto da = eng->wait_until_terminal(a->id(), generous, tenant);
    REQUIRE(da.ok());
    CHECK(da->record.status == build_status::ready);
    CHECK(read_file(pv + "/log") == "in-A\nout-A\n");
  }
}

TEST_CASE("cache mounts are bounded per tenant: least recently used first, never one in use",
          "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto o = sandbox_options(dir);
  o.cache_mounts.max_bytes_per_tenant = 10000;
  auto eng = open_sandbox(o);
  auto& store = store_of(*eng);
  auto tenant = *parse_tenant_id("default");
  auto fill = [&](const std::string& id) {
    auto b = build_df(*eng, "FROM busybox\nRUN --mount=type=cache,id=" + id +
                                ",target=/c head -c 6000 /dev/zero > /c/blob\n");
    INFO(failure(b));
    REQUIRE(b.record.status == build_status::ready);
  };
  fill("a");
  fill("b");  // 12000 bytes > 10000: a, the least recently used, goes
  auto all = store.list("default");
  CHECK(find_key(all, "a") == nullptr);
  REQUIRE(find_key(all, "b") != nullptr);
  CHECK(find_key(all, "b")->bytes == 6000);
  CHECK_FALSE(fs::exists(store.data_dir("default", "a")));

  // b is in use (and least recently used) while d fills up: d is evicted, not b.
  auto holder = eng->submit(request("FROM busybox\n" + holding_step("b", "shared", "H")), tenant);
  REQUIRE(holder.ok());
  auto b_dir = store.data_dir("default", "b");
  wait_for([&] { return fs::exists(b_dir + "/inside"); }, "holder inside");
  fill("d");
  all = store.list("default");
  CHECK(find_key(all, "d") == nullptr);
  REQUIRE(find_key(all, "b") != nullptr);
  CHECK(fs::exists(b_dir + "/blob"));
  touch(b_dir + "/go-H");
  auto done = eng->wait_until_terminal(holder->id(), generous, tenant);
  REQUIRE(done.ok());
  CHECK(done->record.status == build_status::ready);
  CHECK(fs::exists(b_dir + "/blob"));
}

TEST_CASE("retention deletes a cache mount unused for longer than its limit", "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto now = std::make_shared<std::atomic<int64_t>>(storage::now_ms());
  auto o = sandbox_options(dir);
  o.clock = [now] { return now->load(); };
  o.cache_mounts.max_unused = std::chrono::hours(24);
  auto eng = open_sandbox(o);
  auto b = build_df(*eng, "FROM busybox\nRUN --mount=type=cache,id=old,target=/c echo x > /c/f\n");
  REQUIRE(b.record.status == build_status::ready);
  auto old_dir = store_of(*eng).data_dir("default", "old");
  REQUIRE(fs::exists(old_dir + "/f"));
  *now += 23 * 3600 * 1000;
  auto s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->cache_mounts_deleted == 0);
  *now += 2 * 3600 * 1000;
  s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->cache_mounts_deleted == 1);
  CHECK(s->bytes_freed >= 2);
  CHECK_FALSE(fs::exists(old_dir));
}

TEST_CASE("cache mounts are pruned over HTTP and with nullspace cache prune", "[cache_mounts]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);
  auto df = dir.sub("ctx");
  fs::create_directories(df);
  auto cache_dir = [&] { return d.data_dir() + "/cache-mounts/default"; };
  auto build_with_cache = [&](const std::string& word) {
    std::ofstream(df + "/Dockerfile")
        << "FROM busybox\nRUN --mount=type=cache,id=pr,target=/c echo " << word << " > /c/f\n";
    auto r = ns(d, {"template", "build", "--from-dockerfile", df + "/Dockerfile", "--name", "pr"});
    CHECK_OUTPUT(r, 0);
    REQUIRE(files_named(cache_dir(), "f") == 1);
  };
  build_with_cache("http");
  auto pruned = http_post(d.port(), "/v1/cache-mounts:prune", "");
  CHECK(pruned.status == 200);
  CHECK(json_u64(pruned.body, "removed") == 1);
  CHECK(json_u64(pruned.body, "bytes_freed") == 5);  // "http\n"
  CHECK(json_u64(pruned.body, "in_use") == 0);
  CHECK(files_named(cache_dir(), "f") == 0);

  build_with_cache("cli");
  auto r = ns(d, {"cache", "prune"});
  CHECK_OUTPUT(r, 0);
  CHECK(contains(r.out, "removed 1 cache mount, freed 4 bytes"));
  CHECK(files_named(cache_dir(), "f") == 0);
  auto again = ns(d, {"cache", "prune", "--json"});
  CHECK_OUTPUT(again, 0);
  CHECK(json_u64(again.out, "removed") == 0);
}
