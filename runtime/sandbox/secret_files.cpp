#include "runtime/sandbox/secret_files.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>

namespace nullspace::runtime {
namespace {

bool on_memory_tmpfs(const std::string& path) {
  struct statfs sfs {};
  return statfs(path.c_str(), &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

}  // namespace

std::string write_secret_files(const std::string& dir, const secret_values_by_id& secrets) {
  auto parent = std::filesystem::path(dir).parent_path().string();
  if (!on_memory_tmpfs(parent)) return "secrets need a memory-backed tmpfs at " + parent;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (::mkdir(dir.c_str(), 0700) != 0) return "cannot create the secrets dir";
  for (auto& [id, value] : secrets) {
    int fd = ::open((dir + "/" + id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (fd < 0) return "cannot write secret file '" + id + "'";
    bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    ::close(fd);
    if (!ok) return "cannot write secret file '" + id + "'";
  }
  return {};
}

}  // namespace nullspace::runtime
