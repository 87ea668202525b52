#include "runtime/image/oci_registry.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <simdjson.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "runtime/request/image_ref.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace::runtime {
namespace {

constexpr long connect_timeout_s = 10;
// A transfer that moves less than a byte a second for this long has stalled.
constexpr long stall_timeout_s = 30;
constexpr long small_request_timeout_s = 120;  // manifests, configs, tokens
constexpr size_t max_manifest_bytes = 4 << 20;
constexpr size_t max_config_bytes = 8 << 20;
constexpr size_t max_error_body_bytes = 16 << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string basic_authorization(const registry_auth& a) {
  return "Basic " + base64(a.username + ":" + a.password);
}

std::string url_escape(CURL* c, const std::string& s) {
  char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

// The "message" of the first error in a registry's JSON error body, if any.
std::string registry_message(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(body);
  simdjson::dom::element doc;
  std::string_view msg;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) return {};
  if (doc.at_pointer("/errors/0/message").get(msg) != simdjson::SUCCESS) return {};
  return std::string(msg.substr(0, 200));
}

}  // namespace

std::string registry_base_url(const std::string& registry) {
  if (registry == docker_hub) return "https://registry-1.docker.io";
  return (is_loopback_registry(registry) ? "http://" : "https://") + registry;
}

auth_challenge parse_auth_challenge(std::string_view header) {
  auth_challenge c;
  auto s = trim(header);
  auto space = s.find(' ');
  c.scheme = lower(s.substr(0, space));
  if (c.scheme != "basic" && c.scheme != "bearer") {
    c.scheme.clear();
    return c;
  }
  // key=value or key="value" pairs separated by commas; quoted values may hold commas.
  size_t i = space == std::string::npos ? s.size() : space + 1;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    auto eq = s.find('=', i);
    if (eq == std::string::npos) break;
    auto key = lower(trim(std::string_view(s).substr(i, eq - i)));
    std::string value;
    i = eq + 1;
    if (i < s.size() && s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value += s[i];
      }
      ++i;  // the closing quote
    } else {
      auto comma = s.find(',', i);
      value = trim(std::string_view(s).substr(i, comma == std::string::npos ? comma : comma - i));
      i = comma == std::string::npos ? s.size() : comma;
    }
    if (key == "realm") c.realm = value;
    if (key == "service") c.service = value;
    if (key == "scope") c.scope = value;
  }
  return c;
}

// Where one request's body goes: a 2xx body into `body` (at most max_body
// bytes) or, with fd set, into that file through `hash`; any other status's
// body into error_body, for its message.
struct registry_client::transfer {
  CURL* curl = nullptr;
  std::string body;
  size_t max_body = max_manifest_bytes;
  int fd = -1;
  sha256* hash = nullptr;
  uint64_t expected_size = 0;  // with fd: more than this is an error at once
  uint64_t received = 0;
  std::string error_body;
  bool too_big = false;
  int write_errno = 0;
  image_job* job = nullptr;

  void reset() {
    body.clear();
    error_body.clear();
    received = 0;
    too_big = false;
    write_errno = 0;
  }

  static size_t on_data(char* data, size_t, size_t n, void* self) {
    auto& t = *static_cast<transfer*>(self);
    long status = 0;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      if (t.error_body.size() < max_error_body_bytes)
        t.error_body.append(data, std::min(n, max_error_body_bytes - t.error_body.size()));
      return n;
    }
    t.received += n;
    if (t.fd < 0) {
      if (t.body.size() + n > t.max_body) {
        t.too_big = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      t.body.append(data, n);
      return n;
    }
    if (t.received > t.expected_size) {
      t.too_big = true;
      return 0;
    }
    t.hash->update(std::string_view(data, n));
    for (size_t done = 0; done < n;) {
      auto w = ::write(t.fd, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        t.write_errno = w < 0 ? errno : EIO;
        return 0;
      }
      done += static_cast<size_t>(w);
    }
    return n;
  }

  static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<transfer*>(self);
    return t.job && t.job->cancelled() ? 1 : 0;  // non-zero aborts the transfer
  }
};

struct registry_client::response {
  long status = 0;
  std::string content_type, docker_content_digest, www_authenticate;
  std::string error_body;

