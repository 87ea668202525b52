// An HTTP/1.1 server on a libuv loop thread: keep-alive, pipelining, bodies with
// Content-Length or chunked encoding, streamed (chunked) responses, and limits
// that are answered with a status and a JSON error, never a crash:
//   request target bytes → 414, header bytes or count → 431, body bytes (and
//   chunk framing) → 413, connections → 503, slow headers / slow body → 408
//   and close, idle keep-alive → close, a pipelining client that does not read
//   its answers → paused, then closed. Framing that could be read two ways
//   (two Hosts or Authorizations, obs-fold, HTTP/1.1 without Host) is a 400.
// Requests are parsed by Debian's http-parser. Everything here runs on the loop
// thread; other threads reach it only through bridge().post().
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "api/http_message.hpp"
#include "api/loop_bridge.hpp"
#include "nullspace/error.hpp"
#include "nullspace/ids.hpp"

namespace nullspace::api {

struct server_limits {
  size_t max_header_bytes = 16 * 1024;     // request line + headers
  size_t max_header_count = 100;           // header lines (431 beyond)
  size_t max_chunk_framing_bytes = 16384;  // chunk sizes and extensions of one body
  size_t max_body_bytes = 4u << 20;        // JSON request bodies
  size_t max_connections = 10000;          // beyond: 503 and close
  uint64_t header_timeout_ms = 10'000;     // first byte → end of headers
  uint64_t body_timeout_ms = 120'000;      // end of headers → end of body
  uint64_t idle_timeout_ms = 60'000;       // keep-alive between requests
  // Read ahead while a request is handled; also the answers queued for a
  // client that pipelines without reading, beyond which it is served no more
  // until it reads (and closed after idle_timeout_ms if it never does).
  size_t max_pipelined_bytes = 64 * 1024;
  size_t stream_buffer_bytes = 1u << 20;  // per streaming client: beyond → disconnect
  uint64_t shutdown_grace_ms = 5'000;     // in-flight requests at stop()
};

class connection;
class http_server;

// One request and its response. Handlers get a shared_ptr and may answer later
// (after an engine call); every member is for the loop thread only.
class exchange {
 public:
  const http_request& request() const { return req_; }
  http_request& request() { return req_; }

  // Filled in by the application before its handler runs.
  tenant_id tenant;
  bool authenticated = false;       // a key named `tenant` (always, off public routes)
  std::string route = "unmatched";  // the route pattern, for metrics and logs
  std::vector<std::string> params;  // values of the pattern's {placeholders}
  // An SSE stream that log_streams does not own (a streamed command, a machine
  // log): it gets the same `: ping` comments as build logs.
  bool sse_heartbeat = false;

  bool responded() const { return responded_; }
  // False once the client went away (or the server is stopping it).
  bool connected() const { return conn_ != nullptr; }

  void respond(http_response r);  // once; a no-op if the client is gone

  // Streaming: a chunked 200-ish response written piece by piece.
  void begin_stream(int status, std::string content_type, header_list extra = {});
  // `bytes` must stay valid while `owner` lives: shared buffers are written to
  // many clients without copies.
  void write(std::shared_ptr<const void> owner, std::string_view bytes);
  void write(std::string bytes);
  void end_stream();  // final chunk; the connection may then serve the next request
  // Bytes accepted by write() that the kernel has not taken yet.
  size_t queued_bytes() const;
  // Closes the connection without a final chunk (a client that reads too slowly).
  void abort();

  // Pass-through (the port proxy): the handler writes a whole HTTP response
  // (status line, headers, body) as bytes it got from elsewhere, unframed.
  // The connection is not reused: end_raw() closes it once the bytes are out.
  void begin_raw(int status_for_metrics);
  void write_raw(std::string bytes);
  void end_raw();

  // Called after each completed socket write (to pace a catch-up) and once when
  // the connection goes away. Both on the loop thread.
  std::function<void()> on_writable;
  std::function<void()> on_closed;

  http_server& server() { return *server_; }
  uint64_t start_ns() const { return start_ns_; }

 private:
  friend class connection;
  friend class http_server;
  http_request req_;
  connection* conn_ = nullptr;
  http_server* server_ = nullptr;
  bool responded_ = false;
  bool streaming_ = false;
  bool raw_ = false;
  uint64_t start_ns_ = 0;
};
using exchange_ptr = std::shared_ptr<exchange>;

// What the application plugs in.
struct server_handlers {
  // Body limit for a request, decided when its headers are complete.
  std::function<size_t(const http_request&)> body_limit;
  // Handles a complete request; must eventually respond() or begin_stream().
  std::function<void(exchange_ptr)> handle;
  // After a response head was written (metrics, access log).
  std::function<void(const exchange&, int status)> responded;
  // Connections refused / timed out / malformed, for metrics.
  std::function<void(int status, const char* why)> rejected;
};

class http_server {
 public:
  http_server(server_limits limits, server_handlers handlers);
  ~http_server();  // stop()s
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds host:port (port 0 picks one) and starts the loop thread. Returns the
  // bound port. `on_loop_start` runs first on the loop thread (timers etc.).
  result<uint16_t> start(const std::string& host, uint16_t port,
                         std::function<void(http_server&)> on_loop_start = {});

  // Any thread. Stops accepting, ends streams with their final chunk, lets
  // in-flight requests finish (at most shutdown_grace_ms), closes everything
  // and joins the loop thread. `before_close` runs on the loop thread first.
  void stop(std::function<void()> before_close = {});

  loop_bridge& bridge() { return *bridge_; }
  uv_loop_t* loop() { return &loop_; }
  const server_limits& limits() const { return limits_; }
  size_t connections() const { return connections_.load(); }
  // Loop thread: answer bytes written and not yet taken by the kernel, over
  // every connection (what slow readers make the server hold).
  size_t queued_bytes() const;
  bool stopping() const { return stopping_; }

  // Loop thread: every live streaming exchange (heartbeats, shutdown).
  void for_each_stream(const std::function<void(exchange&)>& f);

 private:
  friend class connection;
  friend class exchange;
  void on_connection(int status);
  void begin_shutdown();
  void remove(connection* c);
  void maybe_finish_shutdown();

  server_limits limits_;
  server_handlers handlers_;
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_timer_t grace_timer_{};
  std::unique_ptr<loop_bridge> bridge_;
  std::thread thread_;
  std::vector<connection*> conns_;  // loop thread only
  std::atomic<size_t> connections_{0};
  bool started_ = false;
  bool stopping_ = false;  // loop thread
  bool stopped_ = false;   // caller thread
  bool listener_open_ = false;
  bool grace_open_ = false;
  std::function<void()> before_close_;
};

}  // namespace nullspace::api
