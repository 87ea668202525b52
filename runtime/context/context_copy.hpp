// `copy` steps: files from an uploaded build context (a tar archive stored by
// store_context_tar) written into a step's mounted rootfs.
//
// Semantics follow Docker's COPY:
//  - `src` names a path in the context ("" or "." is the whole context). A
//    directory's contents are copied into `dest` (created if missing); a file is
//    copied to `dest`, or into it when `dest` ends in "/" or is a directory.
//  - Modes and modification times come from the archive; everything written is
//    owned by `uid`:`gid` (the build's current user). Existing files and links
//    are replaced; a directory is never replaced by a file (an error).
//  - Device files and fifos are skipped (uploads list them as unsupported).
//  - A `src` pattern (*.json) copies every match; several need a dest ending
//    in "/". What the context's .dockerignore excludes is never copied.
//
// Every path is resolved inside the rootfs (openat2 RESOLVE_IN_ROOT): a symlink
// in the image, absolute or with "..", can point only at the image itself, so a
// copy never writes outside the rootfs whatever the image or archive contain.
//
// Blocking (reads the archive, writes files): call from a detached actor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct copy_request {
  std::string tar_path;  // the stored context archive
  // Path inside the context, relative ("" = its root), or a pattern
  // (runtime/request/path_glob.hpp) whose every match is copied.
  std::string src;
  std::string dest;  // absolute path inside the image
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Paths the archive's top-level .dockerignore excludes are not copied.
  bool use_dockerignore = true;
  // COPY --chmod: the mode of every file and directory copied (else the archive's).
  std::optional<uint32_t> mode = std::nullopt;
  // COPY --chmod=u+x (runtime/request/file_mode.hpp): applied to each entry's
  // own mode; used when `mode` is not set.
  std::string symbolic_mode = {};
  // ADD: a source file that is a tar archive (plain, gzip, bzip2 or xz) is
  // unpacked into dest, a directory, instead of copied.
  bool extract = false;
};

struct copy_summary {
  uint64_t files = 0;  // regular files and hard links
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t bytes = 0;
  uint64_t archives = 0;             // ADD: tar archives unpacked
  std::vector<std::string> skipped;  // context paths not copied (devices, fifos)
  std::string text() const;          // "3 files (12 KiB), 2 dirs, 1 symlink"
};

// Copies into the directory `rootfs` (the mounted image). invalid_argument for
// what the request or the image get wrong (src not in the context, a directory
// in the way of a file, ...), internal for I/O failures; the message names the
// image path.
result<copy_summary> copy_from_context(const std::string& rootfs, const copy_request& req);

// The absolute tar path of an uploaded context, from the manifest JSON the
// store keeps for it; "" if the manifest has no valid digest.
std::string context_tar_path(const std::string& contexts_dir, std::string_view manifest_json);

}  // namespace nullspace::runtime
