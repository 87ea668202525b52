// Incremental HTTP/1.1 request parsing with Debian's http-parser: raw bytes in,
// one complete http_request at a time out, or the status and message that
// refuse the request. No sockets and no timers: the server feeds it what it
// reads, and the fuzzer (tests/fuzz/fuzz_http.cpp) feeds it raw bytes, so both
// run the same code.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "api/http_message.hpp"
#include "nullspace/error.hpp"

namespace nullspace::api {

// Why a request was refused: the response's status and error, and a short
// reason for metrics ("header_limit", "header_count", "target_limit",
// "duplicate_header", "missing_host", "obs_fold", "bad_target", "body_limit",
// "chunk_framing", "header_overflow", "malformed").
// Refused: a target over max_header_bytes (414); request line + headers over
// it, framing counted, or more than max_header_count headers (431); two Host,
// Authorization or Content-Type headers, HTTP/1.1 without Host, obs-fold
// (400: framing two readers could take differently, RFC 9112); a body over its
// limit or chunk sizes and extensions over max_chunk_framing_bytes (413).
struct request_refusal {
  int status = 400;
  errc code = errc::invalid_argument;
  std::string message;
  const char* why = "malformed";
};

struct request_parser_hooks {
  // The first byte of a request arrived (the server arms its header timer).
  std::function<void()> began;
  // Headers complete and the target valid: the body limit of this request.
  // Unset: `max_body_bytes`.
  std::function<size_t(const http_request&)> body_limit;
  // Headers accepted, before the body (the server answers Expect: 100-continue
  // and arms its body timer).
  std::function<void(const http_request&)> headers_done;
};

struct request_limits {
  size_t max_header_bytes = 16 * 1024;     // request line + headers
  size_t max_header_count = 100;           // header lines
  size_t max_chunk_framing_bytes = 16384;  // chunk sizes and extensions of one body
  size_t max_body_bytes = 4u << 20;        // unless hooks.body_limit says otherwise
};

class http_request_parser {
 public:
  enum class outcome { need_more, request, refused };

  explicit http_request_parser(request_limits limits, request_parser_hooks hooks = {});
  http_request_parser(const http_request_parser&) = delete;  // http-parser points at us
  http_request_parser& operator=(const http_request_parser&) = delete;

  // Parses from the front of `input`, erasing what it consumed, and stops after
  // one complete request: pipelined bytes stay in `input` for the next call.
  // After `refused` the connection cannot be parsed further.
  outcome feed(std::string& input);
  // The complete request (after outcome::request); parsing may then go on.
  http_request take();
  const request_refusal& refusal() const { return refusal_; }
  // Between a request's first byte and its end.
  bool in_message() const { return in_message_; }

 private:
  friend struct parser_callbacks;
  int on_message_begin();
  int count_header(size_t n);
  int count_target(size_t n);
  int refuse_obs_fold(const char* at);
  int commit_header();
  int on_headers_complete();
  int on_body(const char* at, size_t len);
  int on_message_complete();
  int refuse(int status, errc code, std::string message, const char* why);

  request_limits limits_;
  request_parser_hooks hooks_;
  std::string_view input_;  // what the current feed() parses (obs-fold looks back)
  // The bytes consumed by earlier feeds end in a line break and then only
  // spaces or tabs: the look-back goes on there when a value starts a feed.
  bool consumed_ends_in_fold_ = false;
  http_parser parser_{};
  http_request req_;
  std::string field_, value_;
  bool in_value_ = false;
  size_t header_bytes_ = 0;
  size_t header_count_ = 0;
  size_t body_limit_ = 0;
  size_t message_wire_bytes_ = 0;  // of the request being parsed, framing included
  size_t chunks_ = 0;
  bool in_body_ = false;  // the request's headers are complete
  bool in_message_ = false;
  bool message_ready_ = false;
  bool refused_ = false;
  request_refusal refusal_;
};

// Splits a request target into the decoded path, the raw path and the decoded
// query parameters of `r`. False for a target that is not an absolute path,
// has invalid %-escapes or decodes to a NUL.
bool split_target(http_request& r);

}  // namespace nullspace::api
