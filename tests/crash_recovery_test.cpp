// Kill -9 a process that is running builds, then reopen its data dir: every
// acknowledged entry is there, offsets are dense, and no build is left stuck.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>

#include "actors/engine/engine_access.hpp"
#include "nullspace/engine.hpp"
#include "storage/store.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

struct worker_report {
  std::vector<std::string> submitted;
  std::map<std::string, uint64_t> seen;  // highest acknowledged next offset per build
};

// The crash worker, started with `args` after its path; its stdout is `out`.
struct crash_worker {
  pid_t pid = -1;
  FILE* out = nullptr;

  explicit crash_worker(const std::vector<std::string>& args) {
    const char* worker = std::getenv("NULLSPACE_CRASH_WORKER");
    REQUIRE(worker != nullptr);
    std::vector<char*> argv{const_cast<char*>(worker)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      execv(worker, argv.data());
      _exit(127);
    }
    close(fds[1]);
    out = fdopen(fds[0], "r");
  }

  // SIGKILLs it; true if that is what ended it.
  bool kill_it() {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(out);
    return WIFSIGNALED(status);
  }
};

// Runs the worker until it has printed `lines` lines, then SIGKILLs it.
worker_report run_and_kill(const std::string& data_dir, int lines) {
  crash_worker w({data_dir});
  worker_report r;
  char buf[256];
  for (int n = 0; n < lines && std::fgets(buf, sizeof buf, w.out); ++n) {
    char id[128];
    unsigned long long next = 0;
    if (std::sscanf(buf, "submitted %127s", id) == 1) r.submitted.push_back(id);
    if (std::sscanf(buf, "seen %127s %llu", id, &next) == 2)
      r.seen[id] = std::max<uint64_t>(r.seen[id], next);
  }
  CHECK(w.kill_it());
  return r;
}

}  // namespace

TEST_CASE("after SIGKILL every acknowledged entry survives and no build is stuck", "[recovery]") {
  std::random_device rd;
  for (int attempt = 0; attempt < 3; ++attempt) {
    test::temp_dir dir;
    int lines = 20 + static_cast<int>(rd() % 400);
    INFO("killed after " << lines << " report lines");
    auto report = run_and_kill(dir.sub("data"), lines);
    REQUIRE_FALSE(report.submitted.empty());

    engine_options o;
    o.data_dir = dir.sub("data");
    o.executor_slots = 4;
    auto eng = engine::open(o);
    REQUIRE(eng.ok());
    for (auto& id : report.submitted) {
      auto st = (*eng)->get_status(nullspace::test::as_build_id(id), log_offset(0), 100000);
      REQUIRE(st.ok());  // every acknowledged build exists
      auto acked = report.seen.count(id) ? report.seen[id] : 1;
      CHECK(st->build.log_next_offset >= acked);
      for (size_t i = 0; i < st->logs.size(); ++i) REQUIRE(st->logs[i].offset == i);
      // A status change and the entry recording it commit together: the record
      // agrees with the last entry that names a status, whatever the kill hit.
      std::string last_status;
      for (auto& r : st->logs)
        if (auto e = storage::decode_log_entry(r.json); e && !e->status.empty())
          last_status = e->status;
      CHECK(last_status == storage::to_string(st->build.record.status));
    }
    // Recovery requeued whatever was running: everything reaches a terminal state.
    for (auto& id : report.submitted) {
      auto done = (*eng)->wait_until_terminal(nullspace::test::as_build_id(id), 300s);
      REQUIRE(done.ok());
      CHECK(done->record.status == build_status::ready);
      auto st = (*eng)->get_status(nullspace::test::as_build_id(id), log_offset(0), 100000);
      for (size_t i = 0; i < st->logs.size(); ++i) REQUIRE(st->logs[i].offset == i);
    }
  }
}

TEST_CASE("a build interrupted while building is requeued with a durable entry", "[recovery]") {
  test::temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  std::string id;
  {
    auto eng = engine::open(o);
    REQUIRE(eng.ok());
    auto b = (*eng)->submit(test::run_request({"echo up; sleep 1000", "echo second"}));
    REQUIRE(b.ok());
    id = b->record.id;
    // Wait (via the log, not a clock) until the first step runs, then close:
    // closing stops the build the way a crash would, leaving it `building`.
    REQUIRE(test::wait_for_output(**eng, id, "up") == "up");
    CHECK((*eng)->get_status(nullspace::test::as_build_id(id))->build.record.status ==
          build_status::building);
  }
  auto eng = engine::open(o);
  REQUIRE(eng.ok());
  // It restarts from step 0 and its sleep runs again: cancel it to finish.
  auto c = (*eng)->cancel(nullspace::test::as_build_id(id), "enough");
  REQUIRE(c.ok());
  auto st = (*eng)->get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 1000);
  std::vector<std::string> statuses;
  bool restart_note = false;
  for (auto& r : st->logs) {
    auto e = storage::decode_log_entry(r.json);
    if (e->kind == "status") statuses.push_back(e->status);
    if (e->message.find("the engine restarted while building") != std::string::npos)
      restart_note = true;
  }
  CHECK(restart_note);
  REQUIRE(statuses.size() >= 3);
  CHECK(statuses[0] == "queued");
  CHECK(statuses[1] == "building");
  CHECK(statuses[2] == "queued");
}

