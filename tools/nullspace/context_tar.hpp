// The build context of a Dockerfile build: a directory as a tar archive in
// memory, without what its .dockerignore excludes (the server filters again,
// but ignored files never leave this machine).
//
// As Docker does: symlinks are packed as symlinks and never followed (a link
// to /dev or to a huge tree costs one entry; its target, absolute or not, is
// resolved inside the build's root when a COPY writes it); sockets, fifos and
// devices cannot be packed and are skipped, each named.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nullspace::cli {

struct skipped_entry {
  std::string path;  // relative to the context dir
  std::string kind;  // "a socket", "a fifo", "a character device", …
};

// What the walk found, before any file is read.
struct context_scan {
  std::string dir;
  uint64_t entries = 0, files = 0, bytes = 0;
  uint64_t ignored = 0;  // entries .dockerignore excluded
  std::vector<skipped_entry> skipped;
};

// Contexts past either limit get a hint before they are packed and uploaded.
inline constexpr uint64_t large_context_bytes = 100'000'000;
inline constexpr uint64_t large_context_files = 10'000;
bool is_large(const context_scan& scan);

// The lines to show the user about a scan: each skipped entry, and for a
// large context its size with a hint about .dockerignore.
std::vector<std::string> scan_warnings(const context_scan& scan);

struct context_archive {
  std::string tar;
  std::string id;  // the id the server will give it: "bc_" + 32 hex of sha256(tar)
  context_scan scan;
};

// Archives `dir` (entries sorted by path, symlinks kept as links, owner 0:0).
// `.dockerignore` itself is always sent, as Docker does. `scanned` runs after
// the walk and before any file is read (to warn early). A directory that
// cannot be read is a usage error (exit 2).
context_archive tar_directory(const std::string& dir,
                              const std::function<void(const context_scan&)>& scanned = {});

}  // namespace nullspace::cli
