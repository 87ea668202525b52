// Counters about machines that /metrics shows: create-to-ready latency (a
// histogram) and commands run. Thread-safe: machine actors write, the engine
// facade reads.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace nullspace::actors {

class machine_counters {
 public:
  // Upper bounds (ms) of the create-to-ready histogram's buckets.
  static constexpr std::array<double, 10> bounds = {50,   100,  250,   500,   1000,
                                                    2500, 5000, 10000, 30000, 60000};

  void observe_ready(int64_t ms) {
    std::lock_guard<std::mutex> g(mu_);
    for (size_t i = 0; i < bounds.size(); ++i)
      if (static_cast<double>(ms) <= bounds[i]) ++buckets_[i];
    ++count_;
    sum_ms_ += static_cast<double>(ms);
  }
  void command_run() {
    std::lock_guard<std::mutex> g(mu_);
    ++commands_;
  }

  struct snapshot {
    std::vector<uint64_t> buckets;  // cumulative: count of creates at or under each bound
    uint64_t count = 0;
    double sum_ms = 0;
    uint64_t commands = 0;
  };
  snapshot read() const {
    std::lock_guard<std::mutex> g(mu_);
    return {std::vector<uint64_t>(buckets_.begin(), buckets_.end()), count_, sum_ms_, commands_};
  }

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, bounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ms_ = 0;
  uint64_t commands_ = 0;
};

}  // namespace nullspace::actors
