#include "runtime/sandbox/cache_mounts.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "runtime/sandbox/overlay.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

std::string key_hash(const std::string& key) {
  return sha256_hex(key).substr(0, 32);
}

bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// A fresh dir with the use's mode and owner (as BuildKit makes a cache dir).
bool make_dir(const std::string& dir, const cache_mount_use& use) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return false;
  return ::chmod(dir.c_str(), use.mode & 07777) == 0 &&
         (::chown(dir.c_str(), use.uid, use.gid) == 0 || (use.uid == 0 && use.gid == 0));
}

}  // namespace

cache_mount_store::cache_mount_store(std::string root, uint64_t max_bytes_per_tenant,
                                     std::function<int64_t()> clock)
    : root_(std::move(root)), max_bytes_(max_bytes_per_tenant), clock_(std::move(clock)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  // Deletions a crash interrupted.
  for (auto& d : fs::directory_iterator(root_, ec))
    if (d.path().filename().string().starts_with(".trash-")) remove_tree(d.path().string());
}

cache_mount_store::~cache_mount_store() {
  stop();
}

std::string cache_mount_store::tenant_dir(const std::string& tenant) const {
  return plain_name(tenant) ? tenant : "~" + key_hash(tenant);
}

std::string cache_mount_store::data_dir(const std::string& tenant, const std::string& key) const {
  return root_ + "/" + tenant_dir(tenant) + "/" + key_hash(key) + "/data";
}

cache_mount_store::tenant_entries& cache_mount_store::load(const std::string& td) {
  if (auto it = tenants_.find(td); it != tenants_.end()) return it->second;
  auto& entries = tenants_[td];
  std::error_code ec;
  auto dir = root_ + "/" + td;
  for (auto& d : fs::directory_iterator(dir, ec)) {
    auto name = d.path().filename().string();
    if (name.starts_with("private-")) {  // a step's own dir left by a crash
      remove_tree(d.path().string());
      continue;
    }
    entry e;
    std::istringstream meta(read_text_file(d.path().string() + "/meta"));
    if (meta >> e.last_used_ms >> e.bytes) {
      meta.get();
      std::getline(meta, e.key);
    } else {  // made, never released (a crash): measure it now
      e.bytes = tree_bytes(d.path().string() + "/data");
    }
    entries[name] = e;
  }
  return entries;
}

std::string cache_mount_store::set_aside(const std::string& dir) {
  auto aside = root_ + "/.trash-" + std::to_string(++seq_);
  std::error_code ec;
  fs::rename(dir, aside, ec);
  if (!ec) return aside;
  remove_tree(dir);  // could not rename: delete it before anyone can take it again
  return {};
}

void cache_mount_store::delete_dirs(const std::vector<std::string>& dirs) {
  for (auto& d : dirs)
    if (!d.empty()) remove_tree(d);
}

void cache_mount_store::write_meta(const std::string& td, const std::string& hash, const entry& e) {
  (void)write_text_file(
      root_ + "/" + td + "/" + hash + "/meta",
      std::to_string(e.last_used_ms) + " " + std::to_string(e.bytes) + "\n" + e.key);
}

result<std::vector<std::string>> cache_mount_store::acquire(
    const std::string& lease_name, const std::string& build, const std::string& tenant,
    const std::vector<cache_mount_use>& uses) {
  release(lease_name);  // an earlier attempt at the same step
  auto td = tenant_dir(tenant);
  // One use per key: the first names its sharing.
  std::vector<const cache_mount_use*> unique;
  for (auto& u : uses)
    if (std::none_of(unique.begin(), unique.end(), [&](auto* o) { return o->key == u.key; }))
      unique.push_back(&u);

  std::unique_lock lock(mtx_);
  for (;;) {
    if (stopped_ || abandoned_.count(build))
      return make_error(errc::unavailable, "the build stopped while waiting for its cache mounts");
    auto& entries = load(td);
    bool free = std::all_of(unique.begin(), unique.end(), [&](auto* u) {
      auto it = entries.find(key_hash(u->key));
      if (it == entries.end()) return true;
      switch (u->sharing) {
        case cache_sharing::shared:
          return !it->second.exclusive;
        case cache_sharing::locked:
          return it->second.holders == 0;
        case cache_sharing::private_dir:
          return true;
      }
      return true;
    });
    if (free) break;
    for (auto* u : unique) ++waiting_[td + "/" + key_hash(u->key)];
    released_.wait(lock);
    for (auto* u : unique)
      if (--waiting_[td + "/" + key_hash(u->key)] == 0) waiting_.erase(td + "/" + key_hash(u->key));
  }

  auto& entries = load(td);
  lease l;
  l.build = build;
  std::map<std::string, std::string> path_of;  // key -> host dir
  for (auto* u : unique) {
    auto hash = key_hash(u->key);
    held h{td, hash, {}};
    auto it = entries.find(hash);
    if (u->sharing == cache_sharing::private_dir && it != entries.end() && it->second.holders > 0) {
      h.private_dir = root_ + "/" + td + "/private-" + std::to_string(++seq_);
      if (!make_dir(h.private_dir, *u)) {
        leases_.emplace(lease_name, std::move(l));
        lock.unlock();
        release(lease_name);
        return make_error(errc::internal, "cannot create a private cache dir for " + u->target);
      }
      path_of[u->key] = h.private_dir;
    } else {
      auto& e = entries[hash];
      auto data = root_ + "/" + td + "/" + hash + "/data";
      if (!fs::is_directory(data) && !make_dir(data, *u)) {
        if (e.holders == 0) entries.erase(hash);
        leases_.emplace(lease_name, std::move(l));
        lock.unlock();
        release(lease_name);
        return make_error(errc::internal, "cannot create the cache dir for " + u->target);
      }
      e.key = u->key;
      ++e.holders;
      e.exclusive = e.exclusive || u->sharing != cache_sharing::shared;
      path_of[u->key] = data;
    }
    l.dirs.push_back(std::move(h));
  }
  leases_.emplace(lease_name, std::move(l));
  std::vector<std::string> out;
  for (auto& u : uses) out.push_back(path_of[u.key]);
  return out;
}

