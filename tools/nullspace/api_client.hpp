// The nullspace HTTP API as the CLI uses it: base URL and API key, JSON
// calls whose errors become cli_errors with the right exit code, a tar
// upload with a progress bar, and SSE streams read event by event.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/nullspace/http_client.hpp"
#include "tools/nullspace/sse_parser.hpp"

namespace nullspace::cli {

inline constexpr std::string_view default_server = "http://127.0.0.1:7070";

struct server_options {
  std::string url{default_server};  // --server / NULLSPACE_API_URL / NULLSPACE_SERVER
  std::string api_key;              // --api-key / NULLSPACE_API_KEY; never printed
};

// `s` percent-encoded as one path segment or query value (only RFC 3986
// unreserved characters stay as they are: a ref's '/' becomes %2F).
std::string encode_component(std::string_view s);

class api_client {
 public:
  explicit api_client(server_options opts);

  // The body of a 2xx answer. Any other answer throws cli_error: 401 and an
  // unreachable server exit 3, everything else 1, with the server's message
  // (and the error's counts, e.g. a warm pool's, when it has some).
  std::string get(const std::string& path);
  std::string post(const std::string& path, const std::string& json);
  std::string put(const std::string& path, const std::string& json);
  std::string patch(const std::string& path, const std::string& json);
  std::string del(const std::string& path);
  // As get, post and del, for answers that wait on a machine (a start, a
  // command, a stop, a warm pool's refill): they may take any time with no
  // byte arriving.
  std::string get_waiting(const std::string& path);
  std::string post_waiting(const std::string& path, const std::string& json);
  std::string del_waiting(const std::string& path);
  // PUTs raw bytes (application/octet-stream).
  std::string put_bytes(const std::string& path, const std::string& bytes);
  // POSTs a tar archive (application/x-tar); a progress bar on stderr when it
  // is a terminal.
  std::string upload_tar(const std::string& path, const std::string& tar);

  enum class stream_end {
    stopped,  // on_event returned false
    closed,   // the server ended the body
    dropped,  // the connection failed or stalled (see `error`)
  };
  struct stream_outcome {
    stream_end how = stream_end::closed;
    std::string error;
  };
  // Sends a request with `Accept: text/event-stream` and hands each event to
  // `on_event`. A non-2xx answer throws as above; so does a server that
  // cannot be reached at all. `on_tick` runs about once a second meanwhile.
  // `stall_timeout_s` as in http_request: 0 for streams that may stay silent
  // (a machine's log and a streamed command get no `: ping`).
  stream_outcome events(const std::string& method, const std::string& path,
                        const std::string& json_body, const std::vector<std::string>& headers,
                        const std::function<bool(const sse_event&)>& on_event,
                        const std::function<void()>& on_tick = {}, long stall_timeout_s = 60);

  const std::string& server() const { return opts_.url; }

 private:
  http_request make(const std::string& method, const std::string& path) const;
  std::string expect_ok(const http_response& r);
  [[noreturn]] void fail(const http_response& r);
  server_options opts_;
  http_client http_;
};

}  // namespace nullspace::cli
