// Reading entries of an uploaded build-context tar with libarchive: shared by
// build_context.cpp (which inspects the archive) and context_copy.cpp (which
// writes its files into a layer).
#pragma once

#include <string>

struct archive;
struct archive_entry;

namespace nullspace::runtime {

// 'f' regular, 'd' directory, 'l' symlink, 'h' hard link, 'c' char device,
// 'b' block device, 'p' fifo, '?' anything else (context_entry::type).
char entry_type(archive_entry* e);

// libarchive's message for the last error on `a`, never empty.
std::string libarchive_message(archive* a);

}  // namespace nullspace::runtime
