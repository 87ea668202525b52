// A blocking client of one repository on an OCI distribution registry
// (libcurl): manifests and blobs, every one checked against its sha256 digest.
//
// Scheme: plain http for loopback registries (localhost, 127.x, [::1]), https
// with certificate checks for every other host; docker.io is served by
// registry-1.docker.io. Authentication follows the registry's 401 challenge:
// `Basic` retries with the credentials, `Bearer` fetches a token from the
// challenge's realm (sending the credentials there, if any) and retries with it.
// Credentials live only in this object's memory: they are never written out and
// never part of an error message or progress line.
//
// An unreachable registry fails within seconds (connect timeout), a stalled
// transfer after half a minute, and the image_job's cancel aborts any transfer.
// Call from a worker thread, never from CAF's shared workers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nullspace/error.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/image/oci_manifest.hpp"
#include "runtime/request/build_request.hpp"
#include "runtime/request/image_ref.hpp"

namespace nullspace::runtime {

// "http://127.0.0.1:5000" or "https://ghcr.io": where `registry`'s /v2/ API is.
std::string registry_base_url(const std::string& registry);

// A parsed WWW-Authenticate header: `Basic realm="x"` or
// `Bearer realm="https://auth…",service="…",scope="repository:ns/img:pull"`.
struct auth_challenge {
  std::string scheme;  // lowercase: "basic", "bearer", or "" if none was parsable
  std::string realm, service, scope;
};
auth_challenge parse_auth_challenge(std::string_view header);

struct fetched_manifest {
  std::string digest;        // sha256 of body, checked against what was asked/announced
  std::string content_type;  // as served
  std::string body;
};

class registry_client {
 public:
  // `what` names the image in messages (the reference as the user wrote it).
  registry_client(image_ref ref, std::optional<registry_auth> auth, image_job& job,
                  std::string what);
  ~registry_client();
  registry_client(const registry_client&) = delete;
  registry_client& operator=(const registry_client&) = delete;

  // The manifest or index `reference` (a tag or "sha256:…") names. By digest,
  // the body must hash to it; by tag, to the Docker-Content-Digest the
  // registry announces, if any.
  result<fetched_manifest> manifest(const std::string& reference);

  // A small blob (an image config: at most 8 MB) in memory, digest checked.
  result<std::string> blob_text(const oci_descriptor& blob);

  // A blob streamed into `path` (created or truncated), hashed as it arrives;
  // a digest or size mismatch is an error (the file is then left for the caller
  // to remove).
  result<bool> blob_file(const oci_descriptor& blob, const std::string& path);

 private:
  struct transfer;
  struct response;
  result<response> get(const std::string& url, const std::string& accept, transfer& into);
  result<response> perform(const std::string& url, const std::string& accept, transfer& into);
  result<bool> authenticate(const std::string& challenge);
  // 401/403: wrong credentials, or none given where the registry wants some.
  error credentials_error() const;
  error status_error(const response& r, const std::string& object) const;
  error transfer_error(int curl_code, const std::string& url) const;

  image_ref ref_;
  std::optional<registry_auth> auth_;
  image_job& job_;
  std::string what_;
  std::string base_url_;
  std::string authorization_;  // the current Authorization header value, or ""
  void* curl_;                 // CURL*, one handle for every request (keeps the connection)
  char error_buffer_[256] = {};
};

}  // namespace nullspace::runtime