void cache_mount_store::release(const std::string& lease_name) {
  std::vector<std::string> doomed;
  std::vector<held> measure;
  {
    std::lock_guard g(mtx_);
    auto it = leases_.find(lease_name);
    if (it == leases_.end()) return;
    for (auto& h : it->second.dirs) {
      if (!h.private_dir.empty()) {
        doomed.push_back(set_aside(h.private_dir));
        continue;
      }
      auto& entries = load(h.tenant);
      auto e = entries.find(h.hash);
      if (e == entries.end()) continue;
      if (--e->second.holders == 0) e->second.exclusive = false;
      e->second.last_used_ms = clock_();
      e->second.use_seq = ++seq_;
      measure.push_back(h);
    }
    leases_.erase(it);
  }
  released_.notify_all();
  delete_dirs(doomed);
  // Sizes are measured unlocked (a big dir takes a while); the entry may have
  // been pruned meanwhile, then the measure is dropped.
  std::vector<std::pair<held, uint64_t>> sizes;
  for (auto& h : measure)
    sizes.emplace_back(h, tree_bytes(root_ + "/" + h.tenant + "/" + h.hash + "/data"));
  std::set<std::string> tenants;
  {
    std::lock_guard g(mtx_);
    for (auto& [h, bytes] : sizes) {
      auto& entries = load(h.tenant);
      auto e = entries.find(h.hash);
      if (e == entries.end()) continue;
      e->second.bytes = bytes;
      write_meta(h.tenant, h.hash, e->second);
      tenants.insert(h.tenant);
    }
    for (auto& td : tenants) {
      auto victims = evict(td, load(td));
      doomed.insert(doomed.end(), victims.begin(), victims.end());
    }
  }
  delete_dirs(doomed);
}

std::vector<std::string> cache_mount_store::evict(const std::string& td, tenant_entries& entries) {
  uint64_t total = 0;
  std::vector<std::map<std::string, entry>::iterator> idle;
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    total += it->second.bytes;
    if (it->second.holders == 0) idle.push_back(it);
  }
  std::sort(idle.begin(), idle.end(), [](auto a, auto b) {
    return std::pair{a->second.last_used_ms, a->second.use_seq} <
           std::pair{b->second.last_used_ms, b->second.use_seq};
  });
  std::vector<std::string> victims;
  for (auto it : idle) {
    if (total <= max_bytes_) break;
    total -= it->second.bytes;
    victims.push_back(set_aside(root_ + "/" + td + "/" + it->first));
    entries.erase(it);
  }
  return victims;
}

void cache_mount_store::release_build(const std::string& build) {
  std::vector<std::string> names;
  {
    std::lock_guard g(mtx_);
    abandoned_.erase(build);
    for (auto& [name, l] : leases_)
      if (l.build == build) names.push_back(name);
  }
  for (auto& n : names) release(n);
}

void cache_mount_store::abandon(const std::string& build) {
  {
    std::lock_guard g(mtx_);
    abandoned_.insert(build);
  }
  released_.notify_all();
}

void cache_mount_store::stop() {
  {
    std::lock_guard g(mtx_);
    stopped_ = true;
  }
  released_.notify_all();
}

void cache_mount_store::remove_unheld(const std::string& tenant_dir, tenant_entries& entries,
                                      const std::function<bool(const entry&)>& unused_enough,
                                      cache_prune_summary& out, std::vector<std::string>& doomed) {
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->second.holders > 0 || !unused_enough(it->second)) {
      out.in_use += it->second.holders > 0;
      ++it;
      continue;
    }
    ++out.removed;
    out.bytes += it->second.bytes;
    doomed.push_back(set_aside(root_ + "/" + tenant_dir + "/" + it->first));
    it = entries.erase(it);
  }
}

cache_prune_summary cache_mount_store::prune(const std::string& tenant) {
  cache_prune_summary out;
  std::vector<std::string> doomed;
  {
    std::lock_guard g(mtx_);
    auto td = tenant_dir(tenant);
    remove_unheld(
        td, load(td), [](const entry&) { return true; }, out, doomed);
  }
  delete_dirs(doomed);
  return out;
}

cache_prune_summary cache_mount_store::expire(int64_t before_ms) {
  cache_prune_summary out;
  std::vector<std::string> doomed;
  {
    std::lock_guard g(mtx_);
    std::error_code ec;
    for (auto& d : fs::directory_iterator(root_, ec))
      if (!d.path().filename().string().starts_with(".trash-")) load(d.path().filename().string());
    for (auto& [td, entries] : tenants_)
      remove_unheld(
          td, entries, [&](const entry& e) { return e.last_used_ms < before_ms; }, out, doomed);
  }
  delete_dirs(doomed);
  return out;
}

std::vector<cache_mount_info> cache_mount_store::list(const std::string& tenant) {
  std::lock_guard g(mtx_);
  auto td = tenant_dir(tenant);
  std::vector<cache_mount_info> out;
  for (auto& [hash, e] : load(td)) {
    auto w = waiting_.find(td + "/" + hash);
    out.push_back({e.key, root_ + "/" + td + "/" + hash + "/data", e.bytes, e.last_used_ms,
                   e.holders, w == waiting_.end() ? 0u : w->second});
  }
  return out;
}

}  // namespace nullspace::runtime
