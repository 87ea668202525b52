// How an engine is set up: where its data lives, how builds run, and the
// limits requests are validated against.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nullspace {

// Where debootstrap fetches Debian packages for the local base images.
inline constexpr const char* default_debian_mirror = "http://deb.debian.org/debian";

// Where build steps run.
enum class isolation {
  host,       // plain processes in a per-build dir on the host: no base image, no
              // isolation; for unprivileged development and engine tests only
  sandbox,    // an OCI container (runc/crun) over overlay layers of a real base
              // image, with cgroup limits and an optional private network; needs root
  automatic,  // sandbox when running as root with runc or crun installed, else host
};

const char* to_string(isolation i);

// Configurable platform limits that requests are validated against.
struct platform_limits {
  uint32_t min_cpu_count = 1, max_cpu_count = 8;
  uint32_t min_memory_mb = 128, max_memory_mb = 16384;
  uint32_t min_disk_mb = 256, max_disk_mb = 65536;
  uint32_t max_ready_timeout_ms = 600000;
  size_t max_request_bytes = 1 << 20;  // whole JSON body
  size_t max_steps = 256;
  size_t max_string_bytes = 64 << 10;  // any one string (cmd, dockerfile content, …)
  size_t max_list_items = 1024;        // packages, tags, envs, secrets
  size_t max_secret_bytes = 64 << 10;
};

// How long artifacts are kept (docs/ARCHITECTURE.md, "Retention"). A build a
// tag points at keeps its artifact for as long as the tag does.
struct retention_options {
  std::chrono::milliseconds untagged_ready = std::chrono::hours(24 * 7);
  std::chrono::milliseconds failed = std::chrono::hours(24);  // failed and cancelled builds
  std::chrono::milliseconds sweep_interval = std::chrono::minutes(10);
  // Idempotency keys of creates (builds, machines) are kept this long.
  std::chrono::milliseconds idempotency_keys = std::chrono::hours(24);
};

// Machines started from templates (sandbox isolation only: they are OCI
// containers over the template's ext4 artifact).
struct machine_options {
  uint32_t max_machines = 256;            // alive at once, all tenants (then 429)
  uint32_t max_machines_per_tenant = 64;  // alive at once, per tenant (then 429)
  std::chrono::milliseconds default_timeout = std::chrono::minutes(5);  // when a create names none
  std::chrono::milliseconds max_timeout = std::chrono::hours(24);
  std::chrono::milliseconds stop_grace = std::chrono::seconds(10);  // SIGTERM, then SIGKILL
  size_t max_output_bytes = 16u << 20;  // per command stream; beyond it output is `truncated`
  size_t max_file_bytes = 256u << 20;   // one file read or written through the API
  // Ended machines' records and logs are kept this long, then deleted.
  std::chrono::milliseconds retention = std::chrono::hours(24);
  std::string network_range = "10.88.0.0/16";  // one /30 per machine with internet access
  std::string init_binary;                     // nullspace-init ("" = next to the executable)
  size_t worker_threads = 8;                   // threads for blocking machine work
};

// Dockerfile RUN --mount=type=cache dirs: kept per tenant between builds
// (docs/ARCHITECTURE.md, "Cache mounts").
struct cache_mount_options {
  // A tenant's dirs together; beyond it, after a step, the least recently used
  // dirs that no step holds are deleted.
  uint64_t max_bytes_per_tenant = uint64_t{10} << 30;
  // Retention deletes a dir unused this long.
  std::chrono::milliseconds max_unused = std::chrono::hours(24 * 7);
};

struct engine_options {
  // Paths may be relative: engine::open makes them absolute against the
  // current directory once, so every part of the engine sees the same path.
  std::string data_dir = "./data";        // RocksDB and per-build work dirs live here
  uint32_t executor_slots = 2;            // builds running at once
  size_t max_queued = 1024;               // queued builds beyond this: resource_exhausted
  bool sync = false;                      // fsync the WAL on every commit (WAL is always on)
  size_t scheduler_threads = 2;           // CAF worker threads
  platform_limits limits;                 // what requests are validated against
  size_t status_cache_bytes = 32u << 20;  // get_status_json answers kept (0: none)
  isolation isolation_mode = isolation::host;
  // "crun", "runc", "" (crun when it works here, else runc), or the absolute
  // path of an executable named crun or runc installed elsewhere.
  std::string oci_runtime;
  std::string images_dir;  // base images ("" = DATA/images); may be shared by engines
  std::string debian_mirror = default_debian_mirror;  // for debootstrap images
  std::string contexts_dir;  // uploaded build contexts ("" = DATA/contexts)
  // A Python package index for sandboxed build steps (nullspaced --pip-index-url):
  // every command step runs with PIP_INDEX_URL (and PIP_TRUSTED_HOST for an
  // http:// index) unless the build sets them itself. Not part of cache keys.
  std::string pip_index_url;
  // Dockerfile ADD <url>: a download larger than this fails its step.
  uint64_t max_download_bytes = uint64_t{2} << 30;
  retention_options retention;
  cache_mount_options cache_mounts;
  machine_options machines;
  // The tenants the embedder knows of (nullspaced: its API keys' tenants). Each
  // one's default namespace, its own name, is claimed for it at start-up, so no
  // other tenant can take it first.
  std::vector<std::string> tenants;
  // Milliseconds since the epoch, for retention; tests inject a fake clock.
  std::function<int64_t()> clock;
};

}  // namespace nullspace
