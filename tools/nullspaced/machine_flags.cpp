#include "tools/nullspaced/machine_flags.hpp"

#include "storage/common/absolute_path.hpp"

namespace nullspace::daemon {

void machine_flags::add_to(CLI::App& app, machine_options& o) {
  default_timeout_ms = static_cast<uint64_t>(o.default_timeout.count());
  max_timeout_ms = static_cast<uint64_t>(o.max_timeout.count());
  stop_grace_ms = static_cast<uint64_t>(o.stop_grace.count());
  retention_hours = static_cast<double>(o.retention.count()) / 3600e3;
  constexpr uint64_t day_ms = 24ull * 3600 * 1000;
  app.add_option("--max-machines", o.max_machines,
                 "machines alive at once, all tenants (429 beyond)")
      ->envname("NULLSPACE_MAX_MACHINES")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--max-machines-per-tenant", o.max_machines_per_tenant,
                 "machines alive at once per tenant (429 beyond)")
      ->envname("NULLSPACE_MAX_MACHINES_PER_TENANT")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--machine-timeout-ms", default_timeout_ms,
                 "a machine's lifetime when its create names no timeout_ms")
      ->envname("NULLSPACE_MACHINE_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{1000}, 365 * day_ms))
      ->capture_default_str();
  app.add_option("--machine-max-timeout-ms", max_timeout_ms,
                 "the longest timeout_ms a create or a timeout change may ask for")
      ->envname("NULLSPACE_MACHINE_MAX_TIMEOUT_MS")
      ->check(CLI::Range(uint64_t{1000}, 365 * day_ms))
      ->capture_default_str();
  app.add_option("--machine-stop-grace-ms", stop_grace_ms,
                 "between SIGTERM and SIGKILL when a machine stops")
      ->envname("NULLSPACE_MACHINE_STOP_GRACE_MS")
      ->check(CLI::Range(uint64_t{0}, uint64_t{600'000}))
      ->capture_default_str();
  app.add_option("--machine-retention-hours", retention_hours,
                 "how long a stopped machine's record and log stay readable")
      ->envname("NULLSPACE_MACHINE_RETENTION_HOURS")
      ->check(CLI::Range(0.0, 24.0 * 3650))
      ->capture_default_str();
  app.add_option("--machine-network-range", o.network_range,
                 "IPv4 range for machines' addresses (one /30 each), e.g. 10.88.0.0/16")
      ->envname("NULLSPACE_MACHINE_NETWORK_RANGE")
      ->capture_default_str();
  app.add_option("--machine-init", o.init_binary,
                 "the nullspace-init binary (default: next to nullspaced)")
      ->envname("NULLSPACE_INIT");
  app.add_option("--max-command-output-bytes", o.max_output_bytes,
                 "per command stream; beyond it output is marked truncated")
      ->envname("NULLSPACE_MAX_COMMAND_OUTPUT_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 34))
      ->capture_default_str();
  app.add_option("--max-file-bytes", o.max_file_bytes,
                 "one file read or written through the files API (413 beyond)")
      ->envname("NULLSPACE_MAX_FILE_BYTES")
      ->check(CLI::Range(size_t{1}, size_t{1} << 40))
      ->capture_default_str();
}

void machine_flags::apply(machine_options& o) const {
  o.default_timeout = std::chrono::milliseconds(default_timeout_ms);
  o.max_timeout = std::chrono::milliseconds(max_timeout_ms);
  o.stop_grace = std::chrono::milliseconds(stop_grace_ms);
  o.retention = std::chrono::milliseconds(static_cast<int64_t>(retention_hours * 3600e3));
  o.init_binary = absolute_path(o.init_binary);
}

}  // namespace nullspace::daemon
