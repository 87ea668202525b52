#include "runtime/machine/artifact_mounts.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/machine/machine_disk.hpp"
#include "runtime/sandbox/overlay.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

bool is_mount_point(const std::string& path) {
  struct stat st {
  }, parent{};
  if (::stat(path.c_str(), &st) != 0 || ::stat((path + "/..").c_str(), &parent) != 0) return false;
  return st.st_dev != parent.st_dev;
}

}  // namespace

result<std::string> artifact_mounts::acquire(const std::string& artifact_id,
                                             const std::string& image) {
  std::lock_guard lock(mu_);
  auto target = layout_.artifact_mount(artifact_id);
  if (!is_mount_point(target)) {
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) return make_error(errc::internal, "cannot create " + target + ": " + ec.message());
    if (auto m = mount_ext4_image(image, target, true); !m) return m.error();
  }
  ++refs_[artifact_id];
  return target;
}

void artifact_mounts::release(const std::string& artifact_id) {
  std::lock_guard lock(mu_);
  auto it = refs_.find(artifact_id);
  if (it != refs_.end() && --it->second > 0) return;
  if (it != refs_.end()) refs_.erase(it);
  unmount_locked(artifact_id);
}

void artifact_mounts::recount(const std::map<std::string, int>& machines_per_artifact) {
  std::lock_guard lock(mu_);
  refs_ = machines_per_artifact;
  std::error_code ec;
  auto dir = layout_.machines_dir() + "/.artifacts";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto id = it->path().filename().string();
    if (!refs_.contains(id)) unmount_locked(id);
  }
}

int artifact_mounts::references(const std::string& artifact_id) {
  std::lock_guard lock(mu_);
  auto it = refs_.find(artifact_id);
  return it == refs_.end() ? 0 : it->second;
}

void artifact_mounts::unmount_locked(const std::string& artifact_id) {
  auto target = layout_.artifact_mount(artifact_id);
  // Lazily if a machine's overlay still holds it; its loop device goes with
  // the last user (autoclear).
  unmount_quietly(target);
  ::rmdir(target.c_str());
}

}  // namespace nullspace::runtime
