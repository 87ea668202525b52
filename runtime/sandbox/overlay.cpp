#include "runtime/sandbox/overlay.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

namespace nullspace::runtime {
namespace fs = std::filesystem;

result<bool> mount_overlay(const std::vector<std::string>& lowers, const std::string& upper,
                           const std::string& work, const std::string& target, bool unsynced) {
  if (lowers.empty()) return make_error(errc::internal, "an overlay needs at least one layer");
  if (upper.empty() && lowers.size() < 2)
    return make_error(errc::internal, "a read-only overlay needs at least two layers");
  std::vector<int> fds;
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  std::string opts = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    int fd = ::open(lowers[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      close_all();
      return make_error(errc::internal, "layer " + lowers[i] + ": " + std::strerror(err));
    }
    fds.push_back(fd);
    if (i) opts += ':';
    opts += "/proc/self/fd/" + std::to_string(fd);
  }
  if (!upper.empty()) opts += ",upperdir=" + upper + ",workdir=" + work;
  int rc = -1, err = 0;
  if (unsynced && !upper.empty()) {
    rc = ::mount("overlay", target.c_str(), "overlay", 0, (opts + ",volatile").c_str());
    err = errno;
  }
  if (rc != 0 && (!unsynced || upper.empty() || err == EINVAL)) {  // EINVAL: before Linux 5.10
    rc = ::mount("overlay", target.c_str(), "overlay", 0, opts.c_str());
    err = errno;
  }
  close_all();
  if (rc != 0)
    return make_error(errc::internal,
                      "cannot mount the layer stack at " + target + ": " + std::strerror(err));
  return true;
}

namespace {
std::atomic<uint64_t> syncs_made{0};
}  // namespace

uint64_t filesystem_syncs() {
  return syncs_made.load(std::memory_order_relaxed);
}

result<bool> sync_filesystem_of(const std::string& path) {
  syncs_made.fetch_add(1, std::memory_order_relaxed);
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::internal, "cannot open " + path + ": " + std::strerror(errno));
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return make_error(errc::internal, "cannot sync " + path + ": " + std::strerror(err));
  return true;
}

void unmount_quietly(const std::string& target) {
  if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return;
  if (errno == EBUSY) ::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

uint64_t tree_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    auto st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_regular_file(st)) {
      auto n = it->file_size(ec);
      if (!ec) total += n;
      ec.clear();
    } else if (fs::is_symlink(st)) {
      total += 64;  // about what a symlink costs in a filesystem image
    }
  }
  return total;
}

namespace {

// Whether `path` is the root of a mount; nullopt if the kernel does not say.
std::optional<bool> is_mount_root(const fs::path& path) {
  struct statx sx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_TYPE, &sx) !=
      0)
    return errno == ENOENT ? std::optional<bool>(false) : std::nullopt;
  if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return std::nullopt;
  return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

// The mounts at or below `dir`, found by walking it (statx says which entry is
// the root of a mount; the walk does not enter one: a mount on a mount goes
// with it, unmount_quietly detaches lazily). Nullopt if the walk cannot tell.
// Reading the mount table instead costs O(mounts on the host) per call, each
// overlay's long options included: with a few hundred builds at once, each
// with its mounts, that made every build's clean-up slower with their number.
std::optional<std::vector<std::string>> mounts_by_walk(const std::string& dir) {
  std::vector<std::string> found;
  auto root = is_mount_root(dir);
  if (!root) return std::nullopt;
  if (*root) return std::vector<std::string>{dir};
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return ec == std::errc::no_such_file_or_directory ? std::optional(found) : std::nullopt;
  for (; it != end; it.increment(ec)) {
    if (ec) return std::nullopt;
    auto m = is_mount_root(it->path());
    if (!m) return std::nullopt;
    if (*m) {
      found.push_back(it->path().string());
      it.disable_recursion_pending();
    }
  }
  if (ec) return std::nullopt;
  return found;
}

// The same from the mount table, deepest first.
std::vector<std::string> mounts_from_table(const std::string& dir) {
  std::vector<std::string> below;
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, point, rest;
  auto prefix = fs::weakly_canonical(dir).string() + "/";
  while (mounts >> dev >> point && std::getline(mounts, rest))
    if ((point + "/").starts_with(prefix)) below.push_back(point);
  std::sort(below.begin(), below.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
  return below;
}

}  // namespace

void remove_tree(const std::string& dir) {
  // Mount points below `dir` go first: remove_all must never descend into a
  // still-mounted layer stack or a bound secrets dir.
  auto below = mounts_by_walk(dir);
  if (!below) below = mounts_from_table(dir);
  for (auto& p : *below) unmount_quietly(p);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace nullspace::runtime
