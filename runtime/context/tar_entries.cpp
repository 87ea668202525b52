#include "runtime/context/tar_entries.hpp"

#include <archive.h>
#include <archive_entry.h>

namespace nullspace::runtime {

char entry_type(archive_entry* e) {
  // libarchive reports a hard link with filetype 0, so ask for the link first.
  if (archive_entry_hardlink(e)) return 'h';
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      return 'f';
    case AE_IFDIR:
      return 'd';
    case AE_IFLNK:
      return 'l';
    case AE_IFCHR:
      return 'c';
    case AE_IFBLK:
      return 'b';
    case AE_IFIFO:
      return 'p';
    default:
      return '?';
  }
}

std::string libarchive_message(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown error";
}

}  // namespace nullspace::runtime
