// ext4 images on loop devices: the artifact's rootfs.ext4 mounted read-only,
// and a machine's own writable disk (a sparse ext4 image of disk_mb).
//
// Loop devices are attached with LO_FLAGS_AUTOCLEAR and our descriptor is
// closed once the filesystem is mounted, so the kernel detaches the device
// when the mount goes: a crash between attaching and mounting, or an unmount
// by anyone, leaves no loop device behind.
//
// Blocking (mkfs, mounts): call from a detached actor or a plain thread.
#pragma once

#include <cstdint>
#include <string>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// Mounts the ext4 image `image` at `target` through a fresh loop device.
result<bool> mount_ext4_image(const std::string& image, const std::string& target, bool read_only);

// Detaches loop devices backed by `file` (left by a mount that was lazily
// detached, or by someone else's open): a clean-up step.
void detach_loops_of(const std::string& file);

// Loop devices whose backing file lies under `dir` / is `file`.
int loops_under(const std::string& dir);
int loops_of(const std::string& file);

// Creates `path` as an empty ext4 filesystem of `bytes` (no journal, no
// reserved blocks), sparse. The first image of each size is made with
// mkfs.ext4 into `blank_dir`; later ones copy its data extents only, which
// takes well under a millisecond instead of a mkfs run (see docs/ARCHITECTURE.md).
result<bool> make_blank_disk(const std::string& blank_dir, const std::string& path, uint64_t bytes);

// The image size that gives a filesystem at least `free_mb` MB of free space.
uint64_t disk_image_bytes(uint32_t free_mb);

// Free bytes of the filesystem holding `path` (statfs: available to root).
uint64_t free_bytes(const std::string& path);

}  // namespace nullspace::runtime
