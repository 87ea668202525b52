// Persistent cache mounts (Dockerfile RUN --mount=type=cache): per-tenant
// directories on the host, kept between builds and bound read-write into the
// steps that name them. Never part of a layer (a bind mount's writes go to the
// host dir, not the step's upper dir) nor of a cache key (keys hash the
// instruction, never these contents).
//
// On disk, under `root` (DATA/cache-mounts):
//   <tenant>/<key hash>/data     what the step sees at its target
//   <tenant>/<key hash>/meta     "<last used ms> <bytes>\n<key>" (the key: the id, or the target)
//   <tenant>/private-<n>/        a private mount's own dir while its step runs (then dropped)
//   .trash-<n>/                  a dir being deleted (renamed aside first)
// <tenant> is the tenant's name when it is [A-Za-z0-9_-]{1,64}, else "~" + a hash of it.
//
// Sharing (as BuildKit's):
//   shared   concurrent steps use the same dir (the default);
//   locked   one step at a time: others wait until it is released;
//   private  a step gets the dir when nobody holds it, else a fresh empty dir
//            of its own that is dropped when the step ends.
// A step takes all its mounts at once (it waits until every one is free), so
// steps never hold one while waiting for another and cannot deadlock each
// other; a step naming one key twice takes it once.
//
// Bounded: after a step releases its mounts, the tenant's dirs that nobody holds
// are evicted least recently used first until the tenant's total fits
// max_bytes_per_tenant. Sizes are measured when a dir is released.
//
// Thread-safe. acquire() blocks (it may wait for a locked dir): call it from
// a detached actor or a plain thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

enum class cache_sharing { shared, locked, private_dir };

struct cache_mount_use {
  std::string key;     // the mount's id, or its target when it has none
  std::string target;  // absolute, in the container
  cache_sharing sharing = cache_sharing::shared;
  bool readonly = false;
  uint32_t mode = 0755, uid = 0, gid = 0;  // of the dir when it is made
};

// What prune() or expire() removed.
struct cache_prune_summary {
  uint32_t removed = 0;  // dirs deleted
  uint64_t bytes = 0;    // their size when last released
  uint32_t in_use = 0;   // dirs kept because a step held them
};

// One dir as list() shows it.
struct cache_mount_info {
  std::string key;
  std::string path;  // its data dir on the host
  uint64_t bytes = 0;
  int64_t last_used_ms = 0;
  uint32_t holders = 0;  // steps using it now
  uint32_t waiting = 0;  // steps waiting for it (a locked one held)
};

class cache_mount_store {
 public:
  // `clock`: ms since the epoch (the engine's, so tests can move it).
  cache_mount_store(std::string root, uint64_t max_bytes_per_tenant,
                    std::function<int64_t()> clock);
  ~cache_mount_store();
  cache_mount_store(const cache_mount_store&) = delete;
  cache_mount_store& operator=(const cache_mount_store&) = delete;

  // Takes `uses` for the lease `lease` (one per step) of `build`, waiting
  // while a locked one is held. Answers the host dir for each use, in order.
  // Fails (cancelled) when abandon(build) or stop() is called while it waits.
  result<std::vector<std::string>> acquire(const std::string& lease, const std::string& build,
                                           const std::string& tenant,
                                           const std::vector<cache_mount_use>& uses);
  // Gives the lease's dirs back: their sizes and last use are recorded, private
  // dirs dropped, and the tenant's dirs evicted down to the bound. Idempotent.
  void release(const std::string& lease);
  // Every lease of `build` released, and its waits no longer failed.
  void release_build(const std::string& build);
  // A waiting acquire() of `build` fails (its build was cancelled), and so do
  // later ones until release_build(build).
  void abandon(const std::string& build);
  // Every waiting and later acquire() fails (the engine is shutting down).
  void stop();

  // Deletes the tenant's dirs that nobody holds.
  cache_prune_summary prune(const std::string& tenant);
  // Deletes every tenant's dirs that nobody holds and that were last used
  // before `before_ms` (retention).
  cache_prune_summary expire(int64_t before_ms);
  std::vector<cache_mount_info> list(const std::string& tenant);

  // The data dir that `key` of `tenant` has or would have.
  std::string data_dir(const std::string& tenant, const std::string& key) const;
  uint64_t max_bytes_per_tenant() const { return max_bytes_; }

 private:
  struct entry {
    std::string key;
    uint64_t bytes = 0;
    int64_t last_used_ms = 0;
    uint64_t use_seq = 0;  // orders uses within one clock tick
    uint32_t holders = 0;
    bool exclusive = false;  // held by a locked or private use
  };
  struct held {
    std::string tenant, hash;
    std::string private_dir;  // set when the use got a dir of its own
  };
  struct lease {
    std::string build;
    std::vector<held> dirs;
  };
  using tenant_entries = std::map<std::string, entry>;  // by key hash

  tenant_entries& load(const std::string& tenant_dir);  // mtx_ held
  std::string tenant_dir(const std::string& tenant) const;
  // Renames `dir` aside (mtx_ held); the caller deletes what it returns, unlocked.
  std::string set_aside(const std::string& dir);
  void write_meta(const std::string& tenant_dir, const std::string& hash, const entry& e);
  // Takes the entries nobody holds, LRU first, until the tenant fits (mtx_ held).
  std::vector<std::string> evict(const std::string& tenant_dir, tenant_entries& entries);
  void delete_dirs(const std::vector<std::string>& dirs);
  // Sets aside the entries of `tenant_dir` that no step holds and `unused_enough`
  // accepts, counting them (and the held ones) in `out` (mtx_ held).
  void remove_unheld(const std::string& tenant_dir, tenant_entries& entries,
                     const std::function<bool(const entry&)>& unused_enough,
                     cache_prune_summary& out, std::vector<std::string>& doomed);

  std::string root_;
  uint64_t max_bytes_;
  std::function<int64_t()> clock_;
  std::mutex mtx_;
  std::condition_variable released_;
  std::map<std::string, tenant_entries> tenants_;  // loaded from disk on first use
  std::map<std::string, lease> leases_;
  std::set<std::string> abandoned_;
  std::map<std::string, uint32_t> waiting_;  // "<tenant dir>/<hash>" -> steps waiting for it
  bool stopped_ = false;
  uint64_t seq_ = 0;
};

}  // namespace nullspace::runtime
