// An Idempotency-Key a create request came with (POST /v1/builds,
// POST /v1/machines): which object the first request made and a digest of
// what it asked for, so a retry gets the same object and a different request
// under the same key is refused. Stored in the meta column family in the
// same batch as the object's first record (storage/store.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nullspace::storage {

struct idempotency_record {
  std::string kind;          // "build" or "machine": keys of the two routes never meet
  std::string tenant;        // keys are per tenant
  std::string key;           // the header's value (1-255 printable ASCII, no spaces)
  std::string request_hash;  // sha256 of the request's stored (sanitized) form
  std::string object_id;     // the build or machine the first request made
  int64_t expires_ms = 0;    // retention deletes the row then
};

// value: <request_hash>\t<object_id>\t<expires_ms>
std::string encode_idempotency_value(const idempotency_record& r);
// Fills hash, object id and expiry of `r` from a stored value; false if it is
// not one.
bool decode_idempotency_value(std::string_view v, idempotency_record& r);

}  // namespace nullspace::storage
