#include "runtime/context/context_copy.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "runtime/context/tar_entries.hpp"
#include "runtime/request/file_mode.hpp"
#include "runtime/request/path_glob.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {
namespace {

// ---- small pieces -------------------------------------------------------------

struct archive_deleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using archive_ptr = std::unique_ptr<archive, archive_deleter>;

// Components without "" and "."; nullopt if one is "..".
std::optional<std::vector<std::string>> components(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto part = path.substr(0, slash);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") out.emplace_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::optional<std::string> normalized(std::string_view path) {
  auto c = components(path);
  if (!c) return std::nullopt;
  return join(*c, c->size());
}

std::string parent_of(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string name_of(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string system_message(int err) {
  return std::strerror(err);
}

std::string size_text(uint64_t bytes) {
  if (bytes >= (10ull << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (10ull << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

archive_ptr open_archive(const std::string& path, std::string& problem) {
  archive_ptr a(archive_read_new());
  if (!a) {
    problem = "libarchive could not allocate a reader";
    return nullptr;
  }
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    problem = "cannot read the build context archive: " + libarchive_message(a.get());
    return nullptr;
  }
  return a;
}

std::string entry_path(archive_entry* e) {
  const char* p = archive_entry_pathname(e);
  if (!p) p = archive_entry_pathname_utf8(e);
  return p ? p : "";
}

// ---- writing inside the rootfs ------------------------------------------------

// One copy in progress: the rootfs, the owner, and what has been written.
class writer {
 public:
  writer(unique_fd root, uint32_t uid, uint32_t gid)
      : root_(std::move(root)), uid_(uid), gid_(gid) {}

  // Opens the directory `rel` (relative to the root; symlinks resolved inside
  // the root), creating what is missing. The fd stays owned by the writer and
  // valid until the next call; -1 with `problem` set on failure.
  int dir(const std::string& rel, std::string& problem) {
    if (cached_fd_ && cached_rel_ == rel) return cached_fd_.get();
    auto fd = open_in_root(rel, O_PATH | O_DIRECTORY);
    if (!fd && errno == ENOENT) fd = create_dirs(rel, problem);
    if (!fd) {
      if (problem.empty()) problem = path_problem(rel, errno);
      return -1;
    }
    cached_fd_ = std::move(fd);
    cached_rel_ = rel;
    return cached_fd_.get();
  }

  // True if `rel` resolves (inside the root) to a directory.
  bool is_dir(const std::string& rel) {
    return static_cast<bool>(open_in_root(rel, O_PATH | O_DIRECTORY));
  }

  // Makes room for a non-directory at `name` in `parent`: removes a file or
  // link there; a directory in the way is an error.
  bool clear_for_file(int parent, const std::string& rel, std::string& problem) {
    struct stat st {};
    auto name = name_of(rel);
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
    if (S_ISDIR(st.st_mode)) {
      problem = "cannot replace the directory /" + rel + " with a file";
      return false;
    }
    if (::unlinkat(parent, name.c_str(), 0) != 0) {
      problem = path_problem(rel, errno);
      return false;
    }
    // A removed link may be what the cached directory was reached through.
    if (cached_rel_ == rel || cached_rel_.starts_with(rel + "/")) cached_fd_.reset();
    return true;
  }

  void own(int parent, const std::string& name, uint32_t mode, bool chmod) {
    ::fchownat(parent, name.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW);
    // After chown, which clears set-id bits.
    if (chmod) ::fchmodat(parent, name.c_str(), mode, 0);
  }

  static std::string path_problem(const std::string& rel, int err) {
    if (err == ENOTDIR) return "/" + rel + ": a path component is not a directory";
    return "/" + rel + ": " + system_message(err);
  }

  uint32_t uid() const { return uid_; }
  uint32_t gid() const { return gid_; }

 private:
  unique_fd open_in_root(const std::string& rel, uint64_t flags) const {
    if (rel.empty()) return unique_fd(::openat(root_.get(), ".", static_cast<int>(flags)));
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return unique_fd(
        static_cast<int>(::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how)));
  }

  // mkdir -p inside the root; created directories are 0755 and owned by the user.
  unique_fd create_dirs(const std::string& rel, std::string& problem) {
    auto parts = *components(rel);
    unique_fd parent(::openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    for (size_t i = 1; i <= parts.size(); ++i) {
      auto prefix = join(parts, i);
      auto fd = open_in_root(prefix, O_PATH | O_DIRECTORY);
      if (!fd && errno == ENOENT) {
        const auto& name = parts[i - 1];
        if (::mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
          problem = path_problem(prefix, errno);
          return {};
        }
        own(parent.get(), name, 0755, true);
        fd = open_in_root(prefix, O_PATH | O_DIRECTORY);
      }
      if (!fd) {
        problem = path_problem(prefix, errno == ENOENT ? ENOTDIR : errno);
        return {};
      }
      parent = std::move(fd);
    }
    return parent;
  }

  unique_fd root_;
  uint32_t uid_, gid_;
  unique_fd cached_fd_;  // the last directory opened, by its relative path
  std::string cached_rel_;
};

void set_times(int parent, const std::string& name, int64_t sec, long nsec) {
  timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ::utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

// ---- the copy -----------------------------------------------------------------

struct selection {
  std::string src;        // normalized context path, "" = root
  bool whole_dir = true;  // a directory's contents, or a single entry
  std::string base;       // image path (relative to root) that `src` maps to
  const dockerignore* ignore = nullptr;
};

// What a first pass learns of the archive: each path's type ('d' also for
// implicit directories) and the context's .dockerignore.
struct context_index {
  std::map<std::string, char> types;
  dockerignore ignore;
};

result<context_index> index_context(const std::string& tar, bool use_dockerignore) {
  std::string problem;
  auto a = open_archive(tar, problem);
  if (!a) return make_error(errc::internal, problem);
  context_index out;
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    auto p = normalized(entry_path(e));
    if (!p || p->empty()) continue;
    out.types[*p] = entry_type(e);
    for (auto parent = parent_of(*p); !parent.empty(); parent = parent_of(parent))
      out.types.emplace(parent, 'd');
    if (use_dockerignore && *p == ".dockerignore" && entry_type(e) == 'f') {
      constexpr la_int64_t max_ignore_bytes = 1 << 20;
      if (archive_entry_size(e) > max_ignore_bytes)
        return make_error(errc::invalid_argument, ".dockerignore is larger than 1 MiB");
      std::string text(static_cast<size_t>(archive_entry_size(e)), '\0');
      if (archive_read_data(a.get(), text.data(), text.size()) !=
          static_cast<la_ssize_t>(text.size()))
        return make_error(errc::internal, "cannot read .dockerignore from the build context: " +
                                              libarchive_message(a.get()));
      out.ignore = dockerignore(text);
    }
  }
  if (r != ARCHIVE_EOF)
    return make_error(errc::internal,
                      "cannot read the build context archive: " + libarchive_message(a.get()));
  return out;
}

// The image path (relative) an archive path lands on, or nullopt if it is not selected.
std::optional<std::string> target_of(const selection& sel, const std::string& path) {
  if (!sel.whole_dir) return path == sel.src ? std::optional(sel.base) : std::nullopt;
  if (sel.src.empty()) return sel.base.empty() ? path : sel.base + "/" + path;
  if (path.size() <= sel.src.size() || !path.starts_with(sel.src) || path[sel.src.size()] != '/')
    return std::nullopt;  // the source directory itself keeps the destination's metadata
  auto rest = path.substr(sel.src.size() + 1);
  return sel.base.empty() ? rest : sel.base + "/" + rest;
}

class copier {
 public:
  copier(writer& w, const selection& sel, copy_summary& sum, std::optional<uint32_t> mode,
         std::string symbolic_mode)
      : w_(w), sel_(sel), sum_(sum), mode_(mode), symbolic_mode_(std::move(symbolic_mode)) {}

  // One pass over the archive, writing the selected entries. Hard links whose
  // target lies outside the selection are collected in `pending_`.
  result<bool> extract(archive* a) {
    archive_entry* e = nullptr;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
      auto path = normalized(entry_path(e));
      if (!path || path->empty()) continue;
      auto target = target_of(sel_, *path);
      if (!target || (sel_.ignore && sel_.ignore->ignores(*path))) continue;
      if (auto ok = write_entry(a, e, *path, *target); !ok) return ok;
    }
    if (r != ARCHIVE_EOF) return read_error(a);
    return true;
  }

  // Hard links to files outside the selection: their data, copied from the
  // target's entry in a second pass.
  result<bool> resolve_pending(archive* a) {
    archive_entry* e = nullptr;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
      if (entry_type(e) != 'f') continue;
      auto path = normalized(entry_path(e));
      if (!path) continue;
      auto it = pending_.find(*path);
      if (it == pending_.end()) continue;
      auto targets = std::move(it->second);
      pending_.erase(it);
      for (size_t i = 0; i < targets.size(); ++i) {
        if (i == 0) {
          if (auto ok = write_file(a, e, targets[0]); !ok) return ok;
        } else if (auto ok = link_to(targets[0], targets[i]); !ok) {
          return ok;
        }
      }
    }
    if (r != ARCHIVE_EOF) return read_error(a);
    for (auto& [from, targets] : pending_)
      for (auto& t : targets)
        sum_.skipped.push_back(t + " (its hard link target " + from +
                               " is not a file of the context)");
    return true;
  }

  bool has_pending() const { return !pending_.empty(); }

  // Directory times last: writing into a directory changes its mtime.
  void finish_dirs() {
    std::sort(dir_times_.begin(), dir_times_.end(),
              [](auto& a, auto& b) { return a.rel.size() > b.rel.size(); });
    std::string problem;
    for (auto& d : dir_times_) {
      int parent = w_.dir(parent_of(d.rel), problem);
      if (parent >= 0) set_times(parent, name_of(d.rel), d.sec, d.nsec);
    }
  }

 private:
  struct dir_time {
    std::string rel;
    int64_t sec;
    long nsec;
  };

  result<bool> read_error(archive* a) {
    return make_error(errc::internal,
                      "cannot read the build context archive: " + libarchive_message(a));
  }

  static error user_error(std::string message) {
    return make_error(errc::invalid_argument, std::move(message));
  }

  result<bool> write_entry(archive* a, archive_entry* e, const std::string& path,
                           const std::string& rel) {
    switch (entry_type(e)) {
      case 'f':
        return write_file(a, e, rel, path);
      case 'd':
        return write_dir(e, rel);
      case 'l':
        return write_symlink(e, rel);
      case 'h': {
        auto to = normalized(archive_entry_hardlink(e));
        auto done = to ? written_.find(*to) : written_.end();
        if (done != written_.end()) return link_to(done->second, rel);
        pending_[to ? *to : std::string()].push_back(rel);
        return true;
      }
      default:
        sum_.skipped.push_back(path);
        return true;
    }
  }

  result<bool> write_file(archive* a, archive_entry* e, const std::string& rel,
                          const std::string& context_path = {}) {
    std::string problem;
    int parent = w_.dir(parent_of(rel), problem);
    if (parent < 0 || !w_.clear_for_file(parent, rel, problem)) return user_error(problem);
    auto name = name_of(rel);
    unique_fd fd(
        ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return make_error(errc::internal, writer::path_problem(rel, errno));
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r;
    while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
      auto* p = static_cast<const char*>(buf);
      while (size > 0) {  // pwrite keeps sparse files sparse
        auto n = ::pwrite(fd.get(), p, size, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(errc::internal, writer::path_problem(rel, errno));
        p += n, size -= static_cast<size_t>(n), offset += n;
      }
    }
    if (r != ARCHIVE_EOF) return read_error(a);
    auto total = archive_entry_size(e);
    if (::ftruncate(fd.get(), total) != 0)
      return make_error(errc::internal, writer::path_problem(rel, errno));
    if (::fchown(fd.get(), w_uid(), w_gid()) != 0 ||
        ::fchmod(fd.get(), static_cast<mode_t>(perm(e))) != 0)
      return make_error(errc::internal, writer::path_problem(rel, errno));
    timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                      {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    ::futimens(fd.get(), ts);
    if (!context_path.empty()) written_[context_path] = rel;
    ++sum_.files;
    sum_.bytes += static_cast<uint64_t>(total);
    return true;
  }

  result<bool> write_dir(archive_entry* e, const std::string& rel) {
    std::string problem;
    int parent = w_.dir(parent_of(rel), problem);
    if (parent < 0) return user_error(problem);
    auto name = name_of(rel);
    bool exists = w_.is_dir(rel);
    if (!exists) {
      struct stat st {};
      if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        return user_error("cannot replace /" + rel + " (not a directory) with a directory");
      if (::mkdirat(parent, name.c_str(), 0700) != 0)
        return make_error(errc::internal, writer::path_problem(rel, errno));
    }
    // An existing directory (or a link to one) keeps its owner; its mode follows
    // the archive, as Docker's COPY does.
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      if (!exists) ::fchownat(parent, name.c_str(), w_uid(), w_gid(), AT_SYMLINK_NOFOLLOW);
      ::fchmodat(parent, name.c_str(), static_cast<mode_t>(perm(e)), 0);
      dir_times_.push_back({rel, archive_entry_mtime(e), archive_entry_mtime_nsec(e)});
    }
    ++sum_.dirs;
    return true;
  }

  result<bool> write_symlink(archive_entry* e, const std::string& rel) {
    std::string problem;
    int parent = w_.dir(parent_of(rel), problem);
    if (parent < 0 || !w_.clear_for_file(parent, rel, problem)) return user_error(problem);
    auto name = name_of(rel);
    const char* to = archive_entry_symlink(e);
    if (::symlinkat(to ? to : "", parent, name.c_str()) != 0)
      return make_error(errc::internal, writer::path_problem(rel, errno));
    w_.own(parent, name, 0, false);
    set_times(parent, name, archive_entry_mtime(e), archive_entry_mtime_nsec(e));
    ++sum_.symlinks;
    return true;
  }

  result<bool> link_to(const std::string& existing, const std::string& rel) {
    std::string problem;
    int from_parent = w_.dir(parent_of(existing), problem);
    if (from_parent < 0) return user_error(problem);
    unique_fd from(::openat(from_parent, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    int parent = w_.dir(parent_of(rel), problem);
    if (parent < 0 || !w_.clear_for_file(parent, rel, problem)) return user_error(problem);
    if (::linkat(from.get(), name_of(existing).c_str(), parent, name_of(rel).c_str(), 0) != 0)
      return make_error(errc::internal, writer::path_problem(rel, errno));
    ++sum_.files;
    return true;
  }

  // The mode an entry gets: --chmod's, else the archive's.
  uint32_t perm(archive_entry* e) const {
    if (mode_) return *mode_;
    auto own = static_cast<uint32_t>(archive_entry_perm(e) & 07777);
    if (symbolic_mode_.empty()) return own;
    return apply_chmod(symbolic_mode_, own, archive_entry_filetype(e) == AE_IFDIR);
  }
  uint32_t w_uid() const { return w_.uid(); }
  uint32_t w_gid() const { return w_.gid(); }

  writer& w_;
  const selection& sel_;
  copy_summary& sum_;
  std::map<std::string, std::string> written_;               // context path -> image path
  std::map<std::string, std::vector<std::string>> pending_;  // link target -> image paths
  std::vector<dir_time> dir_times_;
  std::optional<uint32_t> mode_;
  std::string symbolic_mode_;
};

}  // namespace

std::string copy_summary::text() const {
  auto count = [](uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::string s = count(files, "file", "files") + " (" + size_text(bytes) + ")";
  if (dirs) s += ", " + count(dirs, "dir", "dirs");
  if (symlinks) s += ", " + count(symlinks, "symlink", "symlinks");
  return s;
}

namespace {

// One source (a context path, not a pattern) copied as COPY does.
result<bool> copy_one(const std::string& rootfs, const copy_request& req, const std::string& src,
                      char type, const std::string& dest, const dockerignore* ignore,
                      copy_summary& sum) {
  unique_fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return make_error(errc::internal, "cannot open " + rootfs + ": " + system_message(errno));
  writer w(std::move(root), req.uid, req.gid);

  selection sel{src, type == 'd', dest, ignore};
  if (!sel.whole_dir && (req.dest.ends_with('/') || dest.empty() || w.is_dir(dest)))
    sel.base = (dest.empty() ? "" : dest + "/") + name_of(src);
  std::string problem;
  if (sel.whole_dir && w.dir(dest, problem) < 0) return make_error(errc::invalid_argument, problem);

  copier c(w, sel, sum, req.mode, req.symbolic_mode);
  auto a = open_archive(req.tar_path, problem);
  if (!a) return make_error(errc::internal, problem);
  if (auto ok = c.extract(a.get()); !ok) return ok.error();
  if (c.has_pending()) {
    auto again = open_archive(req.tar_path, problem);
    if (!again) return make_error(errc::internal, problem);
    if (auto ok = c.resolve_pending(again.get()); !ok) return ok.error();
  }
  c.finish_dirs();
  return true;
}

// ADD of a local archive: the context file `src` read as a tar (plain,
// gzip, bzip2, xz or zstd) straight out of the context archive.
struct nested_archive {
  archive_ptr outer;
  std::vector<char> buffer = std::vector<char>(1 << 16);
  archive_ptr inner;
};

la_ssize_t read_nested(archive*, void* client, const void** buf) {
  auto* n = static_cast<nested_archive*>(client);
  *buf = n->buffer.data();
  return archive_read_data(n->outer.get(), n->buffer.data(), n->buffer.size());
}

// nullptr with `problem` set if the context cannot be read or `src` is gone.
std::unique_ptr<nested_archive> open_nested(const std::string& tar, const std::string& src,
                                            std::string& problem) {
  auto n = std::make_unique<nested_archive>();
  n->outer = open_archive(tar, problem);
  if (!n->outer) return nullptr;
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(n->outer.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    auto path = normalized(entry_path(e));
    if (path && *path == src && entry_type(e) == 'f') break;
  }
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
    problem = "'" + src + "' is not a file of the build context";
    return nullptr;
  }
  n->inner.reset(archive_read_new());
  archive_read_support_filter_gzip(n->inner.get());
  archive_read_support_filter_bzip2(n->inner.get());
  archive_read_support_filter_xz(n->inner.get());
  archive_read_support_filter_zstd(n->inner.get());
  archive_read_support_format_tar(n->inner.get());
  if (archive_read_open(n->inner.get(), n.get(), nullptr, read_nested, nullptr) != ARCHIVE_OK) {
    problem = "cannot read '" + src + "': " + libarchive_message(n->inner.get());
    return nullptr;
  }
  return n;
}

// Whether the context file `src` is a tar archive Docker's ADD unpacks.
bool is_tar_archive(const std::string& tar, const std::string& src) {
  std::string problem;
  auto n = open_nested(tar, src, problem);
  if (!n) return false;
  archive_entry* e = nullptr;
  int r = archive_read_next_header(n->inner.get(), &e);
  return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

result<bool> extract_one(const std::string& rootfs, const copy_request& req, const std::string& src,
                         const std::string& dest, copy_summary& sum) {
  unique_fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return make_error(errc::internal, "cannot open " + rootfs + ": " + system_message(errno));
  writer w(std::move(root), req.uid, req.gid);
  std::string problem;
  if (w.dir(dest, problem) < 0) return make_error(errc::invalid_argument, problem);
  selection sel{"", true, dest, nullptr};
  copier c(w, sel, sum, req.mode, req.symbolic_mode);
  auto n = open_nested(req.tar_path, src, problem);
  if (!n) return make_error(errc::internal, problem);
  if (auto ok = c.extract(n->inner.get()); !ok)
    return make_error(ok.error().code, "unpacking " + src + ": " + ok.error().message);
  if (c.has_pending()) {
    auto again = open_nested(req.tar_path, src, problem);
    if (!again) return make_error(errc::internal, problem);
    if (auto ok = c.resolve_pending(again->inner.get()); !ok) return ok.error();
  }
  c.finish_dirs();
  ++sum.archives;
  return true;
}

}  // namespace

result<copy_summary> copy_from_context(const std::string& rootfs, const copy_request& req) {
  bool pattern = has_glob(req.src);
  auto src = pattern ? std::optional<std::string>(req.src) : normalized(req.src);
  if (!src || (pattern && !normalized(req.src)))
    return make_error(errc::invalid_argument, "src must stay inside the build context");
  auto dest_parts = components(req.dest);
  if (!dest_parts || !req.dest.starts_with('/'))
    return make_error(errc::invalid_argument,
                      "dest must be an absolute path without '..', got '" + req.dest + "'");
  auto dest = join(*dest_parts, dest_parts->size());

  auto index = index_context(req.tar_path, req.use_dockerignore);
  if (!index) return index.error();
  const dockerignore* ignore = index->ignore.empty() ? nullptr : &index->ignore;
  auto excluded = [&](const std::string& path) { return ignore && ignore->ignores(path); };

  std::vector<std::pair<std::string, char>> sources;
  if (pattern) {
    auto pat = *normalized(req.src);
    for (auto& [path, type] : index->types)
      if (glob_match(pat, path) && !excluded(path)) sources.emplace_back(path, type);
    if (sources.empty())
      return make_error(errc::invalid_argument,
                        "no file in the build context matches '" + req.src + "'");
    if (sources.size() > 1 && !req.dest.ends_with('/'))
      return make_error(errc::invalid_argument,
                        "'" + req.src + "' matches " + std::to_string(sources.size()) +
                            " paths, so dest must be a directory ending in /, got '" + req.dest +
                            "'");
  } else if (src->empty()) {
    sources.emplace_back("", 'd');
  } else {
    auto it = index->types.find(*src);
    if (it == index->types.end())
      return make_error(errc::invalid_argument, "'" + req.src + "' is not in the build context");
    if (excluded(*src))
      return make_error(errc::invalid_argument,
                        "'" + req.src + "' is excluded by the context's .dockerignore");
    sources.emplace_back(*src, it->second);
  }

  copy_summary sum;
  for (auto& [path, type] : sources) {
    auto ok = req.extract && type == 'f' && is_tar_archive(req.tar_path, path)
                  ? extract_one(rootfs, req, path, dest, sum)
                  : copy_one(rootfs, req, path, type, dest, ignore, sum);
    if (!ok) return ok.error();
  }
  return sum;
}

std::string context_tar_path(const std::string& contexts_dir, std::string_view manifest_json) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(manifest_json);
  std::string_view digest;
  if (parser.parse(json)["digest"].get(digest) != simdjson::SUCCESS) return {};
  constexpr std::string_view prefix = "sha256:";
  if (!digest.starts_with(prefix) || digest.size() != prefix.size() + 64) return {};
  auto hex = digest.substr(prefix.size());
  if (!std::all_of(hex.begin(), hex.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return {};
  return contexts_dir + "/" + std::string(hex) + ".tar";
}

}  // namespace nullspace::runtime
