#include "runtime/context/tree_tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "runtime/context/tar_entries.hpp"

namespace nullspace::runtime {
namespace {

struct write_deleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct read_deleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct entry_deleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

result<bool> copy_data(archive* out, const char* path) {
  int fd = ::open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(errc::internal, std::string("cannot read ") + path);
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    if (archive_write_data(out, buf, static_cast<size_t>(n)) != n) {
      ::close(fd);
      return make_error(errc::internal,
                        "cannot write the stage archive: " + libarchive_message(out));
    }
  ::close(fd);
  if (n < 0) return make_error(errc::internal, std::string("cannot read ") + path);
  return true;
}

}  // namespace

result<bool> tar_tree(const std::string& root, const std::string& rel,
                      const std::string& tar_path) {
  auto start = rel.empty() ? root : root + "/" + rel;
  struct stat st {};
  if (::lstat(start.c_str(), &st) != 0)
    return make_error(errc::invalid_argument, "'/" + rel + "' does not exist in the stage");

  std::unique_ptr<archive, write_deleter> out(archive_write_new());
  archive_write_set_format_pax_restricted(out.get());
  if (archive_write_open_filename(out.get(), tar_path.c_str()) != ARCHIVE_OK)
    return make_error(errc::internal,
                      "cannot create " + tar_path + ": " + libarchive_message(out.get()));
  std::unique_ptr<archive, read_deleter> disk(archive_read_disk_new());
  archive_read_disk_set_symlink_physical(disk.get());
  archive_read_disk_set_standard_lookup(disk.get());
  if (archive_read_disk_open(disk.get(), start.c_str()) != ARCHIVE_OK)
    return make_error(errc::internal,
                      "cannot read " + start + ": " + libarchive_message(disk.get()));

  std::unique_ptr<archive_entry, entry_deleter> entry(archive_entry_new());
  const auto prefix = root + "/";
  for (;;) {
    archive_entry_clear(entry.get());
    int r = archive_read_next_header2(disk.get(), entry.get());
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return make_error(errc::internal,
                        "cannot read " + start + ": " + libarchive_message(disk.get()));
    std::string source = archive_entry_sourcepath(entry.get());
    archive_read_disk_descend(disk.get());
    // Named relative to the root, as in a build context.
    auto name = source.starts_with(prefix) ? source.substr(prefix.size()) : std::string(".");
    archive_entry_set_pathname(entry.get(), name.c_str());
    if (archive_write_header(out.get(), entry.get()) != ARCHIVE_OK)
      return make_error(errc::internal,
                        "cannot write the stage archive: " + libarchive_message(out.get()));
    if (archive_entry_filetype(entry.get()) == AE_IFREG && archive_entry_size(entry.get()) > 0)
      if (auto ok = copy_data(out.get(), source.c_str()); !ok) return ok;
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    return make_error(errc::internal,
                      "cannot write the stage archive: " + libarchive_message(out.get()));
  return true;
}

}  // namespace nullspace::runtime
