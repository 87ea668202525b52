// A small blocking HTTP/1.1 client for driving the real server on a loopback
// port from tests: raw bytes for malformed and pipelined requests, exact
// response framing, and incremental reads of SSE and NDJSON streams.
//
// Every wait polls with a 60 s deadline and then throws std::runtime_error,
// which fails the current test. That is a safety net against hangs, not a
// timing assertion: nothing healthy on loopback comes near it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nullspace::test {

using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  int status = 0;  // 0 if the connection closed before a complete head
  std::string reason;
  http_headers headers;                             // names lower-cased, in order
  std::string body;                                 // de-chunked
  std::string header(std::string_view name) const;  // first value or ""
};

struct sse_event {
  std::string id;     // "" if none
  std::string event;  // "" if none (means "message")
  std::string data;   // data lines joined with "\n"
};

class http_connection {
 public:
  // Connects to 127.0.0.1:port; rcvbuf_bytes > 0 sets SO_RCVBUF before
  // connecting, so the window the server sees is already the small one.
  explicit http_connection(uint16_t port, int rcvbuf_bytes = 0);
  ~http_connection();  // closes
  http_connection(http_connection&&) noexcept = default;
  http_connection& operator=(http_connection&&) noexcept = default;
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  bool connected() const;

  // Sends raw bytes (malformed requests, pipelining). false if the peer
  // closed; best effort, as the first send after a close still succeeds.
  bool send_raw(std::string_view bytes);
  // Sends one request, adding Host and, if the body is non-empty or the
  // method is POST/PUT/PATCH, Content-Length, unless `headers` carry their
  // own Host, Content-Length or Transfer-Encoding.
  bool send_request(std::string_view method, std::string_view target, std::string_view body = {},
                    const http_headers& headers = {});

  // Reads exactly one response: head, then a body delimited by
  // Content-Length, chunked encoding or connection close. A response to a
  // HEAD sent with send_request, or a 1xx/204/304, has no body. A HEAD sent
  // with send_raw is not tracked: read its response with read_head().
  // Bytes of a following pipelined response stay buffered.
  http_response read_response();
  // For streaming responses: the head only (any unread rest of the previous
  // body is skipped first); pull the body with next_event, next_line or
  // read_body.
  http_response read_head();
  // The rest of the body begun by read_head(), to its end.
  std::string read_body();
  // Next event of a text/event-stream body, chunked or close-delimited.
  // Comment lines (": ping") are counted in comments_seen() and skipped.
  // nullopt at the end of the body (final 0-chunk or closed connection); a
  // half-received event there is dropped, as browsers do.
  std::optional<sse_event> next_event();
  // Reads the body up to the next SSE comment line (": ping"); false at the end
  // of the body. Event lines read meanwhile are skipped: use it while no event
  // is due.
  bool next_comment();
  // Next line of an NDJSON body without its "\n"; nullopt at the end.
  std::optional<std::string> next_line();
  size_t comments_seen() const { return comments_; }
  // Whether the last body that ended had its proper end (the final 0-chunk,
  // or all of its Content-Length) rather than a connection closed early, and
  // whether next_event() dropped a half-received event at that end.
  bool body_ended_cleanly() const { return clean_end_; }
  bool dropped_torn_event() const { return torn_event_; }

  // Waits until the server closes the connection (a read returns 0 or
  // ECONNRESET) and returns true; fails the test after 60 s instead. Bytes
  // that arrive meanwhile stay buffered for read_response(). To check that
  // a connection stays open, send another request on it.
  bool peer_closed();
  // True once a read has seen the server's close: after next_event() returned
  // nullopt, it tells a stream that was cut off from one that ended with its
  // final chunk on a kept-alive connection.
  bool closed_by_peer() const { return eof_; }
  void shutdown_write();  // half-close
  void close();
  int fd() const { return sock_.fd; }

 private:
  // Owns the socket; a moved-from one holds -1, so only one owner closes.
  struct socket_fd {
    int fd = -1;
    socket_fd() = default;
    socket_fd(socket_fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
    socket_fd& operator=(socket_fd&& other) noexcept;
    ~socket_fd() { reset(); }
    void reset();
  };

  // Bytes not yet consumed. Consuming advances an offset, so taking a large
  // buffered stream apart line by line stays linear.
  class byte_queue {
   public:
    bool empty() const { return pos_ == bytes_.size(); }
    size_t size() const { return bytes_.size() - pos_; }
    void append(std::string_view bytes);
    std::string take(size_t n);
    std::optional<std::string> take_line();  // up to "\n", without it
    void clear();

   private:
    std::string bytes_;
    size_t pos_ = 0;
  };

  enum class body_framing { none, length, chunked, until_close };

  bool fill(std::string_view waiting_for);
  std::optional<std::string> read_line(std::string_view waiting_for);
  std::optional<std::string> next_body_piece();
  std::optional<std::string> next_body_line();
  void skip_rest_of_body();

  socket_fd sock_;
  uint16_t port_ = 0;
  bool eof_ = false;
  byte_queue in_;                    // received, not yet parsed
  std::deque<std::string> methods_;  // of send_request()s not yet answered
  body_framing framing_ = body_framing::none;
  uint64_t remaining_ = 0;  // of the Content-Length body or the current chunk
  bool chunk_crlf_due_ = false;
  bool clean_end_ = false, torn_event_ = false;
  byte_queue body_;  // body bytes pulled by next_event / next_line, not yet parsed
  size_t comments_ = 0;
};

// One-shot helpers: a fresh connection, one request, one response.
http_response http_get(uint16_t port, std::string_view target, const http_headers& headers = {});
http_response http_post(uint16_t port, std::string_view target, std::string_view body,
                        const http_headers& headers = {});

}  // namespace nullspace::test
