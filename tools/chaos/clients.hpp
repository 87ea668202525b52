// The harness's HTTP clients of one daemon: submits with Idempotency-Keys,
// SSE followers, status pollers, NDJSON replays, machines. Each records what
// it was shown in `records` and returns quietly when the daemon dies under it
// (the point of the harness); violations go to `violations`.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tools/chaos/records.hpp"

namespace nullspace::chaos {

class violations {
 public:
  void add(std::string what);
  std::vector<std::string> all() const;
  bool empty() const;

 private:
  mutable std::mutex mtx_;
  std::vector<std::string> list_;
};

// The answer of one request: status 0 when the connection failed or the
// daemon died before answering.
struct answer {
  int status = 0;
  std::string body;
};
answer request(uint16_t port, const std::string& method, const std::string& target,
               const std::string& body = {}, const std::string& idempotency_key = {});

// A string / unsigned field of a JSON body by dotted path, or "" / nullopt.
std::string json_string(const std::string& body, const std::string& path);
std::optional<uint64_t> json_number(const std::string& body, const std::string& path);

// POSTs submit `index` of `recs` (its key and body); true once acknowledged.
bool submit(uint16_t port, records& recs, size_t index);

// Follows a build's SSE stream from `from` (Last-Event-ID from - 1) until its
// end event or the daemon's death.
void follow(uint16_t port, records& recs, violations& v, const std::string& build, uint64_t from,
            const std::atomic<bool>& stop);

// One status poll of `build` from `offset`: the entries it was shown are
// recorded; false if the daemon did not answer.
bool poll_once(uint16_t port, records& recs, violations& v, const std::string& build,
               uint64_t offset);

// A whole-log replay (NDJSON, no follow) checked against the records: dense
// offsets, the bytes every earlier look saw, nothing a look saw missing.
struct replay_result {
  bool answered = false;
  bool terminal = false;
  std::string status;  // the build's status when terminal
  uint64_t entries = 0;
};
replay_result verify_log(uint16_t port, records& recs, violations& v, const std::string& build);

}  // namespace nullspace::chaos
