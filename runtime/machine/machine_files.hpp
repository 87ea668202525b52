// Files inside a machine, for the files API: every path is resolved inside
// the machine's root directory (`root`, an open directory: the container's
// /proc/<init>/root, so the machine's own mounts are what is seen) with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). `..` stops at the root;
// symlinks, absolute or relative, resolve as if the root were `/`; /proc
// magic links are refused. No host file is ever read or written.
//
// Paths are absolute inside the machine. Blocking: plain file system calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/machine/machine_driver.hpp"

namespace nullspace::runtime {

// The file's bytes; payload_too_large if it holds more than `max_bytes`,
// failed_precondition for a directory or anything but a regular file.
result<std::string> read_file_at(int root, const std::string& path, size_t max_bytes);

// Writes the whole file: to a temp name in its directory, then renamed over
// the path (a reader sees the old or the new file; a symlink at the path is
// replaced, never followed). Parents are created (0755) with make_parents.
// A new file gets w.mode (default 0644) and w.uid/w.gid (default
// `default_uid`/`default_gid`); an existing one keeps what it had unless
// they are given. Nothing is written under /proc or /sys.
result<file_entry> write_file_at(int root, const file_write& w, uint32_t default_uid,
                                 uint32_t default_gid);

// Entries of a directory, sorted by name (symlinks are not followed).
result<std::vector<file_entry>> list_dir_at(int root, const std::string& path);

// Removes a file, symlink or (empty, or with `recursive` any) directory;
// not_found if nothing is there. The root itself cannot be removed.
result<bool> remove_path_at(int root, const std::string& path, bool recursive);

// mkdir -p inside the root; created directories are 0755 owned by uid:gid.
result<bool> make_dirs_at(int root, const std::string& path, uint32_t uid, uint32_t gid);

}  // namespace nullspace::runtime
