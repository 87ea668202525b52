// nullspaced: the engine as a long-lived HTTP service (API.md).
//
// Settings come from flags, then environment variables (NULLSPACE_*), then an
// optional config file (--config, TOML/INI `key = value` with the flag names),
// then defaults. Relative paths in any of them are relative to the directory
// nullspaced starts in. SIGTERM/SIGINT: stop accepting, end streams cleanly, stop the
// engine (running builds resume at the next start), exit 0.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "api/api_server.hpp"
#include "nullspace/engine.hpp"
#include "storage/common/absolute_path.hpp"
#include "storage/common/log_levels.hpp"
#include "storage/common/logging.hpp"
#include "tools/nullspaced/machine_flags.hpp"

namespace {

bool split_listen(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  auto p = std::strtoul(s.c_str() + colon + 1, &end, 10);
  if (*end || p > 65535 || colon + 1 == s.size()) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Buffers of 1 MiB and more (large log appends, write batches, replays)
  // come from mmap and go back to the system when freed. glibc otherwise
  // raises this threshold after each such free, and the next ones land in
  // its arenas, where they stay after a burst of chatty builds ends
  // (docs/PERFORMANCE.md, "Memory under chatty builds").
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  nullspace::engine_options eopts;
  nullspace::api::api_options aopts;
  std::string listen = "127.0.0.1:7070";
  std::string keys_file;
  std::string level = "info";
  std::string log_format = "text";
  eopts.data_dir = "./data";

  CLI::App app{"nullspaced: template builds over HTTP (see docs/API.md)"};
  app.set_config("--config", "", "read settings from a TOML/INI file (keys = flag names)");
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0 picks one)")
      ->envname("NULLSPACE_LISTEN")
      ->capture_default_str();
  app.add_option("--data-dir", eopts.data_dir, "RocksDB, build work dirs and contexts")
      ->envname("NULLSPACE_DATA_DIR")
      ->capture_default_str();
  app.add_option("--api-keys", keys_file, "file of `key tenant` lines (none: loopback only)")
      ->envname("NULLSPACE_API_KEYS_FILE");
  app.add_option("--executor-slots", eopts.executor_slots, "builds running at once")
      ->envname("NULLSPACE_EXECUTOR_SLOTS")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--max-queued", eopts.max_queued, "queued builds before 429")
      ->envname("NULLSPACE_MAX_QUEUED")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  std::string isolation = "auto";
  app.add_option("--isolation", isolation,
                 "where steps run: sandbox (OCI containers over real image layers; needs "
                 "root), host (plain processes, no base image; development only), or auto "
                 "(sandbox when running as root with runc or crun installed, else host)")
      ->envname("NULLSPACE_ISOLATION")
      ->check(CLI::IsMember({"auto", "host", "sandbox"}))
      ->capture_default_str();
  app.add_option("--oci-runtime", eopts.oci_runtime,
                 "crun or runc (or the absolute path of one installed elsewhere), for build "
                 "steps and machines (default: crun when it can run containers here, else runc)")
      ->envname("NULLSPACE_OCI_RUNTIME");
  app.add_option("--images-dir", eopts.images_dir, "base images (default: DATA_DIR/images)")
      ->envname("NULLSPACE_IMAGES_DIR");
  app.add_option("--debian-mirror", eopts.debian_mirror,
                 "where debootstrap images (debian:bookworm, python:3.11) download from")
      ->envname("NULLSPACE_DEBIAN_MIRROR")
      ->capture_default_str();
  app.add_option("--pip-index-url", eopts.pip_index_url,
                 "a Python package index (PEP 503) for build steps: PIP_INDEX_URL (and "
                 "PIP_TRUSTED_HOST for http) in every sandboxed command step that does not "
                 "set it")
      ->envname("NULLSPACE_PIP_INDEX_URL")
      ->check([](const std::string& v) {
        return v.starts_with("http://") || v.starts_with("https://")
                   ? std::string()
                   : std::string("--pip-index-url takes an http:// or https:// URL");
      });
  double untagged_hours = 24 * 7, failed_hours = 24, sweep_minutes = 10;
  app.add_option("--untagged-retention-hours", untagged_hours,
                 "how long a ready build no tag points at keeps its artifact")
      ->envname("NULLSPACE_UNTAGGED_RETENTION_HOURS")
      ->check(CLI::Range(0.0, 24.0 * 3650))
      ->capture_default_str();
  app.add_option("--failed-retention-hours", failed_hours,
                 "how long a failed or cancelled build's retention lasts")
      ->envname("NULLSPACE_FAILED_RETENTION_HOURS")
      ->check(CLI::Range(0.0, 24.0 * 3650))
      ->capture_default_str();
  app.add_option("--retention-sweep-minutes", sweep_minutes,
                 "how often expired artifacts are deleted")
      ->envname("NULLSPACE_RETENTION_SWEEP_MINUTES")
      ->check(CLI::Range(0.01, 24.0 * 60))
      ->capture_default_str();
  double max_download_mb = 2048;
  app.add_option("--max-download-mb", max_download_mb,
                 "a Dockerfile ADD <url> download larger than this fails its step")
      ->envname("NULLSPACE_MAX_DOWNLOAD_MB")
      ->check(CLI::Range(0.001, 1024.0 * 1024 * 1024))
      ->capture_default_str();
  double cache_mount_mb = 10 * 1024, cache_mount_unused_hours = 24 * 7;
  app.add_option("--cache-mount-max-mb", cache_mount_mb,
                 "a tenant's Dockerfile cache mounts (RUN --mount=type=cache) together; beyond "
                 "it the least recently used ones no step holds are deleted")
      ->envname("NULLSPACE_CACHE_MOUNT_MAX_MB")
      ->check(CLI::Range(0.0, 1024.0 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--cache-mount-max-unused-hours", cache_mount_unused_hours,
                 "retention deletes a cache mount unused this long")
      ->envname("NULLSPACE_CACHE_MOUNT_MAX_UNUSED_HOURS")
      ->check(CLI::Range(0.0, 24.0 * 3650))
      ->capture_default_str();
  app.add_flag("--sync", eopts.sync, "fsync the write-ahead log on every commit")
      ->envname("NULLSPACE_SYNC");
  nullspace::daemon::machine_flags machine_flags;
  machine_flags.add_to(app, eopts.machines);
  app.add_option("--log-level", level,
                 "a level (trace|debug|info|warn|error|critical|off) for every logger, and/or "
                 "NAME=LEVEL for one: store, hub, build, registry, engine, http, machine, pool, "
                 "runtime, daemon (e.g. info,http=debug,store=warn)")
      ->envname("NULLSPACE_LOG_LEVEL")
      ->check([](const std::string& v) {
        auto spec = nullspace::logging::parse_level_spec(v);
        return spec ? std::string() : spec.error().message;
      })
      ->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text (key=value lines) or json (one object per line) on stderr")
      ->envname("NULLSPACE_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  auto& l = aopts.limits;
  app.add_option("--max-header-bytes", l.max_header_bytes, "request line + headers (431 beyond)")
      ->envname("NULLSPACE_MAX_HEADER_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-body-bytes", l.max_body_bytes, "JSON request bodies (413 beyond)")
      ->envname("NULLSPACE_MAX_BODY_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-upload-bytes", aopts.max_upload_bytes, "build-context tar bodies")
      ->envname("NULLSPACE_MAX_UPLOAD_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 34))
      ->capture_default_str();
  app.add_option("--max-connections", l.max_connections, "open connections (503 beyond)")
      ->envname("NULLSPACE_MAX_CONNECTIONS")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--header-timeout-ms", l.header_timeout_ms, "first byte to end of headers")
      ->envname("NULLSPACE_HEADER_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{10}, uint64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--body-timeout-ms", l.body_timeout_ms, "end of headers to end of body")
      ->envname("NULLSPACE_BODY_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{10}, uint64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", l.idle_timeout_ms, "idle keep-alive connections")
      ->envname("NULLSPACE_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{10}, uint64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--max-pipelined-bytes", l.max_pipelined_bytes,
                 "requests read ahead on one connection, and answers queued for a client "
                 "that does not read them (beyond: it is served no more until it reads)")
      ->envname("NULLSPACE_MAX_PIPELINED_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--stream-buffer-bytes", l.stream_buffer_bytes,
                 "per log follower; a follower past it is disconnected")
      ->envname("NULLSPACE_STREAM_BUFFER_BYTES")
      ->check(CLI::Range(size_t{4096}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--stream-stall-timeout-ms", aopts.streams.stall_timeout_ms,
                 "a follower whose full buffer takes no byte this long is disconnected")
      ->envname("NULLSPACE_STREAM_STALL_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{10}, uint64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--heartbeat-ms", aopts.streams.heartbeat_ms, "SSE `: ping` interval")
      ->envname("NULLSPACE_HEARTBEAT_MS")
      ->check(CLI::Range(uint64_t{10}, uint64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--max-wait-ms", aopts.max_wait_ms, "cap of get_status long-polls (wait_ms)")
      ->envname("NULLSPACE_MAX_WAIT_MS")
      ->check(CLI::Range(uint64_t{0}, uint64_t{3'600'000}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Every path setting, whether from a flag, NULLSPACE_* or the config file,
  // is made absolute here against the directory nullspaced was started in,
  // before anything reads it.
  eopts.data_dir = nullspace::absolute_path(eopts.data_dir);
  eopts.images_dir = nullspace::absolute_path(eopts.images_dir);
  keys_file = nullspace::absolute_path(keys_file);
  machine_flags.apply(eopts.machines);
  auto ms = [](double v, double unit) {
    return std::chrono::milliseconds(static_cast<int64_t>(v * unit));
  };
  eopts.retention.untagged_ready = ms(untagged_hours, 3600e3);
  eopts.retention.failed = ms(failed_hours, 3600e3);
  eopts.retention.sweep_interval = ms(sweep_minutes, 60e3);
  eopts.cache_mounts.max_bytes_per_tenant = static_cast<uint64_t>(cache_mount_mb * 1048576.0);
  eopts.max_download_bytes = static_cast<uint64_t>(max_download_mb * 1048576.0);
  eopts.cache_mounts.max_unused = ms(cache_mount_unused_hours, 3600e3);
  eopts.isolation_mode = isolation == "sandbox" ? nullspace::isolation::sandbox
                         : isolation == "host"  ? nullspace::isolation::host
                                                : nullspace::isolation::automatic;

  // Logs go to stderr as `key=value` lines or JSON objects, one logger per
  // subsystem; stdout carries only the `listening on` line that scripts wait
  // for. nullspaced owns the process, so spdlog's default logger is the
  // daemon's too: a plain spdlog call lands on stderr in the same format.
  namespace logging = nullspace::logging;
  logging::set_format(logging::parse_log_format(log_format).value());
  if (auto set = logging::set_levels(level); !set) {
    std::cerr << "nullspaced: " << set.error().message << "\n";
    return 2;
  }
  spdlog::set_default_logger(logging::logger_of(logging::subsystem::daemon));

  if (!split_listen(listen, aopts.host, aopts.port)) {
    std::cerr << "nullspaced: --listen takes HOST:PORT, e.g. 127.0.0.1:7070\n";
    return 2;
  }
  if (!keys_file.empty()) {
    auto keys = nullspace::api::key_table::load_file(keys_file);
    if (!keys) {
      std::cerr << "nullspaced: " << keys.error().message << "\n";
      return 2;
    }
    aopts.keys = std::move(keys.value());
  }
  if (const char* inline_keys = std::getenv("NULLSPACE_API_KEYS"); inline_keys && *inline_keys) {
    auto keys = nullspace::api::key_table::parse(inline_keys, "NULLSPACE_API_KEYS");
    if (!keys) {
      std::cerr << "nullspaced: " << keys.error().message << "\n";
      return 2;
    }
    aopts.keys.merge(keys.value());
  }

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  eopts.tenants = aopts.keys.tenants();
  auto eng = nullspace::engine::open(eopts);
  if (!eng) {
    logging::daemon.error("cannot start", {{"error", eng.error().message}});
    return 1;
  }
  auto server = nullspace::api::api_server::start(*eng.value(), aopts);
  if (!server) {
    logging::daemon.error("cannot serve", {{"error", server.error().message}});
    std::cerr << "nullspaced: " << server.error().message << "\n";
    return 2;
  }
  auto port = server.value()->port();
  std::string shown =
      aopts.host.find(':') != std::string::npos ? "[" + aopts.host + "]" : aopts.host;
  logging::daemon.info(
      "ready", {{"listen", aopts.host + ":" + std::to_string(port)},
                {"data_dir", eng.value()->options().data_dir},
                {"images_dir", eng.value()->options().images_dir},
                {"executor_slots", eopts.executor_slots},
                {"tenants_auth", aopts.keys.empty() ? "off" : "on"},
                {"isolation", nullspace::to_string(eng.value()->options().isolation_mode)}});
  std::cout << "listening on http://" << shown << ":" << port << std::endl;

  int sig = 0;
  sigwait(&stop, &sig);
  logging::daemon.info("shutting down", {{"signal", strsignal(sig)}});
  server.value()->stop();  // no new requests; streams end cleanly
  eng.value().reset();     // running builds stop and resume at the next start
  logging::daemon.info("stopped");
  return 0;
}
