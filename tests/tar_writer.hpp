// Writes tar archives in memory, entry by entry, with libarchive: the build
// contexts tests upload and copy from. The formats differ in how they carry
// long names: pax adds an extended header, GNU a ././@LongLink entry.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct archive;
struct archive_entry;

namespace nullspace::test {

class tar_writer {
 public:
  enum class format { pax, gnu, ustar };
  enum class filter { none, gzip, bzip2, xz };

  explicit tar_writer(format f = format::pax, filter z = filter::none);
  ~tar_writer();
  tar_writer(const tar_writer&) = delete;
  tar_writer& operator=(const tar_writer&) = delete;

  // Entries carry `mtime` (seconds) as set last; default 1700000000.
  tar_writer& mtime(int64_t seconds) {
    mtime_ = seconds;
    return *this;
  }
  tar_writer& file(const std::string& path, std::string_view content, unsigned mode = 0644);
  tar_writer& dir(const std::string& path, unsigned mode = 0755);
  tar_writer& symlink(const std::string& path, const std::string& target);
  tar_writer& hardlink(const std::string& path, const std::string& target);
  tar_writer& device(const std::string& path, unsigned type);  // AE_IFCHR / AE_IFBLK
  tar_writer& fifo(const std::string& path);

  // Closes the archive (end-of-archive marker, padding) and returns its bytes.
  std::string finish();

 private:
  tar_writer& add(const std::string& path, unsigned type, unsigned mode, std::string_view content,
                  const std::function<void(archive_entry*)>& extra);

  archive* a_;
  std::string out_;
  int64_t mtime_ = 1700000000;
};

}  // namespace nullspace::test

namespace nullspace::test {

// A one-file build context and the id it has once uploaded (content-addressed,
// so a request can name it before the upload).
struct pending_context {
  std::string tar;
  std::string id;
};
pending_context small_context(std::string_view content = "hello\n");

}  // namespace nullspace::test
