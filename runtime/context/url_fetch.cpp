#include "runtime/context/url_fetch.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "storage/common/sha256.hpp"

namespace nullspace::runtime {
namespace {

constexpr long connect_timeout_s = 10;
constexpr long stall_timeout_s = 30;  // no byte for this long ends the transfer

struct sink {
  int fd = -1;
  sha256 hash;
  uint64_t bytes = 0, max_bytes = 0;
  bool write_failed = false, too_large = false;

  static size_t on_data(char* p, size_t size, size_t n, void* self) {
    auto* s = static_cast<sink*>(self);
    size_t total = size * n, done = 0;
    if (s->bytes + total > s->max_bytes) {
      s->too_large = true;
      return 0;  // aborts the transfer
    }
    while (done < total) {
      auto w = ::write(s->fd, p + done, total - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        s->write_failed = true;
        return 0;  // aborts the transfer
      }
      done += static_cast<size_t>(w);
    }
    s->hash.update(std::string_view(p, total));
    s->bytes += total;
    return total;
  }
};

struct curl_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

result<fetched_file> fetch_url(const std::string& url, const std::string& path,
                               const std::string& checksum, uint64_t max_bytes) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  auto shown = url_for_messages(url);
  if (!curl_ready) return make_error(errc::internal, "libcurl could not be initialized");
  std::unique_ptr<CURL, curl_deleter> c(curl_easy_init());
  if (!c) return make_error(errc::internal, "libcurl could not allocate a transfer");
  sink out;
  out.max_bytes = max_bytes;
  out.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out.fd < 0) return make_error(errc::internal, "cannot create the download of " + shown);
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, stall_timeout_s);
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "nullspace");
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &sink::on_data);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L);
  // A Content-Length over the limit is refused before any byte is written.
  curl_easy_setopt(c.get(), CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes));
  auto code = curl_easy_perform(c.get());
  ::close(out.fd);
  auto fail = [&](errc e, std::string message) -> result<fetched_file> {
    ::unlink(path.c_str());
    return make_error(e, std::move(message));
  };
  if (out.write_failed) return fail(errc::internal, "cannot write the download of " + shown);
  if (out.too_large || code == CURLE_FILESIZE_EXCEEDED)
    return fail(errc::invalid_argument, "ADD " + shown + ": the download is larger than " +
                                            std::to_string(max_bytes) +
                                            " bytes, this server's limit (nullspaced "
                                            "--max-download-mb)");
  if (code != CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_HTTP_RETURNED_ERROR)
      return fail(errc::unavailable,
                  "ADD " + shown + ": the server answered HTTP " + std::to_string(status));
    // libcurl's words may repeat the URL: say it our way.
    return fail(errc::unavailable,
                "ADD " + shown + ": the download failed (" + curl_easy_strerror(code) + ")");
  }
  fetched_file f{"sha256:" + out.hash.hex_digest(), out.bytes};
  if (!checksum.empty() && checksum != f.digest)
    return fail(errc::invalid_argument, "ADD " + shown + ": checksum mismatch: --checksum=" +
                                            checksum + " but the download is " + f.digest);
  return f;
}

}  // namespace nullspace::runtime
