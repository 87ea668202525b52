// Recently served get_status answers, already encoded as the API's JSON, kept
// while their build is unchanged. Polling clients ask for the same (build,
// offset, limit) again and again; a hit costs one lookup instead of three
// RocksDB reads, a record decode and a JSON encode.
//
// Validity comes from the store's change generations (store::generation): an
// entry remembers the generation read before its data, and a lookup with any
// other generation is a miss. Bounded by bytes, least recently used out first.
// Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/build_record.hpp"

namespace nullspace {

struct cached_status {
  uint64_t generation = 0;
  std::string tenant;
  std::shared_ptr<const std::string> body;  // {"build":…,"logs":[…],"next_offset":K}
  storage::build_status status{};
  size_t entries = 0;  // log entries in the body
};

class status_cache {
 public:
  explicit status_cache(size_t max_bytes) : max_bytes_(max_bytes) {}

  static std::string key(std::string_view id, uint64_t offset, size_t limit);

  // The entry under `key` if it was stored at `generation`.
  std::optional<cached_status> find(const std::string& key, uint64_t generation);
  void put(std::string key, cached_status value);

  size_t bytes() const;
  size_t size() const;

 private:
  struct node {
    std::string key;
    cached_status value;
    size_t bytes = 0;
  };
  void evict_locked();

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<node> lru_;  // front: most recently used
  std::unordered_map<std::string_view, std::list<node>::iterator> index_;  // views into lru_ keys
  size_t bytes_ = 0;
};

}  // namespace nullspace
