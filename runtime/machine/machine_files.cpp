#include "runtime/machine/machine_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

namespace {

constexpr size_t max_path = 4096;

unique_fd open_in(int root, const std::string& path, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return unique_fd(static_cast<int>(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how)));
}

error file_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return make_error(errc::not_found, path + ": no such file or directory", "path");
    case ENOTDIR:
      return make_error(errc::failed_precondition, path + ": a path component is not a directory",
                        "path");
    case EISDIR:
      return make_error(errc::failed_precondition, path + " is a directory", "path");
    case ENOSPC:
    case EDQUOT:
      return make_error(errc::resource_exhausted,
                        "no space left on the machine's disk (writing " + path + ")");
    case ELOOP:
      return make_error(errc::invalid_argument, path + ": too many levels of symbolic links",
                        "path");
    case EXDEV:
      return make_error(errc::invalid_argument, path + ": leads through a /proc link", "path");
    case ENOTEMPTY:
      return make_error(errc::failed_precondition, path + " is a directory that is not empty",
                        "path");
    case EROFS:
    case EACCES:
    case EPERM:
      return make_error(errc::failed_precondition, path + ": " + std::strerror(err), "path");
    default:
      return make_error(errc::internal, path + ": " + std::strerror(err), "path");
  }
}

result<bool> check_path(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return make_error(errc::invalid_argument, "a path inside the machine must be absolute", "path");
  if (path.size() > max_path || path.find('\0') != std::string::npos)
    return make_error(errc::invalid_argument, "not a valid path", "path");
  return true;
}

// "/a/b/c" -> ("/a/b", "c"); trailing slashes dropped. The name is empty for
// the root, or "."/".." for paths that do not name an entry.
std::pair<std::string, std::string> split(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  auto parent = slash == 0 ? std::string("/") : path.substr(0, slash);
  return {parent, path.substr(slash + 1)};
}

bool names_an_entry(const std::string& name) {
  return !name.empty() && name != "." && name != "..";
}

file_entry entry_of(const std::string& name, const struct stat& st) {
  file_entry e;
  e.name = name;
  e.type = S_ISREG(st.st_mode)   ? file_entry::kind::file
           : S_ISDIR(st.st_mode) ? file_entry::kind::dir
           : S_ISLNK(st.st_mode) ? file_entry::kind::symlink
                                 : file_entry::kind::other;
  e.size = static_cast<uint64_t>(st.st_size);
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  return e;
}

// Kernel file systems of the machine (its /proc, /sys) are not for writing.
bool on_kernel_fs(int fd) {
  struct statfs st {};
  if (::fstatfs(fd, &st) != 0) return true;
  return st.f_type == PROC_SUPER_MAGIC || st.f_type == SYSFS_MAGIC;
}

// The directory a change happens in, refusing the kernel's file systems.
result<unique_fd> open_parent(int root, const std::string& path, const std::string& parent) {
  auto dir = open_in(root, parent, O_PATH | O_DIRECTORY);
  if (!dir) return file_error(parent, errno);
  if (on_kernel_fs(dir.get()))
    return make_error(errc::failed_precondition, path + " is on a kernel file system (/proc, /sys)",
                      "path");
  return dir;
}

std::string temp_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, ".nullspace-write-%016llx",
                static_cast<unsigned long long>(rng()));
  return buf;
}

result<bool> write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return file_error(path, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return true;
}

// Removes `name` in `parent` and, for a directory, everything below it,
// without following symlinks and without crossing into other mounts.
int remove_tree_at(int parent, const std::string& name, dev_t dev) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ::unlinkat(parent, name.c_str(), 0) == 0 ? 0 : errno;
  if (st.st_dev != dev) return EBUSY;  // a mount point inside the tree
  unique_fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return errno;
  DIR* d = ::fdopendir(::dup(dir.get()));
  if (!d) return errno;
  std::vector<std::string> names;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      names.emplace_back(e->d_name);
  ::closedir(d);
  for (auto& n : names)
    if (int err = remove_tree_at(dir.get(), n, dev); err != 0) return err;
  return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0 ? 0 : errno;
}

}  // namespace

