// Child process for the crash-recovery test: opens an engine on argv[1], submits
// builds and reports on stdout what the engine acknowledged:
//   submitted <id>          the build is durable
//   seen <id> <next>        entries [0, next) of the build are durable
//   done                    (repeated) every build finished; the test may kill now
// The test SIGKILLs this process at a random moment and checks the store.
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
  auto eng = nullspace::engine::open(o);
  if (!eng) {
    std::fprintf(stderr, "open failed: %s\n", eng.error().message.c_str());
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
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
