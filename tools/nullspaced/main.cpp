// nullspaced: runs the engine as a long-lived service on a data dir.
// The HTTP/JSON API and SSE (issue "nullspaced: the HTTP/JSON API") plug in
// here; until then the daemon runs builds submitted through the embedded API,
// recovers unfinished builds at start-up, and shuts down cleanly on SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "nullspace/engine.hpp"

namespace {

void usage(std::ostream& out) {
  out << "usage: nullspaced [--data-dir DIR] [--executor-slots N] [--sync] "
         "[--log-level LEVEL]\n"
         "  --data-dir DIR       RocksDB and work dirs (default ./data, env NULLSPACE_DATA_DIR)\n"
         "  --executor-slots N   builds running at once (default 2)\n"
         "  --sync               fsync the write-ahead log on every commit\n"
         "  --log-level LEVEL    trace|debug|info|warn|error (default info)\n";
}

bool parse_uint(const char* s, uint32_t& out) {
  char* end = nullptr;
  auto v = std::strtoul(s, &end, 10);
  if (!s[0] || *end || v == 0 || v > 4096) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  nullspace::engine_options opts;
  if (const char* d = std::getenv("NULLSPACE_DATA_DIR")) opts.data_dir = d;
  std::string level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::cerr << "nullspaced: " << a << " needs " << what << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data-dir") {
      opts.data_dir = need("a directory");
    } else if (a == "--executor-slots") {
      if (!parse_uint(need("a number"), opts.executor_slots)) {
        std::cerr << "nullspaced: --executor-slots takes a number from 1 to 4096\n";
        return 2;
      }
    } else if (a == "--sync") {
      opts.sync = true;
    } else if (a == "--log-level") {
      level = need("a level");
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "nullspaced: unknown option " << a << "\n";
      usage(std::cerr);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::from_str(level));

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto eng = nullspace::engine::open(opts);
  if (!eng) {
    spdlog::error("cannot start: {}", eng.error().message);
    return 1;
  }
  spdlog::info("nullspaced ready: data dir {}, {} executor slots", opts.data_dir,
               opts.executor_slots);
  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("received {}, shutting down", strsignal(sig));
  eng.value().reset();  // running builds stop and resume at the next start
  spdlog::info("stopped");
  return 0;
}
