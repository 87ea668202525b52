// A blocking HTTP/1.1 client over libcurl, one connection kept alive across
// calls: whole requests (JSON, tar uploads with progress) and streamed
// responses handed to a callback as they arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::cli {

struct http_request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent for POST/PUT/PATCH/DELETE when non-empty
  // Called about once a second while the transfer waits, and as bytes go up.
  std::function<void(uint64_t sent, uint64_t total)> on_progress;
  // Seconds without a byte after which the exchange counts as stalled. 0: no
  // limit, for answers that wait on something slow (a command in a machine);
  // TCP keepalive still notices a peer that is gone.
  long stall_timeout_s = 60;
};

struct http_response {
  long status = 0;  // 0: no response (see `transport_error`)
  std::string content_type;
  std::string body;  // for a streamed 2xx: empty (the bytes went to the callback)
  // Why the exchange did not complete ("" if it did): the connection could
  // not be made, dropped, or stalled. A streamed body may have been cut.
  std::string transport_error;
  bool connected = false;  // a response head was received
};

class http_client {
 public:
  http_client();
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  http_response send(const http_request& req);

  // As send, but a 2xx body goes to `on_data` chunk by chunk instead of into
  // the response; `on_data` returns false to stop reading (not an error).
  // Other statuses collect their body into the response as usual.
  http_response stream(const http_request& req, std::function<bool(std::string_view)> on_data);

 private:
  http_response perform(const http_request& req, std::function<bool(std::string_view)>* on_data);
  void* curl_;  // CURL*
};

}  // namespace nullspace::cli
