// Base images: where a build's first layers come from.
//
// An image is a stack of layer directories (overlayfs "upper" format: deletions
// are whiteouts) plus its config. This store keeps them under one directory:
//   <dir>/layers/<layer id>/          unpacked layer, read-only once renamed in
//   <dir>/catalog/<name>.json         a made image: digest, layers, env
// The local catalog makes standard images on this machine instead of pulling:
//   busybox   from Debian's busybox-static (milliseconds; the fast-test base)
// Images that cannot be made here are a clear error, never a hang.
//
// Thread-safe: concurrent builds may resolve the same image; a layer is built
// in a temp dir and renamed into place, and the first rename wins.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/build_request.hpp"

namespace nullspace::runtime {

struct base_image {
  std::string name;                 // catalog name, e.g. "busybox"
  std::string digest;               // "sha256:<hex>": identifies the content
  std::vector<std::string> layers;  // absolute dirs, top layer first
  std::vector<std::string> env;     // "K=V" from the image config
};

class image_store {
 public:
  explicit image_store(std::string dir) : dir_(std::move(dir)) {}

  // The base image of `source`, made on first use. invalid_argument (with
  // field "builder.source") for images this machine cannot make.
  result<base_image> resolve(const build_source& source);

  const std::string& dir() const { return dir_; }

 private:
  result<base_image> busybox();
  result<base_image> make_busybox(const std::string& bin);
  std::string dir_;
  // The busybox image made last, and the binary it was made from (size and
  // mtime): resolving it again costs a stat, not a read and hash of the binary.
  std::mutex mu_;
  std::optional<base_image> busybox_;
  off_t busybox_size_ = -1;
  int64_t busybox_mtime_ns_ = -1;
};

// The catalog name a source asks for ("busybox", "debian:bookworm",
// "python:3.11"), or "" if it is not a catalog image.
std::string catalog_name(const build_source& source);

}  // namespace nullspace::runtime
