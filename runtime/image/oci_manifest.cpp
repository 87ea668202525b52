#include "runtime/image/oci_manifest.hpp"

#include <simdjson.h>

#include <algorithm>

namespace nullspace::runtime {
namespace {

std::string text(simdjson::dom::object o, std::string_view key) {
  std::string_view v;
  return o[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

error bad(const std::string& why) {
  return make_error(errc::invalid_argument, "the registry sent an unusable manifest: " + why);
}

result<oci_descriptor> descriptor(simdjson::dom::element el, const char* what) {
  simdjson::dom::object o;
  if (el.get(o) != simdjson::SUCCESS) return bad(std::string(what) + " is not an object");
  oci_descriptor d{text(o, "mediaType"), text(o, "digest"), 0, {}};
  if (!valid_sha256_digest(d.digest))
    return bad(std::string(what) + " has digest \"" + d.digest.substr(0, 80) +
               "\" (only sha256 digests are supported)");
  if (o["size"].get(d.size) != simdjson::SUCCESS) return bad(std::string(what) + " has no size");
  simdjson::dom::object p;
  if (o["platform"].get(p) == simdjson::SUCCESS) {
    d.platform = text(p, "os") + "/" + text(p, "architecture");
    if (auto variant = text(p, "variant"); !variant.empty()) d.platform += "/" + variant;
  }
  return d;
}

}  // namespace

std::string host_platform() {
#if defined(__x86_64__)
  return "linux/amd64";
#elif defined(__aarch64__)
  return "linux/arm64";
#else
#error "host_platform: add this architecture's OCI name"
#endif
}

bool valid_sha256_digest(std::string_view digest) {
  if (digest.size() != 71 || !digest.starts_with("sha256:")) return false;
  return std::all_of(digest.begin() + 7, digest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

result<oci_manifest> parse_oci_manifest(std::string_view body, std::string_view content_type) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(body);
  simdjson::dom::object o;
  if (parser.parse(json).get(o) != simdjson::SUCCESS) return bad("it is not a JSON object");
  auto type = text(o, "mediaType");
  if (type.empty()) type = std::string(content_type.substr(0, content_type.find(';')));
  int64_t schema = 0;
  if (o["schemaVersion"].get(schema) == simdjson::SUCCESS && schema == 1)
    return bad("Docker schema 1 manifests are not supported");

  oci_manifest m;
  simdjson::dom::array list;
  if (type == media_type::oci_index || type == media_type::docker_list ||
      (type.empty() && o["manifests"].get(list) == simdjson::SUCCESS)) {
    m.is_index = true;
    if (o["manifests"].get(list) != simdjson::SUCCESS) return bad("an index without manifests");
    for (auto el : list) {
      auto d = descriptor(el, "an index entry");
      if (!d) return d.error();
      m.manifests.push_back(std::move(d.value()));
    }
    return m;
  }
  if (!type.empty() && type != media_type::oci_manifest && type != media_type::docker_manifest)
    return bad("media type " + type.substr(0, 100) + " is not an image manifest or index");
  simdjson::dom::element config;
  if (o["config"].get(config) != simdjson::SUCCESS) return bad("no config");
  auto c = descriptor(config, "the config");
  if (!c) return c.error();
  m.config = std::move(c.value());
  if (o["layers"].get(list) != simdjson::SUCCESS) return bad("no layers");
  for (auto el : list) {
    auto d = descriptor(el, "a layer");
    if (!d) return d.error();
    m.layers.push_back(std::move(d.value()));
  }
  return m;
}

result<oci_descriptor> select_platform(const oci_manifest& index, const std::string& platform,
                                       const std::string& what) {
  // An exact "os/arch" match first; then one with a variant (e.g. amd64/v3).
  for (auto& d : index.manifests)
    if (d.platform == platform) return d;
  for (auto& d : index.manifests)
    if (d.platform.starts_with(platform + "/")) return d;
  std::string have;
  for (auto& d : index.manifests) {
    // Build attestations are listed as unknown/unknown: not images.
    if (d.platform.empty() || d.platform == "unknown/unknown") continue;
    have += (have.empty() ? "" : ", ") + d.platform;
  }
  return make_error(errc::unavailable,
                    what + " has no " + platform + " image; it has " +
                        (have.empty() ? "no platform entries" : have),
                    "builder.source.image");
}

result<oci_image_config> parse_oci_image_config(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(body);
  simdjson::dom::object o;
  if (parser.parse(json).get(o) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, "the image config is not a JSON object");
  oci_image_config c;
  auto os = text(o, "os"), arch = text(o, "architecture");
  if (!os.empty() && !arch.empty()) c.platform = os + "/" + arch;
  simdjson::dom::object config;
  simdjson::dom::array env;
  if (o["config"].get(config) == simdjson::SUCCESS && config["Env"].get(env) == simdjson::SUCCESS)
    for (auto el : env) {
      std::string_view v;
      if (el.get(v) == simdjson::SUCCESS) c.env.emplace_back(v);
    }
  return c;
}

}  // namespace nullspace::runtime
