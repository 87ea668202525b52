// Base images: where a build's first layers come from.
//
// An image is a stack of layer directories (overlayfs "upper" format: deletions
// are whiteouts) plus its config. This store keeps them under one directory:
//   <dir>/layers/<layer id>/          unpacked layer, read-only once renamed in
//   <dir>/catalog/<name>.json         a made image: digest, layers, env
//   <dir>/locks/<name>.lock           held (flock) while an image is being made
//   <dir>/debs/                       packages debootstrap downloaded, reused
// The local catalog makes standard images on this machine instead of pulling:
//   busybox           from Debian's busybox-static (milliseconds; the fast-test base)
//   debian:bookworm   debootstrap minbase from Debian's mirror (about a minute, once)
//   python:3.11       the same plus Debian's python3, pip and venv (once)
// Any other `image` source (another registry, or a Docker Hub name the catalog
// does not have) is pulled from its registry (runtime/image/image_pull.hpp) into
//   <dir>/layers/sha256-<hex>/        a pulled layer, shared by the images that have it
// Images that cannot be made or pulled are a clear error, never a hang.
//
// Thread- and process-safe: builds (of one or several engines sharing the
// directory) may resolve the same image at once; one makes it, the others wait
// for it, and a made image is found again after a restart.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/request/image_ref.hpp"

namespace nullspace::runtime {

using nullspace::default_debian_mirror;

struct base_image {
  std::string name;                 // catalog name ("busybox") or the pulled reference
  std::string digest;               // "sha256:<hex>": identifies the content
  std::vector<std::string> layers;  // absolute dirs, top layer first
  std::vector<std::string> env;     // "K=V" from the image config
};

class image_store {
 public:
  // `runner` runs debootstrap; it must outlive the store.
  image_store(std::string dir, process_runner& runner,
              std::string debian_mirror = default_debian_mirror);

  // The base image of `source`, made on first use or pulled; progress and
  // cancel through `job` (may be null). invalid_argument (field
  // "builder.source") for a python_image the catalog cannot make or a malformed
  // image reference; unavailable when making or pulling fails or is cancelled.
  result<base_image> resolve(const build_source& source, image_job* job = nullptr);

  // Catalog image `name` (see catalog()), made if it is not there yet.
  result<base_image> make(const std::string& name, image_job* job = nullptr);

  // The names the local catalog can make.
  static std::vector<std::string> catalog();

  const std::string& dir() const { return dir_; }

 private:
  result<base_image> pull(const image_ref& ref, const build_source& source, image_job* job);
  result<base_image> busybox();
  result<base_image> make_busybox(const std::string& bin);
  result<base_image> debian(const std::string& name, image_job& job);
  std::optional<base_image> read_catalog(const std::string& name) const;

  std::string dir_;
  process_runner& runner_;
  std::string mirror_;
  std::mutex mu_;
  // The busybox image made last, and the binary it was made from (size and
  // mtime): resolving it again costs a stat, not a read and hash of the binary.
  std::optional<base_image> busybox_;
  off_t busybox_size_ = -1;
  int64_t busybox_mtime_ns_ = -1;
  std::map<std::string, base_image> made_;  // debootstrap images found or made
};

// The catalog name a source asks for ("busybox", "debian:bookworm",
// "python:3.11", or e.g. "python:3.12" that the catalog cannot make), or "" if
// it is not a catalog image.
std::string catalog_name(const build_source& source);

}  // namespace nullspace::runtime
