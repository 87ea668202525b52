// Pulling an image from an OCI registry into the image store's directory:
//   <dir>/layers/sha256-<hex>/   an unpacked layer, named by its blob's digest,
//                                so images that share a layer share its dir
//   <dir>/blobs/sha256-<hex>     manifests, indexes and configs as pulled (verified);
//                                layer blobs only while they download and unpack
// Layers already unpacked are not downloaded again; the manifest and config
// are fetched on every pull (a tag may have moved). Nothing about the
// credentials is written anywhere.
#pragma once

#include <optional>
#include <string>

#include "nullspace/error.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/request/image_ref.hpp"

namespace nullspace::runtime {

// The image `ref` names (an index resolves to this machine's platform), with
// its layers unpacked under `store_dir`. `what` is the reference as the user
// wrote it: the image's name and how messages name it. Progress lines
// ("pulling …", "layer sha256:… 1.2 MB") and cancel go through `job`. Errors
// are unavailable, with the messages of registry_client.
result<base_image> pull_image(const image_ref& ref, const std::optional<registry_auth>& auth,
                              const std::string& what, const std::string& store_dir,
                              image_job& job);

}  // namespace nullspace::runtime
