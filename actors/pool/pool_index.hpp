// What the engine facade reads about live warm pools without asking an actor:
// one summary per live pool, written by that pool's actor on every change.
// A create naming only a template looks here for a pool serving its build
// (a tenant with no pool costs one map lookup), and /metrics reads the
// gauges. Thread-safe; a summary may trail its actor by one message, so it
// only ever chooses a pool to ask, never answers for one.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/pool.hpp"

namespace nullspace::actors {

class pool_index {
 public:
  struct entry {
    std::string id, tenant, name;
    pool_state state = pool_state::enabled;
    pool_counts counts;
    std::string serving_build;
  };

  void put(entry e) {
    std::lock_guard<std::mutex> g(mu_);
    auto [it, added] = by_id_.try_emplace(e.id);
    if (added) ++per_tenant_[e.tenant];
    it->second = std::move(e);
  }

  void erase(const std::string& id) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    if (--per_tenant_[it->second.tenant] == 0) per_tenant_.erase(it->second.tenant);
    by_id_.erase(it);
  }

  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    by_id_.clear();
    per_tenant_.clear();
  }

  bool tenant_has_pools(const std::string& tenant) const {
    std::lock_guard<std::mutex> g(mu_);
    return per_tenant_.count(tenant) != 0;
  }

  // The id of an enabled pool of `tenant` whose machines run `build` (the one
  // with the most ready machines), if any.
  std::optional<std::string> serving(const std::string& tenant, const std::string& build) const {
    std::lock_guard<std::mutex> g(mu_);
    const entry* best = nullptr;
    for (auto& [id, e] : by_id_)
      if (e.tenant == tenant && e.state == pool_state::enabled && e.serving_build == build &&
          (!best || e.counts.ready > best->counts.ready))
        best = &e;
    if (!best) return std::nullopt;
    return best->id;
  }

  std::vector<entry> all() const {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<entry> out;
    out.reserve(by_id_.size());
    for (auto& [id, e] : by_id_) out.push_back(e);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, entry> by_id_;
  std::map<std::string, size_t> per_tenant_;
};

}  // namespace nullspace::actors
