#include "runtime/image/image_pull.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>

#include "runtime/image/layer_unpack.hpp"
#include "runtime/image/oci_manifest.hpp"
#include "runtime/image/oci_registry.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "storage/common/file_text.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

std::string size_text(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1u << 20))
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(bytes) / (1 << 10));
  return buf;
}

// A name no other pull (of this or another process) uses at the same time.
std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Keeps a verified manifest, index or config as blobs/sha256-<hex> (content
// addressed: the same bytes whoever pulled them). A failed write only costs
// the record, never the pull.
void keep_blob(const std::string& store_dir, const std::string& digest, std::string_view bytes) {
  auto path = store_dir + "/blobs/sha256-" + digest.substr(7);
  std::error_code ec;
  if (fs::exists(path, ec)) return;
  fs::create_directories(store_dir + "/blobs", ec);
  auto tmp = path + ".tmp-" + unique_suffix();
  if (write_text_file(tmp, bytes)) fs::rename(tmp, path, ec);
  fs::remove(tmp, ec);
}

// The image manifest for this machine: `ref` itself, or its entry for
// host_platform() if it is an index. Each manifest is kept (keep_blob).
result<std::pair<std::string, oci_manifest>> platform_manifest(registry_client& client,
                                                               const image_ref& ref,
                                                               const std::string& what,
                                                               const std::string& store_dir) {
  auto fetched = client.manifest(ref.reference());
  if (!fetched) return fetched.error();
  keep_blob(store_dir, fetched->digest, fetched->body);
  auto m = parse_oci_manifest(fetched->body, fetched->content_type);
  if (!m) return make_error(errc::unavailable, what + ": " + m.error().message);
  if (!m->is_index) return std::pair{fetched->digest, std::move(m.value())};
  auto entry = select_platform(*m, host_platform(), what);
  if (!entry) return entry.error();
  fetched = client.manifest(entry->digest);
  if (!fetched) return fetched.error();
  keep_blob(store_dir, fetched->digest, fetched->body);
  m = parse_oci_manifest(fetched->body, fetched->content_type);
  if (!m) return make_error(errc::unavailable, what + ": " + m.error().message);
  if (m->is_index)
    return make_error(errc::unavailable,
                      what + ": the " + host_platform() + " entry of its index is another index");
  return std::pair{fetched->digest, std::move(m.value())};
}

// layers/sha256-<hex>, downloaded and unpacked unless it is there already.
result<std::string> layer_dir(registry_client& client, const oci_descriptor& blob,
                              const std::string& store_dir, image_job& job) {
  auto hex = blob.digest.substr(7);
  auto dir = store_dir + "/layers/sha256-" + hex;
  if (fs::is_directory(dir)) {
    job.progress("layer " + blob.digest.substr(0, 19) + "… already unpacked");
    return dir;
  }
  std::error_code ec;
  fs::create_directories(store_dir + "/blobs", ec);
  fs::create_directories(store_dir + "/layers", ec);
  auto suffix = unique_suffix();
  auto blob_file = store_dir + "/blobs/sha256-" + hex + ".tmp-" + suffix;
  auto tmp = store_dir + "/layers/.tmp-sha256-" + hex + "-" + suffix;
  auto cleanup = [&] {
    fs::remove(blob_file, ec);
    remove_tree(tmp);
  };
  auto fetched = client.blob_file(blob, blob_file);
  if (!fetched) {
    cleanup();
    return fetched.error();
  }
  fs::create_directory(tmp, ec);
  auto unpacked = unpack_layer(blob_file, tmp, job);
  if (!unpacked) {
    cleanup();
    return make_error(unpacked.error().code,
                      "layer " + blob.digest + ": " + unpacked.error().message);
  }
  fs::remove(blob_file, ec);
  fs::rename(tmp, dir, ec);
  if (ec) {
    remove_tree(tmp);
    // Another pull unpacked the same layer first: theirs is as good.
    if (!fs::is_directory(dir))
      return make_error(errc::internal, "cannot store layer " + blob.digest + ": " + ec.message());
  }
  job.progress("layer " + blob.digest.substr(0, 19) + "… " + size_text(blob.size));
  return dir;
}

}  // namespace

result<base_image> pull_image(const image_ref& ref, const std::optional<registry_auth>& auth,
                              const std::string& what, const std::string& store_dir,
                              image_job& job) {
  job.progress("pulling " + what + " from " + registry_base_url(ref.registry));
  registry_client client(ref, auth, job, what);
  auto manifest = platform_manifest(client, ref, what, store_dir);
  if (!manifest) return manifest.error();
  auto& [digest, m] = manifest.value();
  for (auto& l : m.layers)
    if (!layer_media_type_supported(l.media_type))
      return make_error(errc::unavailable,
                        what + ": layer " + l.digest + " is " + l.media_type.substr(0, 100) +
                            "; only tar layers, plain or gzip or zstd compressed, can be "
                            "unpacked");
  if (m.layers.empty()) return make_error(errc::unavailable, what + " has no layers");

  auto config_text = client.blob_text(m.config);
  if (!config_text) return config_text.error();
  keep_blob(store_dir, m.config.digest, *config_text);
  auto config = parse_oci_image_config(*config_text);
  if (!config) return make_error(errc::unavailable, what + ": " + config.error().message);
  if (!config->platform.empty() && config->platform != host_platform())
    return make_error(
        errc::unavailable,
        what + " is a " + config->platform + " image; this machine runs " + host_platform(),
        "builder.source.image");

  base_image img{what, digest, {}, config->env};
  if (std::none_of(img.env.begin(), img.env.end(), [](auto& e) { return e.starts_with("PATH="); }))
    img.env.insert(img.env.begin(), default_path_env);
  for (auto& l : m.layers) {
    auto dir = layer_dir(client, l, store_dir, job);
    if (!dir) return dir.error();
    img.layers.insert(img.layers.begin(), std::move(dir.value()));  // top first
  }
  job.progress("pulled " + what + " " + digest + " (" + std::to_string(m.layers.size()) +
               (m.layers.size() == 1 ? " layer)" : " layers)"));
  return img;
}

}  // namespace nullspace::runtime
