#include "runtime/sandbox/probe_tally.hpp"

namespace nullspace::runtime {

void probe_tally::record(bool passed, int64_t started_ms) {
  ++probes_;
  if (passed) {
    failures_ = 0;
    return;
  }
  if (check_.retries == 0 || started_ms < int64_t{check_.start_period_ms}) return;
  if (started_ms - last_counted_ms_ < int64_t{check_.interval_ms}) return;
  last_counted_ms_ = started_ms;
  ++failures_;
}

std::string probe_tally::failure_summary() const {
  return std::to_string(failures_) + " probes in a row failed after the start period " +
         "(HEALTHCHECK --retries=" + std::to_string(check_.retries) + "; " +
         std::to_string(probes_) + " probes in all)";
}

std::chrono::milliseconds command_probe_timeout(const ready_check& check,
                                                std::chrono::milliseconds fallback) {
  return check.timeout_ms ? std::chrono::milliseconds(check.timeout_ms) : fallback;
}

}  // namespace nullspace::runtime
