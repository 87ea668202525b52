// A build's artifact: its final root filesystem as an ext4 image, plus the
// template config (env, user, workdir, start command, ready check) machines
// start it with. Made without mounting the image: `mkfs.ext4 -d` copies the
// merged layer stack into a fresh file.
//
//   <artifacts dir>/<id>/rootfs.ext4     the image (sparse)
//   <artifacts dir>/<id>/config.json     the template config
//   <artifacts dir>/<id>/artifact.json   digest, sizes and the layer stack
// An artifact is made in a temp dir and renamed into place, so a reader sees a
// whole artifact or none. Identical inputs (layers, size, config) share one id,
// so a fully cached rebuild reuses the image instead of making it again.
//
// Blocking: call from a detached actor or a plain thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct artifact_spec {
  std::string id;                   // names the artifact dir (derived from the inputs)
  std::vector<std::string> layers;  // top first
  uint32_t disk_mb = 0;             // 0: what the files need plus headroom
  std::string config_json;          // the template config, stored as is
  std::string artifacts_dir;
  std::string mount_dir;  // an empty scratch dir for the read-only merge of the layers
};

struct artifact_info {
  std::string id;
  std::string dir;
  std::string digest;        // see rootfs_digest()
  uint64_t image_bytes = 0;  // the image's size (its apparent size: it is sparse)
  uint64_t used_bytes = 0;   // what the files occupy
  uint32_t disk_mb = 0;
  bool reused = false;  // it existed already
  std::string image_path() const { return dir + "/rootfs.ext4"; }
};

// Makes (or finds) the artifact. failed_precondition when an explicit disk_mb
// is smaller than the files need; unavailable when mkfs.ext4 is missing.
result<artifact_info> make_rootfs_artifact(const artifact_spec& spec);

// "sha256:<hex>" over the image's size and its data extents (offset, length,
// bytes), skipping holes: a multi-GB sparse image is hashed at the speed of
// the data it holds. Two images with the same bytes and extents match.
result<std::string> rootfs_digest(const std::string& image_path);

}  // namespace nullspace::runtime
