// Unpacking an OCI image layer (a tar, gzip- or zstd-compressed or plain) into
// a layer directory in overlayfs "upper" format, the format of every layer the
// image store and the build steps use:
//   <dir>/x/.wh.name   -> <dir>/x/name, a char device 0/0 (a whiteout)
//   <dir>/x/.wh..wh..opq -> xattr trusted.overlay.opaque="y" on <dir>/x
// Modes, owners (numeric), mtimes, symlinks, hardlinks and xattrs (other than
// trusted.*, which overlayfs would read as its own) are kept. Entries that
// would land outside the directory (absolute paths, "..", a path through a
// symlink, a hard link to outside) fail the unpack. Needs root (owners,
// devices, trusted xattrs). Blocks: call it from a worker thread.
#pragma once

#include <string>
#include <string_view>

#include "nullspace/error.hpp"
#include "runtime/image/image_job.hpp"

namespace nullspace::runtime {

// True for layer media types unpack_layer reads: tar, tar+gzip, tar+zstd (OCI)
// and Docker's rootfs.diff.tar.gzip. Foreign/non-distributable layers (fetched
// from elsewhere) and other compressions are not.
bool layer_media_type_supported(std::string_view media_type);

// Unpacks the layer archive at `archive_path` into `dir` (an existing, empty
// directory). Cancelled through `job` between entries. The error message names
// the entry at fault; `dir` is then half-filled and left for the caller.
result<bool> unpack_layer(const std::string& archive_path, const std::string& dir,
                          const image_job& job);

}  // namespace nullspace::runtime
