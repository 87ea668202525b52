// HTTP and streaming counters, rendered with the engine's own statistics in the
// Prometheus text format (GET /metrics). Loop thread only: no locking.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "nullspace/engine.hpp"

namespace nullspace::api {

struct stream_gauges {
  uint64_t feeds = 0;    // builds with at least one HTTP follower (one engine subscription each)
  uint64_t clients = 0;  // SSE / NDJSON clients connected
  uint64_t waiters = 0;  // long-polls waiting
  uint64_t retained_bytes = 0;  // recent log chunks the feeds keep for late or lagging clients
};

struct server_gauges {
  size_t connections = 0;   // open HTTP connections
  size_t queued_bytes = 0;  // answer bytes written but not yet taken by the kernel, all connections
};

class http_metrics {
 public:
  static constexpr std::array<double, 14> buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30};

  void observe(const std::string& route, const std::string& method, int status, double seconds);
  void rejected(int status, const char* why);
  void slow_client_disconnected() { ++slow_disconnects_; }
  void events_sent(uint64_t n) { events_sent_ += n; }

  std::string render(const engine::stats& engine, const stream_gauges& streams,
                     const server_gauges& server) const;

  uint64_t slow_disconnects() const { return slow_disconnects_; }
  uint64_t events_sent() const { return events_sent_; }

 private:
  struct histogram {
    std::array<uint64_t, buckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // route, method, code
  std::map<std::string, histogram> latency_;                                // by route
  std::map<std::pair<int, std::string>, uint64_t> rejected_;
  uint64_t slow_disconnects_ = 0;
  uint64_t events_sent_ = 0;
};

}  // namespace nullspace::api