TEST_CASE("a store from before the unfinished-build index is indexed once and recovered",
          "[recovery]") {
  test::temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  std::string done_id, id;
  {
    auto eng = engine::open(o);
    REQUIRE(eng.ok());
    auto done = (*eng)->submit(test::run_request({"echo done"}));
    REQUIRE(done.ok());
    done_id = done->record.id;
    REQUIRE((*eng)->wait_until_terminal(test::as_build_id(done_id), 60s).ok());
    auto b = (*eng)->submit(test::run_request({"echo up; sleep 1000"}));
    REQUIRE(b.ok());
    id = b->record.id;
    REQUIRE(test::wait_for_output(**eng, id, "up") == "up");
  }
  // What an engine from before the index left: records, no index rows, no
  // stored counts, no flag.
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (auto n : {"default", "builds", "logs", "meta", "templates", "pools", "cache", "machines"})
      descs.emplace_back(n, rocksdb::ColumnFamilyOptions{});
    std::vector<rocksdb::ColumnFamilyHandle*> cf;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions{}, o.data_dir + "/db", descs, &cf, &raw).ok());
    CHECK(raw->DeleteRange(rocksdb::WriteOptions{}, cf[1], "u/", "u0").ok());
    CHECK(raw->Delete(rocksdb::WriteOptions{}, cf[3], "unfinished_index").ok());
    CHECK(raw->Delete(rocksdb::WriteOptions{}, cf[3], "build_counts").ok());
    for (auto* h : cf) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto eng = engine::open(o);
  REQUIRE(eng.ok());
  auto& db = detail::engine_access::store(**eng);
  CHECK(db.get_meta("unfinished_index") == "1");
  // The interrupted build was found through the new index: requeued, running again.
  REQUIRE(test::wait_for_output(**eng, id, "up") == "up");
  auto stats = (*eng)->current_stats();
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::ready)] == 1);
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::building)] == 1);
  REQUIRE((*eng)->cancel(test::as_build_id(id), "enough").ok());
  stats = (*eng)->current_stats();
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::building)] == 0);
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::cancelled)] == 1);
  size_t unfinished = 0;
  db.for_each_unfinished_build([&](storage::build_record&&) { ++unfinished; });
  CHECK(unfinished == 0);
  // The counts are stored with the records: a restart reads them back.
  (*eng).reset();
  auto again = engine::open(o);
  REQUIRE(again.ok());
  stats = (*again)->current_stats();
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::ready)] == 1);
  CHECK(stats.builds_by_status[static_cast<size_t>(build_status::cancelled)] == 1);
}

// A crash mid-step leaves the step running in its container (runc outlives
// its parent), its overlay mounted and its secret file in /dev/shm. The next
// open's recovery fails the build (its secret value is gone) and leaves none
// of that behind.
TEST_CASE("after SIGKILL mid-step, the next open leaves no step process, mount or secret file",
          "[recovery]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  const std::string canary = "CRASH-CANARY-9c41d";
  crash_worker w({dir.sub("data"), "secret-step", canary});
  char line[256] = {0}, id[128] = {0};
  bool running =
      std::fgets(line, sizeof line, w.out) && std::sscanf(line, "running %127s", id) == 1;
  CHECK(w.kill_it());
  REQUIRE(running);
  // What the crash left: the step still runs, mounted, with its secret file.
  CHECK_FALSE(test::step_pids(id).empty());
  CHECK(test::mounts_under(dir.path()) > 0);
  CHECK_FALSE(test::files_containing("/dev/shm", canary).empty());

  auto eng = test::open_sandbox(dir);
  auto done = eng->wait_until_terminal(test::as_build_id(id), 60s);
  REQUIRE(done.ok());
  CHECK(done->record.status == build_status::error);
  REQUIRE(done->record.failure);
  CHECK(done->record.failure->code == "secrets_lost");
  CHECK(test::step_pids(id).empty());
  CHECK(test::mounts_under(dir.path()) == 0);
  CHECK(test::files_containing("/dev/shm", canary).empty());
}
