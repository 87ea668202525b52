// overlayfs mounts of layer stacks, and the filesystem chores around layers.
// Every function here blocks (syscalls, directory walks): call them from a
// detached actor or a plain thread, never from CAF's shared workers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// Mounts an overlay at `target`: `lowers` listed top layer first. With an
// `upper` (and its `work` dir on the same filesystem) the mount is writable and
// every change lands in `upper` (deletions as overlay whiteouts); without one it
// is read-only. Layers are passed as /proc/self/fd paths, so long data-dir paths
// do not limit how many layers fit into the mount options.
//
// `unsynced`: the mount is "volatile" (Linux 5.10+; a plain mount on older
// kernels): overlayfs then skips every sync of the upper filesystem, above all
// the one at unmount, which otherwise syncs that whole filesystem (tens of ms
// on a busy disk). Whoever keeps the upper dir must make it durable itself
// (sync_tree below) before anything durable refers to it.
result<bool> mount_overlay(const std::vector<std::string>& lowers, const std::string& upper,
                           const std::string& work, const std::string& target,
                           bool unsynced = false);

// syncfs() of the filesystem holding `path`: everything written there so far is
// on disk once it returns.
result<bool> sync_filesystem_of(const std::string& path);

// How many times this process called sync_filesystem_of (tests prove a build
// that made no layer syncs nothing: a syncfs waits for every dirty page of the
// file system, whoever wrote it).
uint64_t filesystem_syncs();

// Unmounts `target` if it is a mount point (lazily if it is busy). Idempotent.
void unmount_quietly(const std::string& target);

// Bytes used by the files under `dir` (regular files and symlinks, not dirs),
// without following links and without leaving the filesystem.
uint64_t tree_bytes(const std::string& dir);

// Removes `dir` with everything below it, unmounting any mount point found
// below it first. Idempotent.
void remove_tree(const std::string& dir);

}  // namespace nullspace::runtime