result<std::string> read_file_at(int root, const std::string& path, size_t max_bytes) {
  if (auto ok = check_path(path); !ok) return ok.error();
  auto at = open_in(root, path, O_PATH);
  if (!at) return file_error(path, errno);
  struct stat st {};
  if (::fstat(at.get(), &st) != 0) return file_error(path, errno);
  if (S_ISDIR(st.st_mode)) return file_error(path, EISDIR);
  if (!S_ISREG(st.st_mode))
    return make_error(errc::failed_precondition, path + " is not a regular file", "path");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return make_error(errc::payload_too_large,
                      path + " has " + std::to_string(st.st_size) + " bytes, more than " +
                          std::to_string(max_bytes),
                      "path");
  // Reopened for reading through our own descriptor: the O_PATH open above
  // decided which file it is.
  unique_fd f(::open(("/proc/self/fd/" + std::to_string(at.get())).c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return file_error(path, errno);
  std::string out;
  out.resize(std::min<size_t>(max_bytes, static_cast<size_t>(st.st_size)) + 1);
  size_t got = 0;
  while (got < out.size()) {
    auto n = ::read(f.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error(path, errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes)
    return make_error(errc::payload_too_large,
                      path + " holds more than " + std::to_string(max_bytes) + " bytes", "path");
  out.resize(got);
  return out;
}

result<bool> make_dirs_at(int root, const std::string& path, uint32_t uid, uint32_t gid) {
  if (auto ok = check_path(path); !ok) return ok.error();
  unique_fd parent(::openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string prefix;
  size_t pos = 0;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    auto part = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    prefix += "/" + part;
    auto next = open_in(root, prefix, O_PATH | O_DIRECTORY);
    if (!next && errno == ENOENT && part != "..") {
      if (::mkdirat(parent.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        return file_error(prefix, errno);
      ::fchownat(parent.get(), part.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
      next = open_in(root, prefix, O_PATH | O_DIRECTORY);
    }
    if (!next) return file_error(prefix, errno);
    parent = std::move(next);
  }
  return true;
}

result<file_entry> write_file_at(int root, const file_write& w, uint32_t default_uid,
                                 uint32_t default_gid) {
  if (auto ok = check_path(w.path); !ok) return ok.error();
  auto [parent_path, name] = split(w.path);
  if (!names_an_entry(name))
    return make_error(errc::invalid_argument, w.path + " does not name a file", "path");
  if (w.make_parents)
    if (auto made = make_dirs_at(root, parent_path, default_uid, default_gid); !made)
      return made.error();
  auto parent = open_parent(root, w.path, parent_path);
  if (!parent) return parent.error();
  int dir = parent->get();

  uint32_t mode = w.mode.value_or(0644) & 07777;
  uint32_t uid = w.uid.value_or(default_uid), gid = w.gid.value_or(default_gid);
  struct stat old {};
  if (::fstatat(dir, name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(old.st_mode)) return file_error(w.path, EISDIR);
    if (S_ISREG(old.st_mode)) {  // replacing a file keeps its owner and mode
      if (!w.mode) mode = old.st_mode & 07777;
      if (!w.uid) uid = old.st_uid;
      if (!w.gid) gid = old.st_gid;
    }
  }
  auto tmp = temp_name();
  unique_fd f(
      ::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f) return file_error(w.path, errno);
  auto fail = [&](const error& e) -> result<file_entry> {
    ::unlinkat(dir, tmp.c_str(), 0);
    return e;
  };
  if (auto wrote = write_all(f.get(), w.data, w.path); !wrote) return fail(wrote.error());
  // chown before chmod: chown clears set-id bits.
  if (::fchown(f.get(), uid, gid) != 0 || ::fchmod(f.get(), mode) != 0)
    return fail(file_error(w.path, errno));
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return fail(file_error(w.path, errno));
  if (::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) return fail(file_error(w.path, errno));
  return entry_of(name, st);
}

result<std::vector<file_entry>> list_dir_at(int root, const std::string& path) {
  if (auto ok = check_path(path); !ok) return ok.error();
  auto dir = open_in(root, path, O_RDONLY | O_DIRECTORY);
  if (!dir) return file_error(path, errno);
  DIR* d = ::fdopendir(::dup(dir.get()));
  if (!d) return file_error(path, errno);
  std::vector<file_entry> out;
  while (auto* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(dir.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // just went
    out.push_back(entry_of(e->d_name, st));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

result<bool> remove_path_at(int root, const std::string& path, bool recursive) {
  if (auto ok = check_path(path); !ok) return ok.error();
  auto [parent_path, name] = split(path);
  if (!names_an_entry(name))
    return make_error(errc::invalid_argument, path + " cannot be removed", "path");
  auto parent = open_parent(root, path, parent_path);
  if (!parent) return parent.error();
  int dir = parent->get();
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return file_error(path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir, name.c_str(), 0) != 0) return file_error(path, errno);
    return true;
  }
  if (!recursive) {
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) return file_error(path, errno);
    return true;
  }
  if (int err = remove_tree_at(dir, name, st.st_dev); err != 0) return file_error(path, err);
  return true;
}

}  // namespace nullspace::runtime