  // Called once per header line, for every response (redirects and 401s too):
  // a status line starts the headers of the next response.
  static size_t on_header(char* data, size_t, size_t n, void* self) {
    auto& r = *static_cast<response*>(self);
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
      r.content_type.clear();
      r.docker_content_digest.clear();
      r.www_authenticate.clear();
      return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    auto name = lower(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-type") r.content_type = value;
    if (name == "docker-content-digest") r.docker_content_digest = value;
    if (name == "www-authenticate" && r.www_authenticate.empty()) r.www_authenticate = value;
    return n;
  }
};

registry_client::registry_client(image_ref ref, std::optional<registry_auth> auth, image_job& job,
                                 std::string what)
    : ref_(std::move(ref)),
      auth_(std::move(auth)),
      job_(job),
      what_(std::move(what)),
      base_url_(registry_base_url(ref_.registry)),
      curl_(curl_easy_init()) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return;
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Blob downloads are redirected to storage hosts; curl does not send our
  // Authorization header to another host (CURLOPT_UNRESTRICTED_AUTH stays off).
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "nullspace");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &transfer::on_data);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &response::on_header);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &transfer::on_progress);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

registry_client::~registry_client() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

result<registry_client::response> registry_client::perform(const std::string& url,
                                                           const std::string& accept,
                                                           transfer& into) {
  if (job_.cancelled()) return make_error(errc::unavailable, "cancelled");
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return make_error(errc::internal, "cannot start libcurl");
  response r;
  into.reset();
  into.curl = c;
  into.job = &job_;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  if (!authorization_.empty())
    headers = curl_slist_append(headers, ("Authorization: " + authorization_).c_str());
  error_buffer_[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &into);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &into);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, into.fd < 0 ? small_request_timeout_s : 0L);
  auto code = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    if (job_.cancelled()) return make_error(errc::unavailable, "cancelled");
    if (into.too_big)
      return make_error(errc::unavailable,
                        "registry " + ref_.registry + " sent more for " + what_ + " than " +
                            (into.fd >= 0 ? "the " + std::to_string(into.expected_size) +
                                                " bytes the blob's descriptor announced"
                                          : std::to_string(into.max_body >> 20) + " MB"));
    if (into.write_errno)
      return make_error(errc::internal,
                        "cannot store a blob of " + what_ + ": " + std::strerror(into.write_errno));
    char* effective = nullptr;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
    return transfer_error(code, effective ? effective : url);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.error_body = std::move(into.error_body);
  return r;
}

result<registry_client::response> registry_client::get(const std::string& url,
                                                       const std::string& accept, transfer& into) {
  bool challenged = false;
  for (;;) {
    auto r = perform(url, accept, into);
    if (!r || r->status != 401 || challenged) return r;
    // Answer the challenge once; a second 401 means the credentials are wrong.
    challenged = true;
    if (auto a = authenticate(r->www_authenticate); !a) return a.error();
  }
}

result<bool> registry_client::authenticate(const std::string& header) {
  auto challenge = parse_auth_challenge(header);
  if (challenge.scheme == "basic") {
    if (!auth_) return credentials_error();
    authorization_ = basic_authorization(*auth_);
    return true;
  }
  if (challenge.scheme != "bearer")
    return make_error(errc::unavailable, "registry " + ref_.registry +
                                             " asks for an authentication this client does not "
                                             "speak (only Basic and Bearer)");
  if (!challenge.realm.starts_with("https://") && !challenge.realm.starts_with("http://"))
    return make_error(errc::unavailable,
                      "registry " + ref_.registry + " sent a Bearer challenge without a realm URL");
  CURL* c = static_cast<CURL*>(curl_);
  auto scope =
      challenge.scope.empty() ? "repository:" + ref_.repository + ":pull" : challenge.scope;
  auto url = challenge.realm + (challenge.realm.find('?') == std::string::npos ? "?" : "&");
  if (!challenge.service.empty()) url += "service=" + url_escape(c, challenge.service) + "&";
  url += "scope=" + url_escape(c, scope);
  // The token endpoint takes the credentials (anonymous tokens without them).
  authorization_ = auth_ ? basic_authorization(*auth_) : "";
  transfer t;
  t.max_body = max_manifest_bytes;
  auto r = perform(url, "application/json", t);
  authorization_.clear();
  if (!r) return r.error();
  if (r->status != 200) return status_error(*r, "token");
  simdjson::dom::parser parser;
  simdjson::padded_string json(t.body);
  simdjson::dom::object o;
  std::string_view token;
  if (parser.parse(json).get(o) != simdjson::SUCCESS ||
      (o["token"].get(token) != simdjson::SUCCESS &&
       o["access_token"].get(token) != simdjson::SUCCESS) ||
      token.empty())
    return make_error(errc::unavailable,
                      "the token service of registry " + ref_.registry + " sent no token");
  authorization_ = "Bearer " + std::string(token);
  return true;
}

