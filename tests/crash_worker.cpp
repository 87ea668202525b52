// Child process for the crash-recovery test: opens an engine on argv[1], submits
// builds and reports on stdout what the engine acknowledged:
//   submitted <id>          the build is durable
//   seen <id> <next>        entries [0, next) of the build are durable
//   done                    (repeated) every build finished; the test may kill now
// The test SIGKILLs this process at a random moment and checks the store.
//
// With `secret-step` after DATA_DIR it runs one sandboxed build instead, whose
// step reads a build secret (argv[3] is its value) and then sleeps, prints
//   running <id>
// once the step runs, and waits to be killed: what a crash leaves mid-step.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "nullspace/engine.hpp"
#include "tests/test_support.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: crash-worker DATA_DIR\n");
    return 2;
  }
  nullspace::engine_options o;
  o.data_dir = argv[1];
  o.executor_slots = 2;
  bool secret_step = argc >= 4 && std::string(argv[2]) == "secret-step";
  if (secret_step) o.isolation_mode = nullspace::isolation::sandbox;
  auto eng = nullspace::engine::open(o);
  if (!eng) {
    std::fprintf(stderr, "open failed: %s\n", eng.error().message.c_str());
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (secret_step) {
    auto b = (*eng)->submit(
        R"({"name":"crash-secret","build_backend":"buildkit","builder":{"source":{"type":"image",
        "image":"busybox"},"steps":[{"type":"run","secrets":["tok"],
        "cmd":"test -s /run/secrets/tok && echo running; sleep 1000"}]},
        "build_secrets":[{"id":"tok","value":")" +
        std::string(argv[3]) + R"("}]})");
    if (!b) {
      std::fprintf(stderr, "submit failed: %s\n", b.error().message.c_str());
      return 1;
    }
    auto id = b->record.id;
    if (nullspace::test::wait_for_output(**eng, id, "running") != "running") return 1;
    std::printf("running %s\n", id.c_str());
    for (;;) ::pause();  // the test kills us
  }
  std::vector<std::string> ids;
  std::vector<std::unique_ptr<nullspace::follow_handle>> follows;
  for (int i = 0; i < 12; ++i) {
    auto b = (*eng)->submit(
        nullspace::test::run_request({"for i in $(seq 1 200); do echo line $i; done", "sleep 0.2",
                                      "for i in $(seq 1 50); do echo tail $i; done"},
                                     "crash"));
    if (!b) return 1;
    auto id = b->record.id;
    ids.push_back(id);
    std::printf("submitted %s\n", id.c_str());
    nullspace::follow_callbacks cb;
    // Followers only ever see committed (durable) entries.
    cb.on_entries = [id](const std::vector<nullspace::raw_entry>& es) {
      std::printf("seen %s %llu\n", id.c_str(),
                  static_cast<unsigned long long>(es.back().offset + 1));
    };
    auto h =
        (*eng)->follow(nullspace::test::as_build_id(id), nullspace::log_offset(0), std::move(cb));
    if (h) follows.push_back(std::move(h.value()));
  }
  for (auto& id : ids)  // the test kills us long before an hour
    (void)(*eng)->wait_until_terminal(nullspace::test::as_build_id(id), std::chrono::hours(1));
  for (;;) std::puts("done");  // blocks once the pipe is full; the test kills us
}
