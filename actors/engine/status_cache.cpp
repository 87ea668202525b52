#include "actors/engine/status_cache.hpp"

namespace nullspace {

std::string status_cache::key(std::string_view id, uint64_t offset, size_t limit) {
  std::string k(id);
  k.push_back('\0');
  k += std::to_string(offset);
  k.push_back('\0');
  k += std::to_string(limit);
  return k;
}

std::optional<cached_status> status_cache::find(const std::string& key, uint64_t generation) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  if (it->second->value.generation != generation) {
    // Stale for good: generations only move forward.
    bytes_ -= it->second->bytes;
    auto node_it = it->second;
    index_.erase(it);
    lru_.erase(node_it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void status_cache::put(std::string key, cached_status value) {
  size_t bytes = key.size() + value.tenant.size() + (value.body ? value.body->size() : 0) + 96;
  if (bytes > max_bytes_) return;  // larger than the whole cache: not worth holding
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes;
    auto node_it = it->second;
    index_.erase(it);
    lru_.erase(node_it);
  }
  lru_.push_front(node{std::move(key), std::move(value), bytes});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += bytes;
  evict_locked();
}

void status_cache::evict_locked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    auto& last = lru_.back();
    bytes_ -= last.bytes;
    index_.erase(last.key);
    lru_.pop_back();
  }
}

size_t status_cache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t status_cache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace nullspace
