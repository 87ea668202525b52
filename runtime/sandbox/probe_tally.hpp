// When a ready check has failed, by Docker's HEALTHCHECK rule, shared by
// builds (actors/build/build_finalize.cpp) and machines
// (actors/machine/machine_actor.cpp).
//
// A check with `retries` (a Dockerfile HEALTHCHECK: the frontend fills in
// Docker's defaults) fails once `retries` probes in a row failed that count:
// a probe counts when it starts after the start period and at least
// `interval` after the last one that counted (Docker probes every interval;
// we probe every 250 ms so a passing check is seen at once, and only the
// probes Docker would have run count against it). A check without `retries`
// (builder.ready) never fails this way: it has until its ready deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

class probe_tally {
 public:
  explicit probe_tally(const ready_check& check) : check_(check) {}

  // One probe's outcome; `started_ms` counts from when the start command started.
  void record(bool passed, int64_t started_ms);

  bool failed() const { return check_.retries != 0 && failures_ >= check_.retries; }
  uint32_t probes() const { return probes_; }
  uint32_t counted_failures() const { return failures_; }

  // "2 probes in a row failed after the start period (HEALTHCHECK --retries=2;
  // 5 probes in all)".
  std::string failure_summary() const;

 private:
  ready_check check_;
  uint32_t probes_ = 0, failures_ = 0;
  int64_t last_counted_ms_ = 0;  // the start command's start before any counted
};

// How long one command probe may run before its process tree is killed and
// it counts as failed: the check's timeout (HEALTHCHECK --timeout), else
// `fallback`.
std::chrono::milliseconds command_probe_timeout(const ready_check& check,
                                                std::chrono::milliseconds fallback);

}  // namespace nullspace::runtime
