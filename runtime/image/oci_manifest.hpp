// The JSON documents of an OCI (or Docker v2) image as a registry serves them:
// image manifests, indexes (manifest lists) and image configs. Parsing only;
// fetching and digest checks are in oci_registry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// The media types asked for (Accept) and understood.
namespace media_type {
inline constexpr const char* oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
}  // namespace media_type

// The platform images are run on here: "linux/amd64" on x86-64.
std::string host_platform();

struct oci_descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>": checked, so safe in a file name
  uint64_t size = 0;
  std::string platform;  // in an index: "os/arch" or "os/arch/variant"
};

// Either an image manifest (config + layers) or an index of per-platform manifests.
struct oci_manifest {
  bool is_index = false;
  oci_descriptor config;                  // image manifest
  std::vector<oci_descriptor> layers;     // image manifest: bottom layer first
  std::vector<oci_descriptor> manifests;  // index
};

// `body` as served with `content_type` (the body's own mediaType wins when it
// has one). invalid_argument naming what is wrong (schema 1, a bad digest, …).
result<oci_manifest> parse_oci_manifest(std::string_view body, std::string_view content_type);

// The index entry for `platform` ("linux/amd64"); an error listing the
// platforms the index has otherwise. `what` names the image in messages.
result<oci_descriptor> select_platform(const oci_manifest& index, const std::string& platform,
                                       const std::string& what);

struct oci_image_config {
  std::string platform;          // "os/arch", "" if the config does not say
  std::vector<std::string> env;  // config.Env
};

result<oci_image_config> parse_oci_image_config(std::string_view body);

// True for "sha256:" followed by 64 lowercase hex digits.
bool valid_sha256_digest(std::string_view digest);

}  // namespace nullspace::runtime
