// ADD <http(s) url>: one download with libcurl, checked against an expected
// sha256 (ADD --checksum) while it streams.
//
// Blocking: call from a detached actor or a plain thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nullspace/error.hpp"
#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct fetched_file {
  std::string digest;  // "sha256:<hex>" of what was downloaded
  uint64_t bytes = 0;
};

// Downloads `url` (http or https; redirects followed) into the new file
// `path` (mode 0600, as Docker's ADD leaves a downloaded file). With
// `checksum` ("sha256:<hex>"), a download that does not match is an
// invalid_argument error and the file is removed; so is one larger than
// `max_bytes` (stopped as soon as it passes it). Messages name the URL
// without any user:password it holds. unavailable when the server cannot be
// reached or answers other than 2xx.
result<fetched_file> fetch_url(const std::string& url, const std::string& path,
                               const std::string& checksum, uint64_t max_bytes = uint64_t{2} << 30);

}  // namespace nullspace::runtime
