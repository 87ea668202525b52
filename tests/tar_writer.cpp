#include "tests/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <catch2/catch.hpp>

#include "runtime/context/build_context.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace::test {
namespace {

la_ssize_t append_to_string(archive*, void* out, const void* bytes, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(bytes), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

tar_writer::tar_writer(format f, filter z) : a_(archive_write_new()) {
  if (f == format::pax) archive_write_set_format_pax_restricted(a_);
  if (f == format::gnu) archive_write_set_format_gnutar(a_);
  if (f == format::ustar) archive_write_set_format_ustar(a_);
  if (z == filter::gzip) archive_write_add_filter_gzip(a_);
  if (z == filter::bzip2) archive_write_add_filter_bzip2(a_);
  if (z == filter::xz) archive_write_add_filter_xz(a_);
  archive_write_open2(a_, &out_, nullptr, &append_to_string, nullptr, nullptr);
}

tar_writer::~tar_writer() {
  archive_write_free(a_);
}

tar_writer& tar_writer::file(const std::string& path, std::string_view content, unsigned mode) {
  return add(path, AE_IFREG, mode, content, [](archive_entry*) {});
}

tar_writer& tar_writer::dir(const std::string& path, unsigned mode) {
  return add(path, AE_IFDIR, mode, {}, [](archive_entry*) {});
}

tar_writer& tar_writer::symlink(const std::string& path, const std::string& target) {
  return add(path, AE_IFLNK, 0777, {},
             [&](archive_entry* e) { archive_entry_set_symlink(e, target.c_str()); });
}

tar_writer& tar_writer::hardlink(const std::string& path, const std::string& target) {
  return add(path, AE_IFREG, 0644, {},
             [&](archive_entry* e) { archive_entry_set_hardlink(e, target.c_str()); });
}

tar_writer& tar_writer::device(const std::string& path, unsigned type) {
  return add(path, type, 0600, {}, [](archive_entry* e) {
    archive_entry_set_rdevmajor(e, 1);
    archive_entry_set_rdevminor(e, 3);
  });
}

tar_writer& tar_writer::fifo(const std::string& path) {
  return add(path, AE_IFIFO, 0644, {}, [](archive_entry*) {});
}

std::string tar_writer::finish() {
  REQUIRE(archive_write_close(a_) == ARCHIVE_OK);
  return out_;
}

tar_writer& tar_writer::add(const std::string& path, unsigned type, unsigned mode,
                            std::string_view content,
                            const std::function<void(archive_entry*)>& extra) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, mode);
  archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
  archive_entry_set_mtime(e, mtime_, 0);
  extra(e);
  int r = archive_write_header(a_, e);
  INFO(path << ": " << (archive_error_string(a_) ? archive_error_string(a_) : ""));
  REQUIRE(r == ARCHIVE_OK);
  if (!content.empty())
    REQUIRE(archive_write_data(a_, content.data(), content.size()) ==
            static_cast<la_ssize_t>(content.size()));
  archive_entry_free(e);
  return *this;
}

}  // namespace nullspace::test

namespace nullspace::test {

pending_context small_context(std::string_view content) {
  pending_context out;
  out.tar = tar_writer().file("app/hello.txt", content).finish();
  out.id = runtime::context_id_from_sha256(sha256_hex(out.tar));
  return out;
}

}  // namespace nullspace::test
