// Checkouts for /metrics: how creates that involved a warm pool were served
// (hit, fallback, bypass, and `empty`: a require that got no machine), and
// the latency of hits at the orchestrator (create_machine_async entry to the
// checked-out machine's reply) as a histogram. Thread-safe: the engine
// facade's callbacks write, current_stats reads.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace nullspace::actors {

class checkout_counters {
 public:
  // Upper bounds (ms) of the hit latency histogram's buckets.
  static constexpr std::array<double, 10> bounds = {1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000};

  enum class outcome { hit, fallback, bypass, empty };

  void count(outcome o) {
    std::lock_guard<std::mutex> g(mu_);
    ++by_outcome_[static_cast<size_t>(o)];
  }
  // A hit and its latency.
  void observe_hit(double ms) {
    std::lock_guard<std::mutex> g(mu_);
    ++by_outcome_[static_cast<size_t>(outcome::hit)];
    for (size_t i = 0; i < bounds.size(); ++i)
      if (ms <= bounds[i]) ++buckets_[i];
    ++count_;
    sum_ms_ += ms;
  }

  struct snapshot {
    std::array<uint64_t, 4> by_outcome{};  // index: outcome
    std::vector<uint64_t> buckets;         // cumulative: hits at or under each bound
    uint64_t count = 0;
    double sum_ms = 0;
  };
  snapshot read() const {
    std::lock_guard<std::mutex> g(mu_);
    return {by_outcome_, std::vector<uint64_t>(buckets_.begin(), buckets_.end()), count_, sum_ms_};
  }

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, 4> by_outcome_{};
  std::array<uint64_t, bounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ms_ = 0;
};

}  // namespace nullspace::actors