error registry_client::credentials_error() const {
  if (auth_)
    return make_error(errc::unavailable,
                      "invalid credentials for a private registry: " + ref_.registry +
                          " rejected the credentials given for " + ref_.repository,
                      "builder.source.auth");
  return make_error(errc::unavailable,
                    "registry " + ref_.registry +
                        " requires credentials (builder.source.auth) for " + ref_.repository,
                    "builder.source.auth");
}

error registry_client::status_error(const response& r, const std::string& object) const {
  if (r.status == 401 || r.status == 403) return credentials_error();
  if (r.status == 404)
    return make_error(
        errc::unavailable,
        object == "manifest"
            ? "image " + what_ + " not found on registry " + ref_.registry
            : object + " of image " + what_ + " not found on registry " + ref_.registry,
        "builder.source.image");
  auto msg = "registry " + ref_.registry + " answered HTTP " + std::to_string(r.status) +
             " for the " + object + " of " + what_;
  if (r.status == 429) msg += " (too many requests: try again later)";
  if (auto detail = registry_message(r.error_body); !detail.empty()) msg += ": " + detail;
  return make_error(errc::unavailable, msg, "builder.source.image");
}

error registry_client::transfer_error(int curl_code, const std::string& url) const {
  auto code = static_cast<CURLcode>(curl_code);
  std::string detail = error_buffer_[0] ? error_buffer_ : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return make_error(errc::unavailable,
                        "cannot reach registry " + ref_.registry + " for " + what_ + ": " + detail);
    case CURLE_OPERATION_TIMEDOUT:
      return make_error(
          errc::unavailable,
          "registry " + ref_.registry + " did not answer in time for " + what_ + ": " + detail);
    default:
      // The URL has no credentials in it (they only ever travel in headers).
      return make_error(errc::unavailable, "pulling " + what_ + " from registry " + ref_.registry +
                                               " failed (" + url.substr(0, 200) + "): " + detail);
  }
}

result<fetched_manifest> registry_client::manifest(const std::string& reference) {
  transfer t;
  t.max_body = max_manifest_bytes;
  auto url = base_url_ + "/v2/" + ref_.repository + "/manifests/" + reference;
  auto accept = std::string(media_type::oci_manifest) + ", " + media_type::oci_index + ", " +
                media_type::docker_manifest + ", " + media_type::docker_list;
  auto r = get(url, accept, t);
  if (!r) return r.error();
  if (r->status != 200) return status_error(*r, "manifest");
  fetched_manifest m{"sha256:" + sha256_hex(t.body), r->content_type, std::move(t.body)};
  auto expected = reference.starts_with("sha256:") ? reference : r->docker_content_digest;
  if (!expected.empty() && expected != m.digest)
    return make_error(errc::unavailable,
                      "digest mismatch for the manifest " + reference + " of " + what_ +
                          ": expected " + expected.substr(0, 80) + ", got " + m.digest,
                      "builder.source.image");
  return m;
}

result<std::string> registry_client::blob_text(const oci_descriptor& blob) {
  transfer t;
  t.max_body = max_config_bytes;
  auto r = get(base_url_ + "/v2/" + ref_.repository + "/blobs/" + blob.digest, "*/*", t);
  if (!r) return r.error();
  if (r->status != 200) return status_error(*r, "blob " + blob.digest);
  auto got = "sha256:" + sha256_hex(t.body);
  if (got != blob.digest)
    return make_error(errc::unavailable,
                      "digest mismatch for blob " + blob.digest + " of " + what_ + ": got " + got,
                      "builder.source.image");
  return std::move(t.body);
}

result<bool> registry_client::blob_file(const oci_descriptor& blob, const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::internal, "cannot create " + path + ": " + std::strerror(errno));
  sha256 hash;
  transfer t;
  t.fd = fd;
  t.hash = &hash;
  t.expected_size = blob.size;
  auto r = get(base_url_ + "/v2/" + ref_.repository + "/blobs/" + blob.digest, "*/*", t);
  bool closed = ::close(fd) == 0;
  if (!r) return r.error();
  if (r->status != 200) return status_error(*r, "blob " + blob.digest);
  auto got = "sha256:" + hash.hex_digest();
  if (got != blob.digest || t.received != blob.size)
    return make_error(errc::unavailable,
                      "digest mismatch for blob " + blob.digest + " of " + what_ + ": got " + got +
                          " (" + std::to_string(t.received) + " of " + std::to_string(blob.size) +
                          " bytes)",
                      "builder.source.image");
  if (!closed) return make_error(errc::internal, "cannot store a blob of " + what_);
  return true;
}

}  // namespace nullspace::runtime
