// OCI / Docker v2 manifests, indexes and image configs as a registry serves
// them (runtime/image/oci_manifest.hpp). The first input byte picks the
// Content-Type the body comes with; the rest is the body. Invariants: every
// digest accepted is a valid sha256 digest (they become file names); an image
// manifest has a config; an index entry picked for a platform is one of its
// entries.
#include <algorithm>

#include "fuzz_check.hpp"
#include "runtime/image/oci_manifest.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* types[] = {media_type::oci_manifest,    media_type::oci_index,
                                media_type::docker_manifest, media_type::docker_list,
                                "application/json",          ""};
  auto content_type = types[data[0] % std::size(types)];
  auto body = fuzz::text(data + 1, size - 1);

  if (auto m = parse_oci_manifest(body, content_type)) {
    if (m->is_index) {
      for (auto& d : m->manifests) FUZZ_CHECK(valid_sha256_digest(d.digest));
      for (auto platform : {"linux/amd64", "linux/arm64/v8", ""}) {
        auto picked = select_platform(*m, platform, "fuzz");
        if (!picked) continue;
        FUZZ_CHECK(std::any_of(m->manifests.begin(), m->manifests.end(),
                               [&](auto& d) { return d.digest == picked->digest; }));
      }
    } else {
      FUZZ_CHECK(valid_sha256_digest(m->config.digest));
      for (auto& d : m->layers) FUZZ_CHECK(valid_sha256_digest(d.digest));
    }
  } else {
    FUZZ_CHECK(!m.error().message.empty());
  }
  if (auto c = parse_oci_image_config(body)) {
    for (auto& e : c->env) (void)e;
  } else {
    FUZZ_CHECK(!c.error().message.empty());
  }
  return 0;
}
