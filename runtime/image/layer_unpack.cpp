#include "runtime/image/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "runtime/context/tar_entries.hpp"

namespace nullspace::runtime {
namespace {

constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";

struct read_closer {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct write_closer {
  void operator()(archive* a) const { archive_write_free(a); }
};

// A tar path as components, without "." and empty ones; nullopt if it is
// absolute or has a "..".
std::optional<std::vector<std::string>> components(std::string_view path) {
  if (path.starts_with('/')) return std::nullopt;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto part = path.substr(start, end - start);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? "/" : "") + parts[i];
  return out;
}

// True if a directory on the way to `parts` (inside `dir`) is a symlink, so
// that the path would leave the layer.
bool through_symlink(const std::string& dir, const std::vector<std::string>& parts) {
  struct stat st {};
  for (size_t i = 1; i < parts.size(); ++i)
    if (::lstat((dir + "/" + join(parts, i)).c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return true;
  return false;
}

// Keeps an entry's xattrs except trusted.*: overlayfs keeps its own state
// (opaque, redirect, origin) there, which a layer must not be able to forge.
void drop_trusted_xattrs(archive_entry* e) {
  struct xattr {
    std::string name;
    std::string value;
  };
  std::vector<xattr> keep;
  bool dropped = false;
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (std::string_view(name).starts_with("trusted.")) {
      dropped = true;
      continue;
    }
    keep.push_back({name, std::string(static_cast<const char*>(value), size)});
  }
  if (!dropped) return;
  archive_entry_xattr_clear(e);
  for (auto& x : keep)
    archive_entry_xattr_add_entry(e, x.name.c_str(), x.value.data(), x.value.size());
}

// Marks the directory `parts` inside `dir` opaque, creating it (0755) if the
// layer has no entry for it; never through a symlink.
result<bool> mark_opaque(const std::string& dir, const std::vector<std::string>& parts) {
  auto fail = [&](int err) {
    return make_error(errc::unavailable, "cannot mark /" + join(parts, parts.size()) +
                                             " opaque: " + std::strerror(err));
  };
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  for (auto& part : parts) {
    if (::mkdirat(fd, part.c_str(), 0755) != 0 && errno != EEXIST) {
      int err = errno;
      ::close(fd);
      return fail(err);
    }
    int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    ::close(fd);
    if (next < 0) return fail(err);
    fd = next;
  }
  bool ok = ::fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return fail(err);
  return true;
}

result<bool> copy_data(archive* in, archive* out) {
  const void* buf;
  size_t size;
  la_int64_t offset;
  for (;;) {
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return true;
    if (r < ARCHIVE_WARN) return make_error(errc::unavailable, libarchive_message(in));
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN)
      return make_error(errc::internal, libarchive_message(out));
  }
}

}  // namespace

bool layer_media_type_supported(std::string_view media_type) {
  for (std::string_view t :
       {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar"})
    if (media_type == t) return true;
  return false;
}

result<bool> unpack_layer(const std::string& archive_path, const std::string& layer_dir,
                          const image_job& job) {
  // libarchive refuses to write through any symlink on the path, the
  // directory's own included: resolve those first.
  std::error_code ec;
  auto dir = std::filesystem::canonical(layer_dir, ec).string();
  if (ec) return make_error(errc::internal, "cannot open " + layer_dir + ": " + ec.message());
  std::unique_ptr<archive, read_closer> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  archive_read_support_filter_gzip(in.get());
  archive_read_support_filter_zstd(in.get());
  archive_read_support_filter_none(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return make_error(errc::unavailable, "cannot read the layer: " + libarchive_message(in.get()));

  std::unique_ptr<archive, write_closer> out(archive_write_disk_new());
  // Numeric owners (no lookup: the image's /etc/passwd is not the host's).
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT);

  std::vector<std::vector<std::string>> opaque_dirs;
  archive_entry* e;
  for (;;) {
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return make_error(errc::unavailable,
                        "cannot read the layer: " + libarchive_message(in.get()));
    if (job.cancelled()) return make_error(errc::unavailable, "cancelled");
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    auto parts = components(name);
    if (!parts || through_symlink(dir, *parts))
      return make_error(errc::unavailable,
                        "the layer has an entry outside its root: " + name.substr(0, 200));
    if (parts->empty()) parts->push_back(".");  // the layer root itself

    auto& base = parts->back();
    if (base == opaque_marker) {
      parts->pop_back();
      opaque_dirs.push_back(*parts);
      continue;
    }
    // Other ".wh..wh." names are AUFS bookkeeping (hard link dirs), not files.
    bool aufs_meta = false;
    for (auto& p : *parts) aufs_meta = aufs_meta || p.starts_with(".wh..wh.");
    if (aufs_meta) continue;
    if (base.starts_with(whiteout_prefix)) {
      base = base.substr(whiteout_prefix.size());
      if (base.empty() || base == "." || base == "..")
        return make_error(errc::unavailable, "the layer has an invalid whiteout: " + name);
      archive_entry_clear(e);
      archive_entry_set_filetype(e, AE_IFCHR);
      archive_entry_set_perm(e, 0);
      archive_entry_set_rdev(e, 0);  // overlayfs: a char device 0/0 hides the lower file
    }
    archive_entry_set_pathname(e, (dir + "/" + join(*parts, parts->size())).c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      auto target = components(link);
      if (!target || target->empty() || through_symlink(dir, *target))
        return make_error(errc::unavailable,
                          "the layer has a hard link to outside its root: " + name.substr(0, 200));
      archive_entry_set_hardlink(e, (dir + "/" + join(*target, target->size())).c_str());
    }
    drop_trusted_xattrs(e);
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN)
      return make_error(errc::unavailable, "cannot unpack " + name.substr(0, 200) + ": " +
                                               libarchive_message(out.get()));
    if (archive_entry_size(e) > 0)
      if (auto c = copy_data(in.get(), out.get()); !c)
        return make_error(c.error().code,
                          "cannot unpack " + name.substr(0, 200) + ": " + c.error().message);
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      return make_error(errc::unavailable, "cannot unpack " + name.substr(0, 200) + ": " +
                                               libarchive_message(out.get()));
  }
  // Directory modes and mtimes are set here, after their contents.
  if (archive_write_close(out.get()) < ARCHIVE_WARN)
    return make_error(errc::unavailable,
                      "cannot finish the layer: " + libarchive_message(out.get()));
  for (auto& parts : opaque_dirs)
    if (auto m = mark_opaque(dir, parts); !m) return m;
  return true;
}

}  // namespace nullspace::runtime
