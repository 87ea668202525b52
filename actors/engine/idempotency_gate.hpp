// Idempotency-Key for creates (POST /v1/builds, POST /v1/machines; API.md,
// "Idempotency"). The facade asks the gate before it creates anything:
//   - the key was stored (same tenant, same kind, not expired) with the same
//     request digest: replay, the answer is the object it made;
//   - stored with another digest: 409 idempotency_key_reused;
//   - a request with the key is still being created: 409 idempotency_key_in_use
//     (the client retries; the first one's answer is what it will then get);
//   - else: proceed. The creating actor writes the key's row in the same batch
//     as the object's first record (storage/idempotency_record.hpp), so a crash
//     can never leave an object without its key or a key without its object.
// Thread-safe: facade calls come from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "nullspace/error.hpp"
#include "nullspace/machine.hpp"
#include "storage/store.hpp"

namespace nullspace::actors {

// 1-255 bytes of printable ASCII without spaces (0x21-0x7e), else 400.
std::optional<error> check_idempotency_key(std::string_view key);

// What "the same request" means: a digest of the request's stored form. A
// build's is its sanitized definition (secret values are "***": never
// hashed, never stored); a machine's covers every field but env values
// (credentials, kept in memory only), whose names it covers.
std::string machine_request_digest(const machine_request& r);

// The row a creating actor writes (object_id filled in by it), or nullopt
// without a key.
std::optional<storage::idempotency_record> idempotency_row(std::string_view kind,
                                                           std::string_view tenant,
                                                           std::string_view key, std::string digest,
                                                           int64_t now_ms, int64_t ttl_ms);

class idempotency_gate {
 public:
  struct decision {
    std::optional<error> refused;  // 409 reused / in use
    std::string replay_id;         // non-empty: answer with this object
    bool proceed() const { return !refused && replay_id.empty(); }
  };
  // On proceed the key is held until end() (call it once the create answered).
  decision begin(const storage::store& db, const storage::idempotency_record& row, int64_t now_ms);
  void end(const storage::idempotency_record& row);

 private:
  static std::string held_key(const storage::idempotency_record& r);
  std::mutex mtx_;
  std::set<std::string> held_;
};

}  // namespace nullspace::actors
