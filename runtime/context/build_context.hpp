// Build contexts: the tar archive a client uploads (POST /v1/build-contexts) so
// that COPY/ADD and `copy` steps can read files from it. This file inspects the
// archive in memory (nothing is ever extracted) and stores it content-addressed.
//
// Security model: every entry path and hard link target is resolved lexically
// against the context root. Anything that leaves the root makes the upload
// fail; device files and fifos are only listed (a later build step skips
// them). Symlinks are kept as written, whatever they point to: nothing ever
// follows them on the host (a copy resolves paths inside the build's root).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct context_entry {
  std::string path;         // normalized relative path, no leading "./" or "/", no trailing "/"
  char type = 'f';          // 'f' regular, 'd' directory, 'l' symlink, 'h' hard link,
                            // 'c' char dev, 'b' block dev, 'p' fifo, '?' other
  uint64_t size = 0;        // bytes for regular files, 0 otherwise
  uint32_t mode = 0;        // permission bits (07777)
  std::string link_target;  // 'l': as written (absolute, or from the link's directory);
                            // 'h': normalized, relative to the context root
};

struct context_problem {
  std::string path;    // the entry's path as written in the archive
  std::string reason;  // a human sentence, e.g. "path escapes the context root"
};

struct context_limits {
  uint64_t max_tar_bytes = 1ull << 30;  // checked by the caller before reading, and again here
  uint64_t max_entries = 100000;
  uint64_t large_file_bytes = 50ull << 20;  // larger regular files produce a warning
};

// A build context's id from the sha256 (hex) of its tar bytes: content-addressed,
// so a client can know it before uploading.
inline std::string context_id_from_sha256(std::string_view hex) {
  return "bc_" + std::string(hex.substr(0, 32));
}

struct context_manifest {
  std::string id;      // "bc_" + first 32 hex chars of the sha256 of the tar bytes
  std::string digest;  // "sha256:" + 64 hex of the tar bytes
  uint64_t files = 0;  // number of regular files
  uint64_t bytes = 0;  // sum of regular file sizes
  // In archive order, only the supported ones (f, d, l, h inside the root); of
  // several entries with one path only the last is kept.
  std::vector<context_entry> entries;
  std::vector<context_problem> warnings;     // large files, duplicate paths, ...
  std::vector<context_problem> unsupported;  // devices, fifos, anything escaping the root

  // {"id","digest","files","bytes","entries":[{"path","type","size","mode","link_target"?}],
  //  "warnings":[{"path","reason"}],"unsupported":[{"path","reason"}]}
  // with type as a word: file, dir, symlink, hardlink, chardev, blockdev, fifo, other.
  std::string json() const;
};

// Reads an uncompressed tar archive (ustar, pax, GNU) held in memory. An empty,
// malformed or truncated body is invalid_argument; more than max_entries entries
// is payload_too_large. Problems with single entries never fail inspection: they
// are listed in `unsupported` / `warnings`.
result<context_manifest> inspect_context_tar(std::string_view tar,
                                             const context_limits& limits = {});

// Inspects, rejects (invalid_argument, field "body") an archive with an entry
// that escapes the root, then stores `<contexts_dir>/<hex>.tar` and the manifest
// as `<hex>.json`, each written to a temp file, fsynced and renamed into place.
// Idempotent: files already present are not rewritten.
result<context_manifest> store_context_tar(std::string_view tar, const std::string& contexts_dir,
                                           const context_limits& limits = {});

}  // namespace nullspace::runtime
